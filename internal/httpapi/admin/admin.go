// Package admin serves KastleX's login and administration endpoints:
// POST /login, the web console's OpenID sign-in at GET|POST /login/oidc,
// GET|POST /admin/reload, DELETE /admin/tokens/{username},
// DELETE /admin/tokens/id/{jti}, GET /admin/tokens/{username}, the API
// keys at POST|GET /admin/apikeys and DELETE /admin/apikeys/{id}, the
// quota usage at GET /admin/usage[/{principal}], the replicas at GET
// /admin/nodes, and the users with their effective policy at GET
// /admin/users and GET /admin/users/{username}/policy.
package admin

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/cluster"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/ratelimit"
)

// Deps are what the endpoints need.
type Deps struct {
	Auth *auth.Service
	// Usage is the quota usage; nil hides the usage endpoints' data.
	Usage *ratelimit.Usage
	// LimitsFor returns the limits in force for a principal.
	LimitsFor func(principal string) ratelimit.Limits
	// PlanLimits returns a usage plan's limits (ok false: no such plan).
	PlanLimits func(plan string) (ratelimit.Limits, bool)
	// Nodes returns the live replicas (nil: this node knows of none).
	Nodes func() []cluster.Node
	// AnnounceReload, if set, has every other replica reload its own
	// files (POST /admin/reload?cluster=true).
	AnnounceReload func(context.Context) error
}

const jsonType = "application/json"

// Register adds the routes.
func Register(rr *httpapi.Router, d Deps) {
	a := api{d: d}
	rr.Add(httpapi.Route{Method: "POST", Pattern: "/login", Name: "admin.login", Public: true, ErrorType: jsonType,
		Summary: "Exchange a user name and password (form fields username and password, JSON, or Basic) for a JWT.", Handler: a.login})
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/login/oidc", Name: "admin.login.oidc.issuers", Public: true, ErrorType: jsonType,
		Summary: "The OpenID issuers the web console signs in with (auth.oidc with console_client_id): issuer, client id, scopes, authorization endpoint.", Handler: a.signIns})
	rr.Add(httpapi.Route{Method: "POST", Pattern: "/login/oidc", Name: "admin.login.oidc", Public: true, ErrorType: jsonType,
		Summary: "Redeem the web console's authorization code (JSON issuer, code, code_verifier, redirect_uri) at the issuer's token endpoint; answers the verified access token.", Handler: a.exchange})
	// KastleX reloads with GET; reloading takes no input and only
	// re-reads files the operator controls, so a forged cross-site GET
	// can do no more than SIGHUP. POST is the documented form.
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/admin/reload", Name: "admin.reload.get", Action: auth.Reload, ErrorType: jsonType,
		Summary: "Re-read users and permissions (KastleX form; answers 204).", Handler: a.reload(false)})
	rr.Add(httpapi.Route{Method: "POST", Pattern: "/admin/reload", Name: "admin.reload", Action: auth.Reload, ErrorType: jsonType,
		Summary: "Re-read users and permissions; answers a summary. With ?cluster=true, every other live replica re-reads its own files too, within a second.", Handler: a.reload(true)})
	rr.Add(httpapi.Route{Method: "DELETE", Pattern: "/admin/tokens/{username}", Name: "admin.tokens.revoke_user", Action: auth.Revoke, ErrorType: jsonType,
		Summary: "Revoke every token of a user (KastleX).", Handler: a.revokeUser})
	rr.Add(httpapi.Route{Method: "DELETE", Pattern: "/admin/tokens/id/{jti}", Name: "admin.tokens.revoke_id", Action: auth.Revoke, ErrorType: jsonType,
		Summary: "Revoke one token by its jti.", Handler: a.revokeID})
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/admin/tokens/{username}", Name: "admin.tokens.list", Action: auth.Revoke, ErrorType: jsonType,
		Summary: "List a user's live tokens (ids and times, never the tokens).", Handler: a.listTokens})
	rr.Add(httpapi.Route{Method: "POST", Pattern: "/admin/apikeys", Name: "admin.apikeys.create", Action: auth.Admin, ErrorType: jsonType,
		Summary: "Make an API key for a user (JSON user, plan, expires such as 90d, description); the key is in this answer only.", Handler: a.createKey})
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/admin/apikeys", Name: "admin.apikeys.list", Action: auth.Admin, ErrorType: jsonType,
		Summary: "List API keys (?user=NAME for one user's), revoked ones included; never the keys.", Handler: a.listKeys})
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/admin/apikeys/{id}/usage", Name: "admin.apikeys.usage", Action: auth.Admin, ErrorType: jsonType,
		Summary: "An API key's requests and bytes today, this week and this month, with its plan's limits (a key without a plan is counted as its user).", Handler: a.keyUsage})
	rr.Add(httpapi.Route{Method: "DELETE", Pattern: "/admin/apikeys/{id}", Name: "admin.apikeys.revoke", Action: auth.Revoke, ErrorType: jsonType,
		Summary: "Revoke an API key by its id; every replica refuses it within a second.", Handler: a.revokeKey})
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/admin/nodes", Name: "admin.nodes.list", Action: auth.Admin, ErrorType: jsonType,
		Summary: "The live kgate replicas in front of this Kafka cluster (this one included): id, internal URL, version, start, last heartbeat, load.",
		Doc:     &httpapi.Doc{Responses: []httpapi.Response{{Status: 200, Description: "The replicas, by id.", Body: &httpapi.Body{Schema: nodesJSON{}}}}},
		Handler: a.nodes})
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/admin/users", Name: "admin.users.list", Action: auth.Admin, ErrorType: jsonType,
		Summary: "The users of the users file: names, groups, plan, whether they have a password and Kafka-port credentials (never the hashes).", Handler: a.users})
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/admin/users/{username}/policy", Name: "admin.users.policy", Action: auth.Admin, ErrorType: jsonType,
		Summary: "What a user may do now, explained: each cluster-wide action, and each topic and group action on ?topic= and ?group=, with the policy's decision and reason (?ip= sets the address it comes from).",
		Handler: a.policy})
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/admin/usage", Name: "admin.usage.list", Action: auth.Admin, ErrorType: jsonType,
		Summary: "Today's requests and bytes per principal, with their limits.", Handler: a.usage})
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/admin/usage/{principal}", Name: "admin.usage.get", Action: auth.Admin, ErrorType: jsonType,
		Summary: "Today's requests and bytes of one principal, with its limits.", Handler: a.usageOne})
}

