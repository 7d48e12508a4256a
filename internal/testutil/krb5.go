package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// KDC is a real MIT Kerberos KDC (Debian's krb5-kdc, krb5-admin-server
// and krb5-user) with its own realm, database and configuration in a
// temporary directory, serving UDP and TCP on one loopback port. Nothing
// of the machine's own Kerberos setup (/etc/krb5.conf, /etc/krb5kdc) is
// read or written. A KDC is safe for concurrent use by one test's
// goroutines; it stops when the test ends.
type KDC struct {
	t     testing.TB
	dir   string
	realm string
	port  int
	// env points MIT's tools at this KDC's files.
	env []string

	mu sync.Mutex
	// trusted are the realms this one shares cross-realm keys with;
	// their KDCs are listed in this one's krb5.conf.
	trusted []*KDC
}

// KDCOpt configures StartKDC.
type KDCOpt func(*kdcOpts)

type kdcOpts struct{ realm string }

// KDCRealm names the KDC's realm (default KGATE.TEST).
func KDCRealm(name string) KDCOpt { return func(o *kdcOpts) { o.realm = name } }

// The MIT tools the harness runs. kinit and kvno come from krb5-user,
// kadmin.local from krb5-admin-server, krb5kdc and kdb5_util from krb5-kdc.
var kdcTools = []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit"}

// RequireKDC checks that the MIT Kerberos programs StartKDC runs are
// installed (skipping or failing per Missing otherwise).
func RequireKDC(t testing.TB) {
	t.Helper()
	for _, tool := range kdcTools {
		if _, err := exec.LookPath(tool); err != nil {
			// krb5kdc, kdb5_util and kadmin.local live in /usr/sbin,
			// which a non-root PATH may lack.
			if _, err := os.Stat(filepath.Join("/usr/sbin", tool)); err == nil {
				continue
			}
			Missing(t, tool+" is not installed (apt-get install krb5-kdc krb5-admin-server krb5-user)")
		}
	}
}

func kdcTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return filepath.Join("/usr/sbin", name)
}

// StartKDC creates a realm (KGATE.TEST unless KDCRealm says otherwise)
// with a fresh database and runs krb5kdc in the foreground on a free
// loopback port until the test ends.
func StartKDC(t testing.TB, opts ...KDCOpt) *KDC {
	t.Helper()
	RequireKDC(t)
	o := kdcOpts{realm: "KGATE.TEST"}
	for _, opt := range opts {
		opt(&o)
	}
	k := &KDC{t: t, dir: t.TempDir(), realm: o.realm}
	k.env = append(os.Environ(),
		"KRB5_CONFIG="+k.Config(),
		"KRB5_KDC_PROFILE="+filepath.Join(k.dir, "kdc.conf"),
		"KRB5CCNAME=FILE:"+filepath.Join(k.dir, "default.ccache"),
		"KRB5_TRACE=", // never the caller's trace file
	)
	// A port found free may be taken before krb5kdc binds it: try again
	// with another.
	var lastErr error
	for range 3 {
		port, err := freeLoopbackPort()
		if err != nil {
			t.Fatalf("finding a free port for the KDC: %v", err)
		}
		k.port = port
		k.writeConfig()
		if _, err := os.Stat(filepath.Join(k.dir, "principal")); err != nil {
			k.run(kdcTool("kdb5_util"), "create", "-s", "-r", k.realm, "-P", randomPassword())
		}
		if lastErr = k.startDaemon(); lastErr == nil {
			return k
		}
	}
	t.Fatalf("starting krb5kdc: %v", lastErr)
	return nil
}

// startDaemon runs krb5kdc -n and waits until its TCP port answers.
func (k *KDC) startDaemon() error {
	cmd := exec.Command(kdcTool("krb5kdc"), "-n", "-r", k.realm, "-P", filepath.Join(k.dir, "krb5kdc.pid"))
	cmd.Env = k.env
	cmd.Dir = k.dir
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(k.dir, "kdc.log"))
			return fmt.Errorf("krb5kdc exited (%v): %s%s", err, out.String(), log)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("krb5kdc did not listen on %s within 30s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	k.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return nil
}

// freeLoopbackPort returns a port free on 127.0.0.1 for both TCP and UDP.
func freeLoopbackPort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port free for both TCP and UDP")
}

