package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// BenchmarkAuthOverhead measures v2 produce throughput (8 concurrent
// clients, one record per request) through four doors in the same run,
// interleaved in batches so that machine noise hits them alike:
//
//	open       a gateway in open development mode (no security stack)
//	anonymous  the secured gateway, no credentials (anonymous may produce)
//	basic      the secured gateway, HTTP Basic (bcrypt cache)
//	jwt        the secured gateway, a Bearer token from POST /login
//	oidc       the secured gateway, a Bearer access token (RS256) of an
//	           OpenID provider on loopback (auth.oidc)
//	apikey     the secured gateway, X-API-Key with a key of customer1
//
// and reports each as a percentage of open's throughput (basic_%, jwt_%,
// oidc_%, apikey_%, anonymous_%). Run:
//
//	go test -run '^$' -bench AuthOverhead -benchtime 3000x ./internal/app/
//
// benchSecurityFiles writes the test users file without its request
// rate (a benchmark sends far more than 100 a second) and permissions,
// for gateways with security on.
func benchSecurityFiles(b *testing.B, permissions string) (users, perms string) {
	b.Helper()
	dir := b.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "users.yml"))
	if err != nil {
		b.Fatal(err)
	}
	users = filepath.Join(dir, "users.yml")
	perms = filepath.Join(dir, "permissions.yml")
	noLimits := strings.Replace(string(src), "  limits:\n    requests_per_second: 100\n    daily_bytes: 10Mi\n", "", 1)
	if err := os.WriteFile(users, []byte(noLimits), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(perms, []byte(permissions), 0o600); err != nil {
		b.Fatal(err)
	}
	return users, perms
}

func BenchmarkAuthOverhead(b *testing.B) {
	users, perms := benchSecurityFiles(b, "anonymous:\n  produce: [bench-anonymous]\ncustomer1:\n  produce: [bench-basic, bench-jwt, bench-apikey]\ncorp:sid1:\n  produce: [bench-oidc]\nadmin:\n  admin: true\n")
	open := testutil.StartGateway(b, nil)
	idp := testutil.StartOIDCProvider(b)
	sec := testutil.StartGateway(b, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
		c.Auth.OIDC = []config.OIDCIssuer{{Issuer: idp.Issuer, Audiences: []string{"sid1"}, Prefix: "corp:"}}
	})
	tok := login(b, sec.URL, "customer1")
	device := idp.DeviceToken(b)
	r := do(b, "POST", sec.URL+"/admin/apikeys", `{"user":"customer1"}`, "Content-Type", "application/json", "Authorization", basic("admin"))
	var created struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(r.body, &created); err != nil || created.Key == "" {
		b.Fatalf("creating an API key: %d %s", r.status, r.body)
	}
	key := created.Key

	doors := []*door{
		{name: "open", url: open.URL + "/topics/bench-open"},
		{name: "anonymous", url: sec.URL + "/topics/bench-anonymous"},
		{name: "basic", url: sec.URL + "/topics/bench-basic", header: http.Header{"Authorization": {seedAuth}}},
		{name: "jwt", url: sec.URL + "/topics/bench-jwt", header: http.Header{"Authorization": {"Bearer " + tok}}},
		{name: "oidc", url: sec.URL + "/topics/bench-oidc", header: http.Header{"Authorization": {"Bearer " + device}}},
		{name: "apikey", url: sec.URL + "/topics/bench-apikey", header: http.Header{"X-Api-Key": {key}}},
	}
	m := compareDoors(b, doors)
	if m == nil {
		return // the framework's probing run
	}
	fmt.Fprintf(os.Stderr, "auth overhead (median of %d rounds): open %.0f req/s; anonymous %.1f%%, basic %.1f%%, jwt %.1f%%, oidc %.1f%%, apikey %.1f%% of open\n",
		len(doors[0].ratios), doors[0].rate(), m[1], m[2], m[3], m[4], m[5])
}

// door is one way through a gateway that a produce benchmark compares
// with the others: v2 produce of one JSON record per request to url, with
// header.
type door struct {
	name, url string
	header    http.Header
	elapsed   time.Duration
	n         int
	ratios    []float64 // per round: the first door's batch time / this door's
}