type api struct{ d Deps }

// login reads form fields (KastleX), a JSON object or HTTP Basic.
func (a api) login(w http.ResponseWriter, r *http.Request) error {
	user, password, err := loginCredentials(r)
	if err != nil {
		return err
	}
	tok, c, err := a.d.Auth.Login(r.Context(), a.d.Auth.ClientIP(r), user, password)
	if err != nil {
		var ae *auth.Error
		switch {
		case errors.As(err, &ae) && ae.RetryAfter > 0:
			w.Header().Set("Retry-After", secondsString(ae.RetryAfter))
			return httpapi.ErrRateLimited.Msg("%s", ae.Refusal()).Wrap(err)
		case errors.As(err, &ae):
			return httpapi.ErrUnauthenticated.Msg("Invalid user name or password.").Wrap(err)
		case errors.Is(err, auth.ErrLoginDisabled):
			return httpapi.ErrNotFound.Msg("Login is not enabled: no users file is configured.").Wrap(err)
		}
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusOK, jsonType, map[string]any{
		"token":      tok,
		"token_type": "Bearer",
		"expires_in": int64(time.Until(c.ExpiresAt.Time).Seconds()),
	})
	return nil
}

// loginCredentials extracts the user name and password of a login.
func loginCredentials(r *http.Request) (user, password string, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "basic") {
			if u, p, ok := auth.ParseBasic(strings.TrimSpace(cred)); ok {
				return u, p, nil
			}
		}
		return "", "", httpapi.ErrUnauthenticated.Msg("Malformed Authorization header.")
	}
	body, err := httpapi.ReadBody(r)
	if err != nil {
		return "", "", err
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		var req struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		if err := httpapi.DecodeJSON(body, &req); err != nil {
			return "", "", err
		}
		user, password = req.Username, req.Password
	case mt == "" || mt == "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return "", "", httpapi.ErrBadRequest.Msg("Malformed form body.")
		}
		user, password = v.Get("username"), v.Get("password")
	default:
		return "", "", httpapi.ErrUnsupportedMediaType.Msg("Send the form fields username and password, or JSON {\"username\",\"password\"}.")
	}
	if user == "" {
		return "", "", httpapi.ErrUnprocessable.Msg("username and password are required.")
	}
	return user, password, nil
}