func randomPassword() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Realm returns the KDC's realm, such as KGATE.TEST.
func (k *KDC) Realm() string { return k.realm }

// Addr returns the KDC's address, 127.0.0.1:port (UDP and TCP).
func (k *KDC) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port)) }

// Config returns the path of the krb5.conf that clients of this KDC use
// (KRB5_CONFIG for MIT's tools and librdkafka; gokrb5's config.Load).
func (k *KDC) Config() string { return filepath.Join(k.dir, "krb5.conf") }

// Env returns the environment for a client program of this KDC: the
// process's own with KRB5_CONFIG set to Config and KRB5CCNAME to ccache
// (empty: a cache of the KDC's directory).
func (k *KDC) Env(ccache string) []string {
	env := append([]string(nil), k.env...)
	if ccache != "" {
		env = append(env, "KRB5CCNAME=FILE:"+ccache)
	}
	return env
}

// writeConfig writes krb5.conf (clients: this realm and the trusted ones,
// no DNS, loopback addresses only) and kdc.conf (the database in the
// temporary directory, the port on loopback only).
func (k *KDC) writeConfig() {
	k.mu.Lock()
	defer k.mu.Unlock()
	var realms, capaths strings.Builder
	fmt.Fprintf(&realms, "  %s = {\n    kdc = %s\n    admin_server = %s\n  }\n", k.realm, k.Addr(), k.Addr())
	for _, o := range k.trusted {
		fmt.Fprintf(&realms, "  %s = {\n    kdc = %s\n  }\n", o.realm, o.Addr())
		fmt.Fprintf(&capaths, "  %s = {\n    %s = .\n  }\n  %s = {\n    %s = .\n  }\n", k.realm, o.realm, o.realm, k.realm)
	}
	krb5 := fmt.Sprintf(`[libdefaults]
  default_realm = %[1]s
  dns_lookup_realm = false
  dns_lookup_kdc = false
  dns_canonicalize_hostname = false
  rdns = false
  ticket_lifetime = 1h
  forwardable = false
  udp_preference_limit = 1
  default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
  default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
  permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96

[realms]
%[2]s
[domain_realm]
  localhost = %[1]s
  .localhost = %[1]s

[capaths]
%[3]s`, k.realm, realms.String(), capaths.String())
	kdc := fmt.Sprintf(`[kdcdefaults]
  kdc_listen = 127.0.0.1:%[3]d
  kdc_tcp_listen = 127.0.0.1:%[3]d

[realms]
  %[1]s = {
    database_name = %[2]s/principal
    key_stash_file = %[2]s/stash
    acl_file = %[2]s/kadm5.acl
    kdc_listen = 127.0.0.1:%[3]d
    kdc_tcp_listen = 127.0.0.1:%[3]d
    max_life = 10h
    max_renewable_life = 0
    master_key_type = aes256-cts-hmac-sha1-96
    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  }

[logging]
  kdc = FILE:%[2]s/kdc.log
  admin_server = FILE:%[2]s/kadmin.log
  default = FILE:%[2]s/krb5.log
`, k.realm, k.dir, k.port)
	for name, body := range map[string]string{"krb5.conf": krb5, "kdc.conf": kdc, "kadm5.acl": ""} {
		if err := os.WriteFile(filepath.Join(k.dir, name), []byte(body), 0o600); err != nil {
			k.t.Fatal(err)
		}
	}
}