func (d *door) rate() float64 { return float64(d.n) / d.elapsed.Seconds() }

// compareDoors sends b.N requests through each door from 8 concurrent
// clients, in small batches, every door once per round in a random order
// (a door run after another pays for what that one left behind, a batch
// export say: a fixed rotation would bias the ratios). Each round yields a
// ratio per door against the first, and the median of those is reported
// (<name>_% and <name>_req/s metrics), so that a burst of load from
// elsewhere on the machine skews one round, not the result. It returns
// the medians in percent by door, or nil for the framework's probing run.
func compareDoors(b *testing.B, doors []*door) []float64 {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	const workers = 8
	run := func(d *door, n int) {
		var wg sync.WaitGroup
		start := time.Now()
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					req, _ := http.NewRequest("POST", d.url, strings.NewReader(seedBody))
					req.Header = d.header.Clone()
					if req.Header == nil {
						req.Header = http.Header{}
					}
					req.Header.Set("Content-Type", mtJSONv2)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("%s: %d", d.name, resp.StatusCode)
						return
					}
				}
			})
		}
		wg.Wait()
		d.elapsed += time.Since(start)
		d.n += n
	}
	// Warm up: topics exist, connections open, credentials cached.
	for _, d := range doors {
		run(d, workers*4)
		d.elapsed, d.n = 0, 0
	}
	b.ResetTimer()
	const batch = 64
	rng := rand.New(rand.NewPCG(1, 2))
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		took := make([]time.Duration, len(doors))
		for _, j := range rng.Perm(len(doors)) {
			before := doors[j].elapsed
			run(doors[j], n)
			took[j] = doors[j].elapsed - before
		}
		for j, d := range doors {
			d.ratios = append(d.ratios, float64(took[0])/float64(took[j]))
		}
		done += n
	}
	b.StopTimer()
	medians := make([]float64, len(doors))
	for i, d := range doors {
		b.ReportMetric(d.rate(), d.name+"_req/s")
		medians[i] = 100 * median(d.ratios)
		if i > 0 {
			b.ReportMetric(medians[i], d.name+"_%")
		}
	}
	if b.N < 100 {
		return nil
	}
	return medians
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// BenchmarkLoginUnderFlood measures what a flood of wrong passwords does
// to a legitimate first-time login (finding 12 of issue 16): POST /login
// for users never seen before (no cached check, no recent success), one
// at a time from fresh addresses, first on a quiet gateway and then while
// 32 goroutines post wrong passwords (through a trusted proxy's
// X-Forwarded-For), for known users and unknown names alike, bcrypt cost
// 10, in two shapes:
//
//	reused     the flood comes from 200 addresses, each of which has
//	           failed before the logins are measured (a steady flood)
//	fresh      every attempt comes from a new address of the attacker's
//	           198.18.0.0/15 (kgate suspects a /24 once it failed)
//	scattered  every attempt comes from a random address anywhere (a
//	           botnet: nothing tells an attempt from a first-time login)
//
// It reports the medians (quiet_ms, flood_ms), the worst flooded login
// (flood_max_ms), their ratio (flood_x), the flooded logins refused with
// 429 (refused) and what the flood got (flood_401/s, flood_429/s). Run:
//
//	go test -run '^$' -bench LoginUnderFlood -benchtime 10x ./internal/app/
func BenchmarkLoginUnderFlood(b *testing.B) {
	b.Run("reused", func(b *testing.B) { benchLoginUnderFlood(b, 200) })
	b.Run("fresh", func(b *testing.B) { benchLoginUnderFlood(b, 0) })
	b.Run("scattered", func(b *testing.B) { benchLoginUnderFlood(b, -1) })
}