func (a api) reload(summary bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		all, err := clusterParam(r)
		if err != nil {
			return err
		}
		res, err := a.d.Auth.Reload(r.Context(), httpapi.Principal(r.Context()))
		if err != nil {
			// The cause names the file, line and key; it never quotes a
			// value, and the caller holds the reload right. Nothing is
			// announced: the files are wrong here, likely everywhere.
			return httpapi.ErrUnprocessable.Msg("%s", err.Error()).Wrap(err)
		}
		if all && a.d.AnnounceReload != nil {
			if err := a.d.AnnounceReload(r.Context()); err != nil {
				return httpapi.ErrBrokerNotAvailable.Msg("Reloaded here, but announcing the reload to the other replicas failed; retry.").Wrap(err)
			}
		}
		if !summary {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		body := map[string]any{"reloaded": true, "users": res.Users, "permission_entries": res.Principals}
		if all {
			body["announced"] = true
		}
		httpapi.WriteJSON(w, http.StatusOK, jsonType, body)
		return nil
	}
}

// clusterParam reads a reload's ?cluster= (true: announce it to every
// replica).
func clusterParam(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("cluster")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, httpapi.ErrBadRequest.Msg("cluster must be true or false, got %q.", v)
	}
	return b, nil
}

func caller(ctx context.Context) *auth.Principal {
	if p := auth.FromContext(ctx); p != nil {
		return p
	}
	return &auth.Principal{Name: httpapi.Principal(ctx)}
}

