package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// TestConsoleOIDC: a person signs in to the console with a real OpenID
// provider on loopback: the authorization code flow with PKCE from the
// browser, through the provider's own login page and back to /ui/, the
// code redeemed through kgate. The console then calls the API and the
// push WebSocket with the provider's access token: the person (corp:id1,
// group readers) sees logs-app and not customer1 and tails logs-app
// live. A second provider whose tokens kgate would refuse (wrong
// audience) gets a sign-in refused with the reason; both are audited.
// The code leaves the address bar at once, the token is in no URL and
// not in the DOM, and a forged return is refused.
func TestConsoleOIDC(t *testing.T) {
	b := browser(t)
	// corp accepts its console client's tokens; partner offers sign-in
	// too but does not list the console client among its audiences, so
	// kgate refuses the token the sign-in yields.
	g, corp, partner := oidcGateway(t, func(c *config.Config) {
		c.Auth.OIDC[0].ConsoleClientID = testutil.OIDCConsoleClient
		c.Auth.OIDC[0].Audiences = append(c.Auth.OIDC[0].Audiences, testutil.OIDCConsoleClient)
		c.Auth.OIDC[1].ConsoleClientID = testutil.OIDCConsoleClient
	})
	su := pushTopic(t, g, "logs-app", 1)
	pushTopic(t, g, "customer1", 1)

	if r := do(t, "GET", g.URL+"/ui/gateway.json", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `"oidc":true`) {
		t.Errorf("GET /ui/gateway.json: %d %s", r.status, r.body)
	}
	r := do(t, "GET", g.URL+"/login/oidc", "")
	entry := `{"issuer":%q,"client_id":%q,"scope":"openid","authorization_endpoint":"%sauth"}`
	want := fmt.Sprintf(`{"issuers":[`+entry+`,`+entry+`]}`, corp.Issuer, testutil.OIDCConsoleClient, corp.Issuer,
		partner.Issuer, testutil.OIDCConsoleClient, partner.Issuer)
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != want {
		t.Errorf("GET /login/oidc: %d %s\nwant %s", r.status, r.body, want)
	}
	// A code the provider never issued is refused with the provider's
	// reason; an issuer without a console client is not offered.
	r = do(t, "POST", g.URL+"/login/oidc", fmt.Sprintf(`{"issuer":%q,"code":"forged","code_verifier":"v","redirect_uri":"%s/ui/"}`, corp.Issuer, g.URL),
		"Content-Type", "application/json")
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "the provider refused the sign-in: invalid_grant") {
		t.Errorf("POST /login/oidc with a forged code: %d %s", r.status, r.body)
	}
	r = do(t, "POST", g.URL+"/login/oidc", fmt.Sprintf(`{"issuer":"%s","code":"c","code_verifier":"v","redirect_uri":"%s/ui/"}`, "https://elsewhere.example/", g.URL),
		"Content-Type", "application/json")
	if r.status != http.StatusNotFound {
		t.Errorf("POST /login/oidc for an unknown issuer: %d %s", r.status, r.body)
	}

	pushValues(t, su, "logs-app", []string{"before the sign-in"})
	tb := newTab(t, b)
	tb.do(chromedp.Navigate(g.URL + "/ui/"))

	tb.do(chromedp.WaitVisible(chromedp.CSS("#oidc-0")))
	if txt := eval[string](tb, `document.querySelector("#oidc-0").innerText`); txt != "Sign in with "+strings.TrimPrefix(strings.TrimSuffix(corp.Issuer, "/"), "http://") {
		t.Errorf("the provider's button says %q", txt)
	}
	tb.shot("login-oidc")
	signIn := func(button string, p *testutil.OIDCProvider) {
		t.Helper()
		tb.do(chromedp.WaitVisible(chromedp.CSS(button)))
		// By keyboard: focus the provider's button and press Enter.
		_ = eval[bool](tb, fmt.Sprintf(`(document.querySelector(%q).focus(), true)`, button))
		tb.do(chromedp.KeyEvent(kb.Enter))
		tb.waitAcross("the provider's login page", fmt.Sprintf(`location.href.startsWith(%q) && document.querySelector("#password") !== null`, p.Issuer))
		tb.do(chromedp.SendKeys(chromedp.CSS("#username"), "test-user@127.0.0.1"), chromedp.SendKeys(chromedp.CSS("#password"), "verysecure"),
			chromedp.Click(chromedp.CSS("button[type=submit]")))
		tb.waitAcross("the console again", fmt.Sprintf(`location.href.startsWith(%q)`, g.URL+"/ui/"))
	}
	// partner's token is not for kgate: the sign-in says why.
	signIn("#oidc-1", partner)
	tb.waitAcross("the refusal", `(document.querySelector("main")?.innerText || "").includes("Sign-in refused: wrong audience")`)
	if s := eval[string](tb, `sessionStorage.getItem("kgate.session") || ""`); s != "" {
		t.Errorf("a refused sign-in left a session")
	}
	signIn("#oidc-0", corp)
	tb.waitAcross("the console back, signed in", `(document.querySelector("#who")?.innerText || "").includes("Signed in as corp:id1")`)
	if u := eval[string](tb, `location.href`); u != g.URL+"/ui/#/topics" {
		t.Errorf("after the sign-in the address is %s, want the topics without the code", u)
	}
	if n := eval[int](tb, `history.length`); n > 4 {
		t.Logf("history holds %d entries", n)
	}
	tb.waitText("#topics-table", "logs-app")
	if txt := tb.text(); strings.Contains(txt, "customer1") {
		t.Errorf("corp:id1 sees customer1:\n%s", txt)
	}
	tb.shot("topics-oidc")

	// The push stream over the WebSocket, with the provider's token.
	tb.do(chromedp.Click(chromedp.CSS(`#topics-table a[href="#/topics/logs-app"]`)))
	tb.waitText("#tail-status", "Live")
	pushValues(t, su, "logs-app", []string{"seen-by-oidc"})
	tb.wait("the record in the tail", tailHas("seen-by-oidc"))

	tok := tb.token()
	if !strings.HasPrefix(tok, "eyJ") || strings.Count(tok, ".") != 2 {
		t.Errorf("the session's token is not the provider's JWT: %.12s...", tok)
	}
	tb.checkSecrets(tok, "verysecure")
	tb.mu.Lock()
	for _, u := range tb.urls {
		if strings.Contains(u, "code=") && !strings.HasPrefix(u, g.URL+"/ui/?code=") {
			t.Errorf("a code in a URL other than the redirect: %.80s", u)
		}
	}
	tb.mu.Unlock()

	// Both sign-ins are audited, never with the code or the token.
	if recs := auditRecords(t, g, 10*time.Second, 1, func(m map[string]any) bool {
		return m["event"] == "login" && m["principal"] == "corp:id1" && m["auth_method"] == "oidc"
	}); len(recs) == 0 {
		t.Error("the sign-in was not audited")
	}
	if recs := auditRecords(t, g, 10*time.Second, 1, func(m map[string]any) bool {
		return m["event"] == "login_failure" && m["auth_method"] == "oidc" && strings.Contains(fmt.Sprint(m["reason"]), "wrong audience")
	}); len(recs) == 0 {
		t.Error("the refused sign-in was not audited")
	}

	// Signing out forgets the token; the provider's button is offered
	// again.
	tb.do(chromedp.Click(chromedp.CSS("#logout")))
	tb.waitText("main", "Signed out.")
	tb.do(chromedp.WaitVisible(chromedp.CSS("#oidc-0")))
	if s := eval[string](tb, `sessionStorage.getItem("kgate.session") || ""`); s != "" {
		t.Errorf("after signing out the tab still holds a session")
	}

	// A return the tab did not start is refused, and its code leaves
	// the address bar.
	tb.do(chromedp.Navigate(g.URL + "/ui/?code=stolen&state=forged"))
	tb.waitText("main", "not for a sign-in this tab started")
	if u := eval[string](tb, `location.href`); strings.Contains(u, "stolen") {
		t.Errorf("the code stays in the address bar: %s", u)
	}
	if s := eval[string](tb, `sessionStorage.getItem("kgate.session") || ""`); s != "" {
		t.Errorf("a forged return left a session")
	}
}

