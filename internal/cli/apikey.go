package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/kgate/kgate/internal/auth"
)

// runAPIKey implements `kgate apikey create|list|revoke`, a client of a
// running gateway's admin routes (POST|GET /admin/apikeys, DELETE
// /admin/apikeys/{id}): keys live in a topic every replica follows, and
// making one is audited there like any admin action.
func runAPIKey(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.Stderr, apikeyUsage)
		if len(args) == 0 {
			return exitConfig
		}
		return exitOK
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("kgate apikey "+sub, flag.ContinueOnError)
	base := fs.String("url", envOr(env, "KGATE_URL", "http://127.0.0.1:8082"), "the gateway's base URL (env KGATE_URL)")
	as := fs.String("as", env.Getenv("KGATE_ADMIN_USER"), "admin user to authenticate as (env KGATE_ADMIN_USER); its password is read from KGATE_ADMIN_PASSWORD, the terminal or stdin. Or set KGATE_TOKEN to a token from POST /login")
	var user, plan, expires, description *string
	jsonOut := fs.Bool("json", false, "print the gateway's JSON answer")
	switch sub {
	case "create":
		user = fs.String("user", "", "the user the key acts as (required)")
		plan = fs.String("plan", "", "the key's usage plan (auth.plans); empty: the user's")
		expires = fs.String("expires", "", "lifetime, such as 90d or 720h; empty: no expiry (unless auth.api_keys.max_ttl)")
		description = fs.String("description", "", "what the key is for (at most 256 bytes)")
	case "list":
		user = fs.String("user", "", "list only this user's keys")
	case "revoke":
	default:
		return errorf(env, exitConfig, "apikey", "unknown subcommand %q\n%s", sub, apikeyUsage)
	}
	if code, ok := parseFlags(fs, args, env.Stderr); !ok {
		return code
	}
	c, err := newAdminClient(env, *base, *as)
	if err != nil {
		return errorf(env, exitConfig, "apikey", "%v", err)
	}
	switch sub {
	case "create":
		if fs.NArg() > 0 {
			return errorf(env, exitConfig, "apikey", "unexpected argument %q", fs.Arg(0))
		}
		if *user == "" {
			return errorf(env, exitConfig, "apikey", "create needs --user")
		}
		body, _ := json.Marshal(map[string]string{"user": *user, "plan": *plan, "expires": *expires, "description": *description})
		out, err := c.do(ctx, http.MethodPost, "/admin/apikeys", body, http.StatusCreated)
		if err != nil {
			return errorf(env, exitFail, "apikey", "%v", err)
		}
		if *jsonOut {
			env.Stdout.Write(append(out, '\n'))
			return exitOK
		}
		var res struct {
			Key    string      `json:"key"`
			APIKey auth.APIKey `json:"api_key"`
		}
		if err := json.Unmarshal(out, &res); err != nil || res.Key == "" {
			return errorf(env, exitFail, "apikey", "unexpected answer: %v", err)
		}
		// The key alone on stdout (for a pipe); what it is on stderr.
		fmt.Fprintln(env.Stdout, res.Key)
		fmt.Fprintf(env.Stderr, "API key %s for %s%s: shown once, store it now (kgate keeps only its hash)\n", res.APIKey.ID, res.APIKey.User, expiresText(res.APIKey.Expires))
		return exitOK
	case "list":
		q := ""
		if *user != "" {
			q = "?user=" + url.QueryEscape(*user)
		}
		out, err := c.do(ctx, http.MethodGet, "/admin/apikeys"+q, nil, http.StatusOK)
		if err != nil {
			return errorf(env, exitFail, "apikey", "%v", err)
		}
		if *jsonOut {
			env.Stdout.Write(append(out, '\n'))
			return exitOK
		}
		var res struct {
			Keys []auth.APIKey `json:"api_keys"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			return errorf(env, exitFail, "apikey", "unexpected answer: %v", err)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tPLAN\tCREATED\tEXPIRES\tSTATE\tDESCRIPTION")
		now := time.Now()
		for _, k := range res.Keys {
			state := "live"
			switch {
			case !k.Revoked.IsZero():
				state = "revoked"
			case !k.Expires.IsZero() && !now.Before(k.Expires):
				state = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.User, dash(k.Plan), k.Created.UTC().Format(time.RFC3339),
				dash(timeText(k.Expires)), state, k.Description)
		}
		tw.Flush()
		return exitOK
	default: // revoke
		if fs.NArg() != 1 {
			return errorf(env, exitConfig, "apikey", "revoke needs one key id (kgate apikey list shows them)")
		}
		id := fs.Arg(0)
		if auth.LooksLikeAPIKey(id) {
			return errorf(env, exitConfig, "apikey", "give the key's id, not the key (the id is in kgate apikey list)")
		}
		if _, err := c.do(ctx, http.MethodDelete, "/admin/apikeys/"+url.PathEscape(id), nil, http.StatusNoContent); err != nil {
			return errorf(env, exitFail, "apikey", "%v", err)
		}
		fmt.Fprintf(env.Stderr, "API key %s revoked\n", id)
		return exitOK
	}
}

const apikeyUsage = `usage: kgate apikey create --user NAME [--plan PLAN] [--expires 90d] [--description TEXT]
       kgate apikey list [--user NAME]
       kgate apikey revoke ID
Each talks to a running gateway (--url, env KGATE_URL) as an admin: --as NAME (env
KGATE_ADMIN_USER) with the password from KGATE_ADMIN_PASSWORD, the terminal or stdin, or a
token from POST /login in KGATE_TOKEN.`

func envOr(env Env, name, def string) string {
	if v := env.Getenv(name); v != "" {
		return v
	}
	return def
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func expiresText(t time.Time) string {
	if t.IsZero() {
		return ", no expiry"
	}
	return ", expires " + timeText(t)
}

// adminClient calls a gateway's admin routes with an admin's
// credentials.
type adminClient struct {
	base  *url.URL
	authz string
	hc    *http.Client
}

func newAdminClient(env Env, base, as string) (*adminClient, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want http(s)://host:port", base)
	}
	if u.User != nil || u.RawQuery != "" {
		return nil, errors.New("--url must hold no credentials or query (credentials never travel in URLs)")
	}
	c := &adminClient{base: u, hc: &http.Client{Timeout: 30 * time.Second}}
	switch {
	case env.Getenv("KGATE_TOKEN") != "":
		c.authz = "Bearer " + strings.TrimSpace(env.Getenv("KGATE_TOKEN"))
	case as != "":
		pw := env.Getenv("KGATE_ADMIN_PASSWORD")
		if pw == "" {
			if pw, err = readOnePassword(env, as); err != nil {
				return nil, err
			}
		}
		c.authz = "Basic " + base64.StdEncoding.EncodeToString([]byte(as+":"+pw))
	default:
		return nil, errors.New("no credentials: give --as ADMIN (password from KGATE_ADMIN_PASSWORD, the terminal or stdin) or set KGATE_TOKEN")
	}
	return c, nil
}

// readOnePassword reads user's password without echo from a terminal, or
// the first line of a non-terminal stdin.
func readOnePassword(env Env, user string) (string, error) {
	if f, ok := env.Stdin.(*os.File); ok && env.IsTerminal != nil && env.IsTerminal(f.Fd()) {
		fmt.Fprintf(env.Stderr, "Password of %s: ", user)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(env.Stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading password from stdin: %w", err)
	}
	if line = strings.TrimRight(line, "\r\n"); line == "" {
		return "", fmt.Errorf("no password for %s on stdin", user)
	}
	return line, nil
}

// do sends a request and returns the body of an answer with status want,
// or an error holding the gateway's message.
func (c *adminClient) do(ctx context.Context, method, path string, body []byte, want int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", c.authz)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(out, &e) == nil && e.Message != "" {
			return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Message)
		}
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return out, nil
}