func (a api) revokeUser(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.d.Auth.RevokeUser(r.Context(), caller(r.Context()), r.PathValue("username")); err != nil {
		return disabled(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a api) revokeID(w http.ResponseWriter, r *http.Request) error {
	found, err := a.d.Auth.RevokeID(r.Context(), caller(r.Context()), r.PathValue("jti"))
	if err != nil {
		return disabled(err)
	}
	if !found {
		return httpapi.ErrNotFound.Msg("No live token has this id.")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a api) listTokens(w http.ResponseWriter, r *http.Request) error {
	st := a.d.Auth.Tokens()
	if st == nil {
		return disabled(auth.ErrLoginDisabled)
	}
	httpapi.WriteJSON(w, http.StatusOK, jsonType, map[string]any{"user": r.PathValue("username"), "tokens": st.List(r.PathValue("username"))})
	return nil
}

func disabled(err error) error {
	if errors.Is(err, auth.ErrLoginDisabled) {
		return httpapi.ErrNotFound.Msg("Tokens are not enabled: no users file is configured.").Wrap(err)
	}
	return err
}

type usageJSON struct {
	ratelimit.PrincipalUsage
	Limits limitsJSON `json:"limits"`
}

type limitsJSON struct {
	RequestsPerSecond float64 `json:"requests_per_second"`
	RequestBurst      int     `json:"request_burst"`
	BytesPerSecond    float64 `json:"bytes_per_second"`
	ByteBurst         int64   `json:"byte_burst"`
	DailyRequests     int64   `json:"daily_requests"`
	DailyBytes        int64   `json:"daily_bytes"`
	WeeklyRequests    int64   `json:"weekly_requests"`
	WeeklyBytes       int64   `json:"weekly_bytes"`
	MonthlyRequests   int64   `json:"monthly_requests"`
	MonthlyBytes      int64   `json:"monthly_bytes"`
}

func (a api) withLimits(u ratelimit.PrincipalUsage) usageJSON {
	l := ratelimit.Limits{}
	if a.d.LimitsFor != nil {
		l = a.d.LimitsFor(u.Principal)
	}
	return usageJSON{PrincipalUsage: u, Limits: limitsJSON(l)}
}

func (a api) usage(w http.ResponseWriter, r *http.Request) error {
	out := []usageJSON{}
	if a.d.Usage != nil {
		for _, u := range a.d.Usage.Snapshot(time.Now()) {
			out = append(out, a.withLimits(u))
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, jsonType, map[string]any{"day": ratelimit.Day(time.Now()), "principals": out})
	return nil
}

func (a api) usageOne(w http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("principal")
	u := ratelimit.PrincipalUsage{Principal: p, Day: ratelimit.Day(time.Now())}
	if a.d.Usage != nil {
		u = a.d.Usage.UsageOf(p, time.Now())
	}
	httpapi.WriteJSON(w, http.StatusOK, jsonType, a.withLimits(u))
	return nil
}

// nodesJSON is GET /admin/nodes' answer.
type nodesJSON struct {
	Nodes []cluster.Node `json:"nodes"`
}

func (a api) nodes(w http.ResponseWriter, r *http.Request) error {
	out := nodesJSON{Nodes: []cluster.Node{}}
	if a.d.Nodes != nil {
		for _, n := range a.d.Nodes() {
			n.Demand = nil // the rate-limit keys name callers: not for this list
			out.Nodes = append(out.Nodes, n)
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, jsonType, out)
	return nil
}

func secondsString(d time.Duration) string { return strconv.FormatInt(int64(d.Seconds())+1, 10) }

// ParseTTL reads a key lifetime: Go's durations (720h) or days (90d).
func ParseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "never" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > 36500 {
			return 0, errors.New("expires: want a number of days such as 90d, or a duration such as 720h")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, errors.New("expires: want a number of days such as 90d, or a duration such as 720h")
	}
	return v, nil
}

func keysError(err error) error {
	var ke *auth.KeyRequestError
	switch {
	case errors.Is(err, auth.ErrAPIKeysDisabled):
		return httpapi.ErrNotFound.Msg("API keys are not enabled: no users file is configured.").Wrap(err)
	case errors.As(err, &ke):
		return httpapi.ErrUnprocessable.Msg("%s", ke.Reason).Wrap(err)
	}
	return err
}

func (a api) createKey(w http.ResponseWriter, r *http.Request) error {
	body, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	var req struct {
		User        string `json:"user"`
		Plan        string `json:"plan"`
		Expires     string `json:"expires"`
		Description string `json:"description"`
	}
	if err := httpapi.DecodeJSON(body, &req); err != nil {
		return err
	}
	if req.User == "" {
		return httpapi.ErrUnprocessable.Msg("user is required.")
	}
	ttl, err := ParseTTL(req.Expires)
	if err != nil {
		return httpapi.ErrUnprocessable.Msg("%s", err.Error())
	}
	key, k, err := a.d.Auth.CreateAPIKey(r.Context(), caller(r.Context()), auth.APIKey{User: req.User, Plan: req.Plan, Description: req.Description}, ttl)
	if err != nil {
		return keysError(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusCreated, jsonType, map[string]any{"key": key, "api_key": k})
	return nil
}

func (a api) listKeys(w http.ResponseWriter, r *http.Request) error {
	ks := a.d.Auth.APIKeys()
	if ks == nil {
		return keysError(auth.ErrAPIKeysDisabled)
	}
	httpapi.WriteJSON(w, http.StatusOK, jsonType, map[string]any{"api_keys": ks.List(r.URL.Query().Get("user"))})
	return nil
}

func (a api) revokeKey(w http.ResponseWriter, r *http.Request) error {
	found, err := a.d.Auth.RevokeAPIKey(r.Context(), caller(r.Context()), r.PathValue("id"))
	if err != nil {
		return keysError(err)
	}
	if !found {
		return httpapi.ErrNotFound.Msg("No live API key has this id.")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a api) keyUsage(w http.ResponseWriter, r *http.Request) error {
	ks := a.d.Auth.APIKeys()
	if ks == nil {
		return keysError(auth.ErrAPIKeysDisabled)
	}
	id := r.PathValue("id")
	var key *auth.APIKey
	for _, k := range ks.List("") {
		if k.ID == id {
			key = &k
			break
		}
	}
	if key == nil {
		return httpapi.ErrNotFound.Msg("No API key has this id.")
	}
	now := time.Now()
	counted, lim := key.User, ratelimit.Limits{}
	if key.Plan != "" && a.d.PlanLimits != nil {
		counted = "apikey:" + key.ID
		lim, _ = a.d.PlanLimits(key.Plan)
	} else if a.d.LimitsFor != nil {
		lim = a.d.LimitsFor(key.User)
	}
	u := ratelimit.PrincipalUsage{Principal: counted, Day: ratelimit.Day(now)}
	if a.d.Usage != nil {
		u = a.d.Usage.UsageOf(counted, now)
	}
	httpapi.WriteJSON(w, http.StatusOK, jsonType, map[string]any{"api_key": key, "counted_as": counted,
		"usage": usageJSON{PrincipalUsage: u, Limits: limitsJSON(lim)}})
	return nil
}
