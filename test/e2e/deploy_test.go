package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// manifest is deploy/serve/kubernetes.yaml, one map per document, by kind.
type manifest map[string]map[string]any

func loadManifest(t *testing.T, path string) manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := manifest{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		kind, _ := doc["kind"].(string)
		if _, dup := m[kind]; dup {
			t.Fatalf("%s: two documents of kind %s", path, kind)
		}
		m[kind] = doc
	}
	return m
}

// at walks a path of map keys and list indexes through decoded YAML;
// nil when something on the way is missing.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			mm, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = mm[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// TestServeManifest checks deploy/serve/kubernetes.yaml as a cluster
// operator would rely on it, then runs kgate serve with its ConfigMap's
// files, its Secret's (filled in: the manifest ships placeholders) and
// its container environment, fronting a real broker: the configuration
// validates with its public listeners, the probes answer without
// credentials, anonymous writes are refused, a user of the Secret's
// users file produces, and SIGTERM drains and exits within the pod's
// grace period minus its preStop.
func TestServeManifest(t *testing.T) {
	m := loadManifest(t, filepath.Join("..", "..", "deploy", "serve", "kubernetes.yaml"))
	for _, kind := range []string{"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} {
		if m[kind] == nil {
			t.Fatalf("no %s in the manifest", kind)
		}
	}
	dep := m["Deployment"]
	pod := at(dep, "spec", "template", "spec")
	c := at(pod, "containers", 0)
	labels, _ := at(dep, "spec", "template", "metadata", "labels").(map[string]any)
	matches := func(sel any) bool {
		s, _ := sel.(map[string]any)
		if len(s) == 0 {
			return false
		}
		for k, v := range s {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"Deployment selector matches its pods", matches(at(dep, "spec", "selector", "matchLabels"))},
		{"Service selects the pods", matches(at(m["Service"], "spec", "selector"))},
		{"PodDisruptionBudget selects the pods", matches(at(m["PodDisruptionBudget"], "spec", "selector", "matchLabels"))},
		{"HorizontalPodAutoscaler scales the Deployment", str(at(m["HorizontalPodAutoscaler"], "spec", "scaleTargetRef", "name")) == str(at(dep, "metadata", "name"))},
		{"HorizontalPodAutoscaler on CPU", str(at(m["HorizontalPodAutoscaler"], "spec", "metrics", 0, "resource", "name")) == "cpu"},
		{"CPU request (the autoscaler's utilisation needs one)", str(at(c, "resources", "requests", "cpu")) != ""},
		{"readiness on /readyz", str(at(c, "readinessProbe", "httpGet", "path")) == "/readyz"},
		{"liveness on /healthz", str(at(c, "livenessProbe", "httpGet", "path")) == "/healthz"},
		{"preStop drain pause", at(c, "lifecycle", "preStop", "sleep", "seconds") != nil},
		{"non-root", at(pod, "securityContext", "runAsNonRoot") == true},
		{"read-only root filesystem", at(c, "securityContext", "readOnlyRootFilesystem") == true},
		{"no privilege escalation", at(c, "securityContext", "allowPrivilegeEscalation") == false},
		{"all capabilities dropped", str(at(c, "securityContext", "capabilities", "drop", 0)) == "ALL"},
		{"rolling update keeps every replica until the new one is ready", str(at(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable")) == "0"},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("manifest: %s: no", ck.what)
		}
	}
	grace, _ := at(pod, "terminationGracePeriodSeconds").(int)
	preStop, _ := at(c, "lifecycle", "preStop", "sleep", "seconds").(int)

	// The files, where the volumes put them.
	mounts := map[string]string{} // volume name -> mount path
	for _, vm := range at(c, "volumeMounts").([]any) {
		mounts[str(at(vm, "name"))] = str(at(vm, "mountPath"))
	}
	root := t.TempDir()
	host := func(p string) string { return filepath.Join(root, p) }
	files := map[string]string{} // path in the container -> content
	for _, v := range at(pod, "volumes").([]any) {
		name := str(at(v, "name"))
		var data map[string]any
		switch {
		case at(v, "configMap") != nil:
			data, _ = at(m["ConfigMap"], "data").(map[string]any)
		case at(v, "secret") != nil:
			data, _ = at(m["Secret"], "stringData").(map[string]any)
		default:
			if err := os.MkdirAll(host(mounts[name]), 0o700); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if mounts[name] == "" {
			t.Fatalf("volume %s is not mounted", name)
		}
		for k, val := range data {
			files[mounts[name]+"/"+k] = str(val)
		}
	}
	cfgText := files["/etc/kgate/kgate.yaml"]
	if cfgText == "" {
		t.Fatal("no /etc/kgate/kgate.yaml from the ConfigMap")
	}
	// Every file the configuration names is mounted.
	for _, ref := range regexp.MustCompile(`/etc/kgate/[A-Za-z0-9_./-]+`).FindAllString(cfgText, -1) {
		if _, ok := files[ref]; !ok && !strings.Contains(commentedLines(cfgText), ref) {
			t.Errorf("kgate.yaml names %s, which no volume provides", ref)
		}
	}
	// The Secret ships placeholders: fill them as an operator would.
	hash, err := bcrypt.GenerateFromPassword([]byte("manifest-test-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	files["/etc/kgate/secrets/users.yml"] = fmt.Sprintf("customer1:\n  password_hash: %q\n", hash)
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	files["/etc/kgate/secrets/jwt.pem"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	for p, content := range files {
		content = strings.ReplaceAll(content, "/etc/kgate/", host("/etc/kgate")+"/")
		if err := os.MkdirAll(filepath.Dir(host(p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(host(p), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// The container's environment, as the kubelet resolves it.
	vars := map[string]string{}
	var env []string
	for _, e := range at(c, "env").([]any) {
		name, val := str(at(e, "name")), str(at(e, "value"))
		switch {
		case str(at(e, "valueFrom", "fieldRef", "fieldPath")) == "status.podIP":
			val = "127.0.0.1"
		case at(e, "valueFrom", "resourceFieldRef") != nil:
			val = "536870912"
		case at(e, "valueFrom") != nil:
			t.Fatalf("env %s: a source this test does not resolve", name)
		}
		val = os.Expand(strings.ReplaceAll(strings.ReplaceAll(val, "$(", "${"), ")", "}"), func(k string) string { return vars[k] })
		if strings.HasPrefix(val, "/etc/kgate/") || strings.HasPrefix(val, "/var/lib/kgate") {
			val = host(val)
		}
		vars[name] = val
		env = append(env, name+"="+val)
	}
	env = append(env, "PATH="+os.Getenv("PATH"), "HOME="+root)

	// A real broker to front.
	b := startServe(t, t.TempDir())
	if code, body := post(t, b.HTTP+"/topics/customer1", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1}]}`); code != 200 {
		t.Fatalf("creating customer1 on the broker: %d %s", code, body)
	}

	// As configured (public listeners), the configuration is valid.
	validate := exec.Command(kgateBin, "config", "validate")
	validate.Env = append(env, "KGATE_BROKERS="+b.BrokerAddr)
	if out, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("kgate config validate with the manifest's configuration: %v\n%s", err, out)
	}
	// Run it on loopback (tests listen nowhere else).
	g := startServeWith(t, nil, append(env, "KGATE_BROKERS="+b.BrokerAddr, "KGATE_LISTEN=127.0.0.1:0", "KGATE_SCHEMA_REGISTRY_LISTEN=127.0.0.1:0"))
	for _, probe := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(g.HTTP + probe)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s without credentials: %d, want 200 (the kubelet sends none)", probe, resp.StatusCode)
		}
	}
	if code, body := post(t, g.HTTP+"/topics/customer1", "application/vnd.kafka.json.v2+json", `{"records":[{"value":2}]}`); code != 401 {
		t.Errorf("anonymous produce: %d %s, want 401", code, body)
	}
	req, _ := http.NewRequest("POST", g.HTTP+"/topics/customer1", strings.NewReader(`{"records":[{"value":3}]}`))
	req.Header.Set("Content-Type", "application/vnd.kafka.json.v2+json")
	req.SetBasicAuth("customer1", "manifest-test-password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("customer1's produce: %d %s", resp.StatusCode, body)
	}
	// SIGTERM after preStop: out within what is left of the grace period.
	start := time.Now()
	if code := g.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM\n%s", code, g.Logs())
	}
	if took, left := time.Since(start), time.Duration(grace-preStop)*time.Second; took > left {
		t.Errorf("SIGTERM took %v, more than the %v the pod's grace period leaves after preStop", took, left)
	}
	if strings.Contains(g.Logs(), "manifest-test-password") {
		t.Error("the password reached the log")
	}
}

// commentedLines is the text of the YAML's comment lines.
func commentedLines(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
