package app_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

const (
	mtJSONv2 = "application/vnd.kafka.json.v2+json"
	seedBody = `{"records":[{"value":{"deviceid": "AppleWatch4","heartrate": "72","timestamp":"2019-10-07 12:46:13"}}]}`
	// The seed's header: customer1:password1.
	seedAuth = "Basic Y3VzdG9tZXIxOnBhc3N3b3JkMQ=="
)

// passwords of the sample users file (bcrypt cost 4).
var passwords = map[string]string{
	"customer1": "password1", "customer2": "password2", "admin": "adminpw", "ops": "opspw",
	"reader": "readerpw", "partner": "partnerpw", "mallory": "mallorypw",
}

// secureFiles copies the sample users and permissions files into a
// temporary directory (so that tests may rewrite them) and returns their
// paths.
func secureFiles(t testing.TB) (users, perms string) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"users.yml", "permissions.yml"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "users.yml"), filepath.Join(dir, "permissions.yml")
}

// secureGateway starts a gateway with the sample users and permissions.
func secureGateway(t testing.TB, mutate func(*config.Config)) *testutil.Gateway {
	t.Helper()
	users, perms := secureFiles(t)
	return testutil.StartGateway(t, func(c *config.Config) {
		c.Auth.Users = users
		c.Auth.Permissions = perms
		c.Auth.FailuresPerSecond = 1000
		c.Auth.FailureBurst = 1000
		if mutate != nil {
			mutate(c)
		}
	})
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (r response) errorCode() int {
	var m struct {
		ErrorCode int `json:"error_code"`
	}
	_ = json.Unmarshal(r.body, &m)
	return m.ErrorCode
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// do sends a request; headers alternate names and values.
func do(t testing.TB, method, url, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return send(t, httpClient, req)
}

func send(t testing.TB, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func basic(user string) string {
	return "Basic " + b64(user+":"+passwords[user])
}

func b64(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

func produceV2(t testing.TB, g *testutil.Gateway, topic string, headers ...string) response {
	t.Helper()
	return do(t, "POST", g.URL+"/topics/"+topic, seedBody, append([]string{"Content-Type", mtJSONv2}, headers...)...)
}

func login(t testing.TB, url, user string) string {
	t.Helper()
	r := do(t, "POST", url+"/login", "username="+user+"&password="+passwords[user], "Content-Type", "application/x-www-form-urlencoded")
	if r.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	tok, _ := r.json(t)["token"].(string)
	if tok == "" {
		t.Fatalf("login %s: no token in %s", user, r.body)
	}
	return tok
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}