// run runs one MIT tool with this KDC's environment and fails the test
// on an error, showing its output.
func (k *KDC) run(name string, args ...string) string {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = k.env
	cmd.Dir = k.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		k.t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// kadmin.local reports a failed query on its output but exits 0: a line
// "add_principal: ... while ..." or "kadmin.local: Principal x does not
// exist." (a command or program name and a colon) means it failed.
var kadminFailed = regexp.MustCompile(`(?m)^[a-z_.]+: `)

func (k *KDC) kadmin(query string) string {
	k.t.Helper()
	out := k.run(kdcTool("kadmin.local"), "-r", k.realm, "-q", query)
	if kadminFailed.MatchString(out) {
		k.t.Fatalf("kadmin.local -q %q: %s", query, out)
	}
	return out
}

// PrincipalOpt is an option of AddPrincipal.
type PrincipalOpt func(*[]string)

// MaxLife caps the lifetime of the principal's tickets (addprinc
// -maxlife); the KDC's own cap is 10h. A service principal's max life
// bounds its service tickets, a client's its TGT.
func MaxLife(d time.Duration) PrincipalOpt {
	return func(a *[]string) { *a = append(*a, "-maxlife", fmt.Sprintf("%d seconds", int(d.Seconds()))) }
}

// AddPrincipal creates name (without realm, such as alice or
// kafka/localhost) in the realm. An empty password gives it a random key,
// as services have.
func (k *KDC) AddPrincipal(name, password string, opts ...PrincipalOpt) {
	k.t.Helper()
	args := []string{"addprinc"}
	for _, o := range opts {
		o(&args)
	}
	if password == "" {
		args = append(args, "-randkey")
	} else {
		args = append(args, "-pw", password)
	}
	args = append(args, k.qualify(name))
	k.kadmin(strings.Join(quoteAll(args), " "))
}

// Keytab writes the principal's current keys (not new ones: ktadd
// -norandkey, so a password keeps working) to a new keytab file, mode
// 0600, and returns its path.
func (k *KDC) Keytab(principal string) string {
	k.t.Helper()
	path := filepath.Join(k.dir, "keytab-"+sanitize(principal)+"-"+randomPassword()[:8])
	k.kadmin(strings.Join(quoteAll([]string{"ktadd", "-k", path, "-norandkey", k.qualify(principal)}), " "))
	if err := os.Chmod(path, 0o600); err != nil {
		k.t.Fatal(err)
	}
	return path
}

// RotateKey gives the principal a new random key (a new kvno), as a
// service's key rotation does; keytabs written before hold only old keys.
func (k *KDC) RotateKey(principal string) {
	k.t.Helper()
	k.kadmin(strings.Join(quoteAll([]string{"cpw", "-randkey", "-keepold", k.qualify(principal)}), " "))
}

// Kinit logs principal in with its keytab (kinit -k -t) into a new
// credentials cache and returns the cache's path, for KRB5CCNAME (see
// Env). Extra arguments go to kinit, such as "-l", "1m" for a short
// ticket.
func (k *KDC) Kinit(principal, keytab string, args ...string) string {
	k.t.Helper()
	cc := filepath.Join(k.dir, "ccache-"+sanitize(principal)+"-"+randomPassword()[:8])
	all := append([]string{"-k", "-t", keytab, "-c", "FILE:" + cc}, args...)
	k.run(kdcTool("kinit"), append(all, k.qualify(principal))...)
	return cc
}

// Trust sets up cross-realm trust both ways between k and other (the
// same krbtgt/OTHER@THIS and krbtgt/THIS@OTHER keys in both databases),
// and lists each realm's KDC in the other's krb5.conf, so that a client
// of one realm can get tickets for services of the other.
func (k *KDC) Trust(other *KDC) {
	k.t.Helper()
	for _, pair := range [][2]*KDC{{k, other}, {other, k}} {
		pw := randomPassword()
		name := "krbtgt/" + pair[1].realm + "@" + pair[0].realm
		// Both databases hold the same principal with the same
		// password-derived keys (the salt is the principal's name).
		k.kadminOn(pair[0], name, pw)
		k.kadminOn(pair[1], name, pw)
	}
	k.mu.Lock()
	k.trusted = append(k.trusted, other)
	k.mu.Unlock()
	other.mu.Lock()
	other.trusted = append(other.trusted, k)
	other.mu.Unlock()
	k.writeConfig()
	other.writeConfig()
}

func (k *KDC) kadminOn(on *KDC, name, pw string) {
	k.t.Helper()
	on.kadmin(strings.Join(quoteAll([]string{"addprinc", "-pw", pw, name}), " "))
}

// qualify adds the realm to a principal name that has none.
func (k *KDC) qualify(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	return name + "@" + k.realm
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// quoteAll quotes each argument for kadmin.local's query parser, which
// splits on spaces and honours double quotes.
func quoteAll(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"") {
			a = `"` + strings.ReplaceAll(a, `"`, `\"`) + `"`
		}
		q[i] = a
	}
	return q
}