// waitAcross waits for a JavaScript condition across navigations (the
// provider's pages and the redirects back), where a poll's page goes
// away under it: each evaluation is tried again until 20 s passed.
func (tb *tab) waitAcross(what, cond string) {
	tb.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("waiting for %s (%s): %v\npage: %s", what, cond, err, tb.text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConsoleOIDCOnly: without a users file, the console offers only
// the OpenID provider (its button focused, no password form) and signs
// in with it.
func TestConsoleOIDCOnly(t *testing.T) {
	b := browser(t)
	g, corp, _ := oidcGateway(t, func(c *config.Config) {
		c.Auth.Users = ""
		c.Auth.OIDC[0].ConsoleClientID = testutil.OIDCConsoleClient
		c.Auth.OIDC[0].Audiences = append(c.Auth.OIDC[0].Audiences, testutil.OIDCConsoleClient)
	})
	pushTopic(t, g, "logs-app", 1)
	if r := do(t, "GET", g.URL+"/ui/gateway.json", ""); string(r.body) != `{"sign_in":false,"oidc":true,"audit_topic":"_kgate_audit"}` {
		t.Errorf("GET /ui/gateway.json: %d %s", r.status, r.body)
	}
	tb := newTab(t, b)
	tb.do(chromedp.Navigate(g.URL + "/ui/"))
	tb.wait("the provider's button focused", `document.activeElement && document.activeElement.id === "oidc-0"`)
	if n := eval[int](tb, `[...document.querySelectorAll("#username, #password")].filter(e => e.offsetParent !== null).length`); n != 0 {
		t.Error("a password form is shown without a users file")
	}
	tb.do(chromedp.KeyEvent(kb.Enter))
	tb.waitAcross("the provider's login page", fmt.Sprintf(`location.href.startsWith(%q) && document.querySelector("#password") !== null`, corp.Issuer))
	tb.do(chromedp.SendKeys(chromedp.CSS("#username"), "test-user@127.0.0.1"), chromedp.SendKeys(chromedp.CSS("#password"), "verysecure"),
		chromedp.Click(chromedp.CSS("button[type=submit]")))
	tb.waitAcross("the console back, signed in", `(document.querySelector("#who")?.innerText || "").includes("Signed in as corp:id1")`)
	tb.waitText("#topics-table", "logs-app")
	tb.checkSecrets(tb.token(), "verysecure")
}
