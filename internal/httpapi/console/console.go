// Package console serves kgate's built-in web console at /ui/: plain
// HTML, CSS and JavaScript modules embedded in the binary (no build step,
// no CDN, nothing fetched from elsewhere). The pages call the API with
// the signed-in user's bearer token, so they can show and do exactly
// what the API lets that user show and do; this package only serves
// files. docs/console.md describes the pages and the security model.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/kgate/kgate/internal/httpapi"
)

//go:embed ui
var files embed.FS

// Prefix is where the console is served.
const Prefix = "/ui/"

// CSP is the console's Content-Security-Policy: everything from kgate's
// own origin, no inline script or style, no plugins, no framing, forms
// only to kgate.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// file is one embedded file, ready to serve.
type file struct {
	body  []byte
	ctype string
	etag  string
}

// site holds the embedded files by their path under ui/.
type site map[string]file

func newFile(body []byte, ctype string) file {
	sum := sha256.Sum256(body)
	return file{body: body, ctype: ctype, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
}

func load() (site, error) {
	s := site{}
	err := fs.WalkDir(files, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if path.Ext(p) == ".js" { // some systems' mime tables say text/plain
			ct = "text/javascript; charset=utf-8"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		s[strings.TrimPrefix(p, "ui/")] = newFile(b, ct)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the console's files: %w", err)
	}
	return s, nil
}

// Size is the bytes of every embedded file together (what a browser
// downloads on a first visit).
func Size() int {
	s, err := load()
	if err != nil {
		return 0
	}
	n := 0
	for _, f := range s {
		n += len(f.body)
	}
	return n
}

// Options are what the pages need to know about the gateway.
type Options struct {
	// SignIn is whether POST /login issues tokens (a users file is
	// configured); without it and OIDC the pages call the API
	// anonymously (open development mode).
	SignIn bool
	// OIDC is whether an OpenID issuer offers sign-in (GET and POST
	// /login/oidc).
	OIDC bool
	// AuditTopic is the topic of the audit trail, which administrators
	// read live on the admin page ("" in open mode: there is none).
	AuditTopic string
}

// gatewayFile is the one generated file: what the pages need to know
// before signing in (GET /ui/gateway.json).
const gatewayFile = "gateway.json"

// Register adds the console's routes: GET /ui redirects to /ui/, and
// GET /ui/{path...} serves the files (index.html for /ui/) and
// gateway.json. They are public: the files hold no data and no secret;
// everything the pages show comes from API calls, each authenticated and
// authorized.
func Register(rr *httpapi.Router, o Options) {
	s, err := load()
	if err != nil { // the files are compiled in: a programming error
		panic(err)
	}
	b, err := json.Marshal(struct {
		SignIn     bool   `json:"sign_in"`
		OIDC       bool   `json:"oidc,omitempty"`
		AuditTopic string `json:"audit_topic,omitempty"`
	}{o.SignIn, o.OIDC, o.AuditTopic})
	if err != nil {
		panic(err)
	}
	s[gatewayFile] = newFile(b, "application/json")
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/ui", Name: "console.root", Public: true,
		Summary: "The web console: redirects to /ui/.",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return nil
		}})
	rr.Add(httpapi.Route{Method: "GET", Pattern: Prefix + "{path...}", Name: "console.files", Public: true,
		Summary: "The web console's files (HTML, CSS, JavaScript modules embedded in the binary).",
		Handler: s.serve})
}

func (s site) serve(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("path")
	if name == "" {
		name = "index.html"
	}
	f, ok := s[name]
	if !ok {
		return httpapi.ErrNotFound.Msg("The console has no file %q.", name)
	}
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// Revalidated on every load (cheap: 304 by ETag), so an upgraded
	// kgate never runs with a cached older script.
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	return nil
}
