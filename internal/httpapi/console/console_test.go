package console

import (
	"regexp"
	"strings"
	"testing"
)

// TestFilesKeepTheCSP: the files hold nothing the Content-Security-Policy
// would refuse (inline scripts and styles, event-handler attributes) or
// that would defeat it (HTML built from strings, eval), and nothing is
// fetched from another origin.
func TestFilesKeepTheCSP(t *testing.T) {
	s, err := load()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"index.html", "app.js", "api.js", "console.css"} {
		if _, ok := s[want]; !ok {
			t.Errorf("no %s", want)
		}
	}
	bad := map[string]*regexp.Regexp{
		".html": regexp.MustCompile(`<script>|<script [^>]*>[^<]|\sstyle=|\son[a-z]+=|<style`),
		".js":   regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\("|localStorage|document\.cookie`),
	}
	remote := regexp.MustCompile(`(?i)(src|href)="(https?:)?//|url\((["']?)https?:|import .* from "https?:`)
	for name, f := range s {
		for ext, re := range bad {
			if strings.HasSuffix(name, ext) {
				if m := re.Find(f.body); m != nil {
					t.Errorf("%s has %q", name, m)
				}
			}
		}
		if m := remote.Find(f.body); m != nil {
			t.Errorf("%s loads from elsewhere: %q", name, m)
		}
		if f.ctype == "application/octet-stream" {
			t.Errorf("%s has no content type", name)
		}
	}
	if n := Size(); n > 200<<10 {
		t.Errorf("the files take %d bytes, want at most 200 KiB", n)
	}
}