// benchLoginUnderFlood floods from addresses reused ones, from a new
// address every attempt when addresses is 0, from a random one when -1.
func benchLoginUnderFlood(b *testing.B, addresses int) {
	const (
		flooders = 32
		victims  = 8
		password = "first-time-password"
	)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), 10)
	if err != nil {
		b.Fatal(err)
	}
	n := b.N
	var users strings.Builder
	for i := range 2 * n {
		fmt.Fprintf(&users, "user%d:\n  password_hash: %q\n", i, hash)
	}
	for i := range victims {
		fmt.Fprintf(&users, "victim%d:\n  password_hash: %q\n", i, hash)
	}
	dir := b.TempDir()
	usersFile, permsFile := filepath.Join(dir, "users.yml"), filepath.Join(dir, "permissions.yml")
	if err := os.WriteFile(usersFile, []byte(users.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(permsFile, []byte("\"*\":\n  produce: [\"{user}\"]\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	g := testutil.StartGateway(b, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = usersFile, permsFile
		c.Auth.TrustedProxies = []string{"127.0.0.1/32"}
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * flooders}}
	post := func(user, pw, from string) (int, time.Duration) {
		req, _ := http.NewRequest("POST", g.URL+"/login", strings.NewReader("username="+user+"&password="+pw))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0, 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	var refused int
	logins := func(first int) []float64 {
		var ms []float64
		for i := first; i < first+n; i++ {
			code, d := post(fmt.Sprintf("user%d", i), password, fmt.Sprintf("203.0.%d.%d", 113+i/250, 1+i%250))
			switch code {
			case http.StatusOK:
			case http.StatusTooManyRequests:
				refused++
			default:
				b.Errorf("first-time login of user%d: %d", i, code)
			}
			ms = append(ms, float64(d)/float64(time.Millisecond))
		}
		return ms
	}
	b.ResetTimer()
	quiet := logins(0)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var got401, got429, other atomic.Int64
	var next atomic.Int64
	for f := range flooders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := f; ; i += flooders {
				select {
				case <-stop:
					return
				default:
				}
				user := fmt.Sprintf("victim%d", i%victims)
				if i%2 == 1 {
					user = fmt.Sprintf("nobody%d", i)
				}
				a := int(next.Add(1))
				from := ""
				switch {
				case addresses < 0:
					from = fmt.Sprintf("%d.%d.%d.%d", 1+rand.IntN(222), rand.IntN(256), rand.IntN(256), 1+rand.IntN(254))
				case addresses > 0:
					a %= addresses
					fallthrough
				default:
					from = fmt.Sprintf("198.%d.%d.%d", 18+a/65536%2, a/256%256, a%256)
				}
				code, _ := post(user, "wrong", from)
				switch code {
				case http.StatusUnauthorized:
					got401.Add(1)
				case http.StatusTooManyRequests:
					got429.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	// Let the flood fill the queue and, when it reuses addresses, fail
	// from every one of them first.
	floodStart := time.Now()
	for time.Since(floodStart) < 2*time.Minute && (time.Since(floodStart) < time.Second || got401.Load() < int64(addresses)) {
		time.Sleep(50 * time.Millisecond)
	}
	measured := time.Now()
	before401, before429 := got401.Load(), got429.Load()
	flooded := logins(n)
	secs := time.Since(measured).Seconds()
	r401, r429 := float64(got401.Load()-before401)/secs, float64(got429.Load()-before429)/secs
	close(stop)
	wg.Wait()
	b.StopTimer()
	if other.Load() > 0 {
		b.Errorf("%d flood answers were neither 401 nor 429", other.Load())
	}
	q, f := median(quiet), median(flooded)
	worst := 0.0
	for _, v := range flooded {
		worst = max(worst, v)
	}
	b.ReportMetric(q, "quiet_ms")
	b.ReportMetric(f, "flood_ms")
	b.ReportMetric(worst, "flood_max_ms")
	b.ReportMetric(f/q, "flood_x")
	b.ReportMetric(float64(refused), "refused")
	b.ReportMetric(r401, "flood_401/s")
	b.ReportMetric(r429, "flood_429/s")
	if n < 5 {
		return // the framework's probing run
	}
	shape := fmt.Sprintf("%d reused addresses", addresses)
	switch {
	case addresses == 0:
		shape = "a new address of one /15 each attempt"
	case addresses < 0:
		shape = "a random address each attempt"
	}
	fmt.Fprintf(os.Stderr, "first-time login (bcrypt cost 10, %d flooders from %s): quiet %.0f ms, flooded %.0f ms (worst %.0f ms, %d of %d refused), %.1fx; flood answered 401 %.0f/s, 429 %.0f/s\n",
		flooders, shape, q, f, worst, refused, n, f/q, r401, r429)
}
