package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Auth configures security and tenancy: who the callers are (users file,
// JWT login, client certificates), what they may do (permissions file),
// revocable tokens, rate limits and quotas, the HTTPS listener and audit.
//
// With neither a users file nor a permissions file, kgate runs in open
// development mode: every request is allowed, which Validate accepts only
// while every listener is on loopback.
type Auth struct {
	// Users is the users file (KastleX passwd.yml plus groups, limits and
	// SCRAM credentials for the embedded broker).
	Users string `yaml:"users" env:"KGATE_USERS"`
	// Permissions is the permissions file (KastleX permissions.yml plus
	// prefix patterns, {user}, deny entries and client CIDRs).
	Permissions string `yaml:"permissions" env:"KGATE_PERMISSIONS"`
	// TrustedProxies lists the CIDRs of reverse proxies whose
	// X-Forwarded-For header names the client; empty trusts none.
	TrustedProxies []string `yaml:"trusted_proxies" env:"KGATE_AUTH_TRUSTED_PROXIES"`
	// PasswordCacheTTL is how long a successful password check is
	// remembered, so that bcrypt is not paid on every request.
	PasswordCacheTTL Duration `yaml:"password_cache_ttl" env:"KGATE_AUTH_PASSWORD_CACHE_TTL"`
	// FailuresPerSecond and FailureBurst bound failed authentications
	// per client address; beyond them kgate answers 429 without
	// checking the password.
	FailuresPerSecond float64 `yaml:"failures_per_second" env:"KGATE_AUTH_FAILURES_PER_SECOND"`
	FailureBurst      int     `yaml:"failure_burst" env:"KGATE_AUTH_FAILURE_BURST"`
	// UserFailuresPerSecond and UserFailureBurst bound failed
	// authentications naming one user name (known or not) from any
	// address; beyond them kgate answers 429, except to an address the
	// user succeeded from recently.
	UserFailuresPerSecond float64 `yaml:"user_failures_per_second" env:"KGATE_AUTH_USER_FAILURES_PER_SECOND"`
	UserFailureBurst      int     `yaml:"user_failure_burst" env:"KGATE_AUTH_USER_FAILURE_BURST"`
	// PasswordQueue bounds the password checks that wait for a bcrypt
	// (GOMAXPROCS run at once). Beyond it attempts are refused (429) at
	// once; attempts from addresses or for names that failed recently are
	// refused as soon as a round of checks waits; a user and address that
	// succeeded recently always queue, ahead of the others.
	PasswordQueue int `yaml:"password_queue" env:"KGATE_AUTH_PASSWORD_QUEUE"`

	JWT    JWT    `yaml:"jwt"`
	Tokens Tokens `yaml:"tokens"`
	// APIKeys configures the API keys' store.
	APIKeys APIKeys `yaml:"api_keys"`
	// OIDC lists the OpenID Connect / OAuth2 issuers whose bearer tokens
	// kgate accepts beside its own.
	OIDC []OIDCIssuer `yaml:"oidc"`
	// Kerberos enables SPNEGO (Authorization: Negotiate) on HTTP.
	Kerberos HTTPKerberos `yaml:"kerberos"`
	Login    Login        `yaml:"login"`
	HTTPS    HTTPS        `yaml:"https"`
	Limits   Limits       `yaml:"limits"`
	// Plans are the usage plans a user (users file plan:), an API key
	// or an OIDC claim names.
	Plans     map[string]Plan `yaml:"plans"`
	Audit     Audit           `yaml:"audit"`
	BrokerACL BrokerACL       `yaml:"broker"`
}

// JWT configures the tokens POST /login issues.
type JWT struct {
	// Algorithm is ES512 (KastleX's choice, a P-521 key), ES384, ES256,
	// EdDSA, HS512, HS384 or HS256. Verification accepts only this one.
	Algorithm string `yaml:"algorithm" env:"KGATE_JWT_ALGORITHM"`
	// KeyFile is the PEM private key (EC or Ed25519) or, for HS*, a file
	// holding the secret. Empty: a key is generated on first start into
	// the data directory (mode 0600) and reused.
	KeyFile  string   `yaml:"key_file" env:"KGATE_JWT_KEY_FILE"`
	Issuer   string   `yaml:"issuer" env:"KGATE_JWT_ISSUER"`
	Audience string   `yaml:"audience" env:"KGATE_JWT_AUDIENCE"`
	TTL      Duration `yaml:"ttl" env:"KGATE_JWT_TTL"`
	// Leeway tolerates clock skew between replicas on exp, nbf and iat.
	Leeway Duration `yaml:"leeway" env:"KGATE_JWT_LEEWAY"`
}

// HTTPKerberos configures Kerberos on HTTP (SPNEGO, RFC 4559): callers
// send "Authorization: Negotiate <token>" with a ticket for
// ServicePrincipal, and the client principal is mapped to a kgate user
// with Kafka's principal-to-local rules, as on the Kafka port.
type HTTPKerberos struct {
	// Keytab holds ServicePrincipal's keys; it must not be readable by
	// everyone.
	Keytab string `yaml:"keytab" env:"KGATE_AUTH_KERBEROS_KEYTAB"`
	// ServicePrincipal is the gateway's HTTP service principal with its
	// realm, HTTP/<the host clients use>@REALM.
	ServicePrincipal string `yaml:"service_principal" env:"KGATE_AUTH_KERBEROS_SERVICE_PRINCIPAL"`
	// PrincipalToLocalRules map client principals to kgate users
	// (DEFAULT strips the service principal's realm).
	PrincipalToLocalRules []string `yaml:"principal_to_local_rules" env:"KGATE_AUTH_KERBEROS_PRINCIPAL_TO_LOCAL_RULES"`
}

// Enabled reports whether HTTP offers Negotiate.
func (k HTTPKerberos) Enabled() bool { return k.Keytab != "" || k.ServicePrincipal != "" }

// OIDCIssuer trusts the bearer tokens (JWTs: access or ID tokens) of one
// OpenID Connect / OAuth2 issuer. Zero values take the defaults of
// WithDefaults.
type OIDCIssuer struct {
	// Issuer is the issuer URL, exactly as tokens' iss claim holds it;
	// its discovery document is Issuer/.well-known/openid-configuration.
	Issuer string `yaml:"issuer"`
	// JWKSURL, when set, is where the keys are, instead of discovery's
	// jwks_uri.
	JWKSURL string `yaml:"jwks_url"`
	// Audiences: a token's aud must hold one of them.
	Audiences []string `yaml:"audiences"`
	// Algorithms are the signature algorithms accepted (default RS256);
	// of RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA. HMAC and
	// none are never accepted.
	Algorithms []string `yaml:"algorithms"`
	// PrincipalClaim names the claim (a dotted path for nested ones)
	// that is the principal's name: sub (default), preferred_username,
	// email, client_id, azp or any other holding a string.
	PrincipalClaim string `yaml:"principal_claim"`
	// Prefix is put before every principal name of this issuer (say
	// "corp:"), so that two issuers' users cannot be taken for each
	// other or for users-file users.
	Prefix string `yaml:"prefix"`
	// GroupsClaim names the claim (dotted path, e.g. realm_access.roles)
	// holding the principal's groups: a list of strings or one
	// space-separated string. Empty: no groups.
	GroupsClaim string `yaml:"groups_claim"`
	// PlanClaim names the claim (dotted path) holding the principal's
	// usage plan (auth.plans). Empty: the users file's, or none.
	PlanClaim string `yaml:"plan_claim"`
	// Groups maps the issuer's group names to kgate group names; when
	// set, groups it does not name are dropped.
	Groups map[string]string `yaml:"groups"`
	// ClockSkew is tolerated on exp, nbf and iat (default 60s).
	ClockSkew Duration `yaml:"clock_skew"`
	// CAFile is the PEM CA bundle to verify the issuer's TLS
	// certificate (default: the system's).
	CAFile string `yaml:"ca_file"`
	// RefreshInterval is how often the keys are fetched again (default
	// 15m); a token with an unknown kid fetches them at once, up to 3
	// times in a row, then at most once per MinRefreshInterval (default
	// 10s).
	RefreshInterval    Duration `yaml:"refresh_interval"`
	MinRefreshInterval Duration `yaml:"min_refresh_interval"`
	// ConsoleClientID, when set, offers sign-in with this issuer on the
	// web console: the id of a public client (no secret) registered at
	// the provider with the console's address (https://HOST/ui/) as its
	// redirect URI, for the authorization code flow with PKCE. The
	// access tokens the provider issues to it must carry one of
	// Audiences.
	ConsoleClientID string `yaml:"console_client_id"`
	// ConsoleScopes are the scopes the console asks for (default
	// openid); some providers need one to put kgate's audience in the
	// access token.
	ConsoleScopes []string `yaml:"console_scopes"`
}

// OIDCAlgorithms are the signature algorithms an issuer may be pinned to.
var OIDCAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// WithDefaults returns o with its zero settings defaulted.
func (o OIDCIssuer) WithDefaults() OIDCIssuer {
	if len(o.Algorithms) == 0 {
		o.Algorithms = []string{"RS256"}
	}
	if o.PrincipalClaim == "" {
		o.PrincipalClaim = "sub"
	}
	if o.ClockSkew == 0 {
		o.ClockSkew = Duration(time.Minute)
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = Duration(15 * time.Minute)
	}
	if o.MinRefreshInterval == 0 {
		o.MinRefreshInterval = Duration(10 * time.Second)
	}
	if o.ConsoleClientID != "" && len(o.ConsoleScopes) == 0 {
		o.ConsoleScopes = []string{"openid"}
	}
	return o
}

// APIKeys configures the API key store, a compacted topic every replica
// replays and follows (keys are made with POST /admin/apikeys or kgate
// apikey create).
type APIKeys struct {
	Topic string `yaml:"topic" env:"KGATE_API_KEYS_TOPIC"`
	// MaxPerUser bounds a user's live (not revoked, not expired) keys.
	MaxPerUser int `yaml:"max_per_user" env:"KGATE_API_KEYS_MAX_PER_USER"`
	// MaxTTL bounds a key's lifetime (0: keys may live forever).
	MaxTTL Duration `yaml:"max_ttl" env:"KGATE_API_KEYS_MAX_TTL"`
}

// Tokens configures the token store, a compacted topic every replica
// replays and follows.
type Tokens struct {
	Topic string `yaml:"topic" env:"KGATE_TOKENS_TOPIC"`
	// SegmentInterval is the topic's segment.ms: Kafka compacts only
	// rolled segments, so this bounds how long superseded entries stay.
	SegmentInterval Duration `yaml:"segment_interval" env:"KGATE_TOKENS_SEGMENT_INTERVAL"`
	// MaxPerUser bounds a user's live tokens; WhenFull says what a login
	// beyond it does: revoke_oldest (the user is never locked out by
	// forgotten tokens) or refuse (429 until the oldest expires).
	MaxPerUser int    `yaml:"max_per_user" env:"KGATE_TOKENS_MAX_PER_USER"`
	WhenFull   string `yaml:"when_full" env:"KGATE_TOKENS_WHEN_FULL"`
}

// Login limits successful logins (POST /login) per user: a token bucket
// refilling at PerUserPerMinute up to PerUserBurst; beyond, 429.
type Login struct {
	PerUserPerMinute float64 `yaml:"per_user_per_minute" env:"KGATE_LOGIN_PER_USER_PER_MINUTE"`
	PerUserBurst     int     `yaml:"per_user_burst" env:"KGATE_LOGIN_PER_USER_BURST"`
}

// HTTPS configures the TLS listener.
type HTTPS struct {
	// Listen is the HTTPS listen address; empty disables HTTPS.
	Listen   string `yaml:"listen" env:"KGATE_HTTPS_LISTEN"`
	CertFile string `yaml:"cert_file" env:"KGATE_HTTPS_CERT_FILE"`
	KeyFile  string `yaml:"key_file" env:"KGATE_HTTPS_KEY_FILE"`
	// ClientCAFile enables client certificates verified against it.
	ClientCAFile string `yaml:"client_ca_file" env:"KGATE_HTTPS_CLIENT_CA_FILE"`
	// ClientAuth is "optional" (verify a certificate when one is sent)
	// or "require".
	ClientAuth string `yaml:"client_auth" env:"KGATE_HTTPS_CLIENT_AUTH"`
	// PrincipalFrom names the certificate field that becomes the
	// principal: cn, san_dns, san_email or san_uri.
	PrincipalFrom string `yaml:"principal_from" env:"KGATE_HTTPS_PRINCIPAL_FROM"`
	// ReloadInterval is how often the certificate files are checked for
	// changes (SIGHUP reloads at once).
	ReloadInterval Duration `yaml:"reload_interval" env:"KGATE_HTTPS_RELOAD_INTERVAL"`
}

// Limits are the default per-principal rate limits and daily quotas;
// users may override them in the users file. Zero means unlimited.
type Limits struct {
	RequestsPerSecond float64  `yaml:"requests_per_second" env:"KGATE_LIMITS_REQUESTS_PER_SECOND"`
	RequestBurst      int      `yaml:"request_burst" env:"KGATE_LIMITS_REQUEST_BURST"`
	BytesPerSecond    ByteRate `yaml:"bytes_per_second" env:"KGATE_LIMITS_BYTES_PER_SECOND"`
	ByteBurst         Bytes    `yaml:"byte_burst" env:"KGATE_LIMITS_BYTE_BURST"`
	DailyRequests     int64    `yaml:"daily_requests" env:"KGATE_LIMITS_DAILY_REQUESTS"`
	DailyBytes        Bytes    `yaml:"daily_bytes" env:"KGATE_LIMITS_DAILY_BYTES"`
	// UsageTopic keeps quota usage across restarts and replicas.
	UsageTopic string `yaml:"usage_topic" env:"KGATE_LIMITS_USAGE_TOPIC"`
	// FlushInterval is how often usage is written to the usage topic.
	FlushInterval Duration `yaml:"flush_interval" env:"KGATE_LIMITS_FLUSH_INTERVAL"`
	// IdleEviction drops a principal's rate limiter after this long
	// without requests.
	IdleEviction Duration `yaml:"idle_eviction" env:"KGATE_LIMITS_IDLE_EVICTION"`
}

// Plan is a usage plan: rates with bursts, and quotas per day, ISO week
// and month; zero means unlimited. Routes overrides the rates for a class
// of routes (produce, consume, admin): its fields that are set replace
// the plan's, with buckets of their own.
type Plan struct {
	RequestsPerSecond float64              `yaml:"requests_per_second"`
	RequestBurst      int                  `yaml:"request_burst"`
	BytesPerSecond    ByteRate             `yaml:"bytes_per_second"`
	ByteBurst         Bytes                `yaml:"byte_burst"`
	DailyRequests     int64                `yaml:"daily_requests"`
	DailyBytes        Bytes                `yaml:"daily_bytes"`
	WeeklyRequests    int64                `yaml:"weekly_requests"`
	WeeklyBytes       Bytes                `yaml:"weekly_bytes"`
	MonthlyRequests   int64                `yaml:"monthly_requests"`
	MonthlyBytes      Bytes                `yaml:"monthly_bytes"`
	Routes            map[string]PlanRates `yaml:"routes"`
}

// PlanRates are a route class's rates in a plan.
type PlanRates struct {
	RequestsPerSecond float64  `yaml:"requests_per_second"`
	RequestBurst      int      `yaml:"request_burst"`
	BytesPerSecond    ByteRate `yaml:"bytes_per_second"`
	ByteBurst         Bytes    `yaml:"byte_burst"`
}

// RouteClasses are the classes a plan's routes may override.
var RouteClasses = []string{"produce", "consume", "admin"}

// Audit configures the audit trail.
type Audit struct {
	// Topic receives one JSON record per audit event; they are also
	// logged.
	Topic string `yaml:"topic" env:"KGATE_AUDIT_TOPIC"`
	// MaxBytes caps the audit topic (its retention.bytes, set when kgate
	// creates the topic and at every start); 0 leaves it to the broker.
	MaxBytes Bytes `yaml:"max_bytes" env:"KGATE_AUDIT_MAX_BYTES"`
	// AggregateInterval folds repeated refusals of one principal from
	// one address for one reason: the first is written at once, the
	// rest of the interval as one record with their count; 0 writes
	// every one.
	AggregateInterval Duration `yaml:"aggregate_interval" env:"KGATE_AUDIT_AGGREGATE_INTERVAL"`
}

// BrokerACL configures how the permissions reach the embedded broker's
// Kafka port.
type BrokerACL struct {
	// Superuser is the name kgate itself uses on the embedded broker's
	// Kafka port; its password is kafka.sasl's, or generated into the
	// data directory.
	Superuser string `yaml:"superuser" env:"KGATE_AUTH_BROKER_SUPERUSER"`
}

func defaultAuth() Auth {
	return Auth{
		PasswordCacheTTL:  Duration(5 * time.Minute),
		FailuresPerSecond: 5,
		FailureBurst:      20,
		// A tenth of a guess per second per name: 10 at once, then one
		// every 10 s.
		UserFailuresPerSecond: 0.1,
		UserFailureBurst:      10,
		PasswordQueue:         32,
		JWT: JWT{
			Algorithm: "ES512",
			Issuer:    "kgate",
			Audience:  "kgate",
			TTL:       Duration(24 * time.Hour),
			Leeway:    Duration(5 * time.Second),
		},
		Tokens:  Tokens{Topic: "_kgate_tokens", SegmentInterval: Duration(10 * time.Minute), MaxPerUser: 100, WhenFull: "revoke_oldest"},
		APIKeys: APIKeys{Topic: "_kgate_apikeys", MaxPerUser: 20},
		Login:   Login{PerUserPerMinute: 30, PerUserBurst: 10},
		HTTPS: HTTPS{
			ClientAuth:     "optional",
			PrincipalFrom:  "cn",
			ReloadInterval: Duration(10 * time.Second),
		},
		Limits: Limits{
			UsageTopic:    "_kgate_usage",
			FlushInterval: Duration(time.Second),
			IdleEviction:  Duration(10 * time.Minute),
		},
		Audit:     Audit{Topic: "_kgate_audit", MaxBytes: 1 << 30, AggregateInterval: Duration(time.Minute)},
		BrokerACL: BrokerACL{Superuser: "kgate"},
		Kerberos:  HTTPKerberos{PrincipalToLocalRules: []string{"DEFAULT"}},
	}
}

// OpenMode reports whether kgate runs without authentication and
// authorization: no users file and no permissions file.
func (c *Config) OpenMode() bool { return c.Auth.Users == "" && c.Auth.Permissions == "" }

// Listeners returns every address kgate listens on, by key path.
func (c *Config) Listeners() map[string]string {
	ls := map[string]string{"listen": c.Listen}
	if c.Auth.HTTPS.Listen != "" {
		ls["auth.https.listen"] = c.Auth.HTTPS.Listen
	}
	if c.Embedded() {
		ls["broker_listen"] = c.BrokerListen
	}
	if c.SchemaRegistryOn() && c.SchemaRegistry.Listen != "" {
		ls["schema_registry.listen"] = c.SchemaRegistry.Listen
	}
	return ls
}

// IsLoopback reports whether a host:port listens on loopback only. An
// empty host (":8082") listens on every interface; names other than
// localhost are not trusted to stay loopback.
func IsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

var planName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

var jwtAlgorithms = []string{"ES512", "ES384", "ES256", "EdDSA", "HS512", "HS384", "HS256"}

func (c *Config) validateAuth(ps *Problems) {
	a := &c.Auth
	if c.OpenMode() {
		keys := make([]string, 0, 3)
		for k := range c.Listeners() {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if addr := c.Listeners()[k]; !IsLoopback(addr) {
				ps.Add(k, "%q is not a loopback address and no auth.permissions file is configured: "+
					"kgate refuses to serve anonymous, writable access beyond loopback; set auth.permissions "+
					"(and auth.users) or listen on 127.0.0.1", addr)
			}
		}
	}
	if a.Users != "" && a.Permissions == "" {
		ps.Add("auth.permissions", "must be set when auth.users is: without it no user has any right")
	}
	fileReadable(ps, "auth.users", a.Users)
	fileReadable(ps, "auth.permissions", a.Permissions)
	for i, p := range a.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err2 := netip.ParseAddr(p); err2 != nil {
				ps.Add(fmt.Sprintf("auth.trusted_proxies[%d]", i), "must be a CIDR such as 10.0.0.0/8 or an address, got %q", p)
			}
		}
	}
	if a.PasswordCacheTTL < 0 {
		ps.Add("auth.password_cache_ttl", "must not be negative")
	}
	if a.FailuresPerSecond <= 0 {
		ps.Add("auth.failures_per_second", "must be positive, got %v", a.FailuresPerSecond)
	}
	if a.FailureBurst < 1 {
		ps.Add("auth.failure_burst", "must be at least 1, got %d", a.FailureBurst)
	}
	if a.UserFailuresPerSecond <= 0 {
		ps.Add("auth.user_failures_per_second", "must be positive, got %v", a.UserFailuresPerSecond)
	}
	if a.UserFailureBurst < 1 {
		ps.Add("auth.user_failure_burst", "must be at least 1, got %d", a.UserFailureBurst)
	}
	if a.PasswordQueue < 1 {
		ps.Add("auth.password_queue", "must be at least 1, got %d", a.PasswordQueue)
	}
	if !slices.Contains(jwtAlgorithms, a.JWT.Algorithm) {
		ps.Add("auth.jwt.algorithm", "must be one of %s, got %q", strings.Join(jwtAlgorithms, ", "), a.JWT.Algorithm)
	}
	fileReadable(ps, "auth.jwt.key_file", a.JWT.KeyFile)
	if a.JWT.KeyFile == "" && c.DataDir == "" && a.Users != "" {
		ps.Add("auth.jwt.key_file", "must be set when there is no data_dir to generate a key into")
	}
	if a.JWT.Issuer == "" {
		ps.Add("auth.jwt.issuer", "must not be empty")
	}
	if a.JWT.Audience == "" {
		ps.Add("auth.jwt.audience", "must not be empty")
	}
	positive(ps, "auth.jwt.ttl", a.JWT.TTL)
	if a.JWT.Leeway < 0 || a.JWT.Leeway > Duration(5*time.Minute) {
		ps.Add("auth.jwt.leeway", "must be between 0 and 5m, got %s", a.JWT.Leeway)
	}
	c.validateOIDC(ps)
	if k := a.Kerberos; k.Enabled() {
		if c.OpenMode() {
			ps.Add("auth.kerberos", "needs auth.permissions (in open mode nobody is authenticated)")
		}
		Kerberos{Keytab: k.Keytab, ServicePrincipal: k.ServicePrincipal, PrincipalToLocalRules: k.PrincipalToLocalRules}.validate(ps, "auth.kerberos")
	}
	internalTopic(ps, "auth.tokens.topic", a.Tokens.Topic)
	internalTopic(ps, "auth.api_keys.topic", a.APIKeys.Topic)
	if a.APIKeys.MaxPerUser < 1 {
		ps.Add("auth.api_keys.max_per_user", "must be at least 1, got %d", a.APIKeys.MaxPerUser)
	}
	if a.APIKeys.MaxTTL < 0 {
		ps.Add("auth.api_keys.max_ttl", "must not be negative (0: no bound)")
	}
	positive(ps, "auth.tokens.segment_interval", a.Tokens.SegmentInterval)
	if a.Tokens.MaxPerUser < 1 {
		ps.Add("auth.tokens.max_per_user", "must be at least 1, got %d", a.Tokens.MaxPerUser)
	}
	if a.Tokens.WhenFull != "revoke_oldest" && a.Tokens.WhenFull != "refuse" {
		ps.Add("auth.tokens.when_full", "must be revoke_oldest or refuse, got %q", a.Tokens.WhenFull)
	}
	if a.Login.PerUserPerMinute <= 0 {
		ps.Add("auth.login.per_user_per_minute", "must be positive, got %v", a.Login.PerUserPerMinute)
	}
	if a.Login.PerUserBurst < 1 {
		ps.Add("auth.login.per_user_burst", "must be at least 1, got %d", a.Login.PerUserBurst)
	}
	h := a.HTTPS
	if h.Listen != "" {
		CheckHostPort(ps, "auth.https.listen", h.Listen)
		if h.CertFile == "" || h.KeyFile == "" {
			ps.Add("auth.https", "cert_file and key_file must be set with listen")
		}
		fileReadable(ps, "auth.https.cert_file", h.CertFile)
		fileReadable(ps, "auth.https.key_file", h.KeyFile)
		fileReadable(ps, "auth.https.client_ca_file", h.ClientCAFile)
		if !slices.Contains([]string{"optional", "require"}, h.ClientAuth) {
			ps.Add("auth.https.client_auth", "must be optional or require, got %q", h.ClientAuth)
		}
		if h.ClientAuth == "require" && h.ClientCAFile == "" {
			ps.Add("auth.https.client_ca_file", "must be set when client_auth is require")
		}
		if !slices.Contains([]string{"cn", "san_dns", "san_email", "san_uri"}, h.PrincipalFrom) {
			ps.Add("auth.https.principal_from", "must be cn, san_dns, san_email or san_uri, got %q", h.PrincipalFrom)
		}
		positive(ps, "auth.https.reload_interval", h.ReloadInterval)
	}
	l := a.Limits
	if l.RequestsPerSecond < 0 || l.BytesPerSecond < 0 || l.RequestBurst < 0 || l.ByteBurst < 0 || l.DailyRequests < 0 || l.DailyBytes < 0 {
		ps.Add("auth.limits", "limits must not be negative (0 means unlimited)")
	}
	internalTopic(ps, "auth.limits.usage_topic", l.UsageTopic)
	for name, p := range a.Plans {
		key := "auth.plans." + name
		if !planName.MatchString(name) {
			ps.Add(key, "plan names may hold letters, digits and . _ - only (1 to 64)")
		}
		if p.RequestsPerSecond < 0 || p.RequestBurst < 0 || p.BytesPerSecond < 0 || p.ByteBurst < 0 || p.DailyRequests < 0 || p.DailyBytes < 0 ||
			p.WeeklyRequests < 0 || p.WeeklyBytes < 0 || p.MonthlyRequests < 0 || p.MonthlyBytes < 0 {
			ps.Add(key, "limits must not be negative (0 means unlimited)")
		}
		for class, r := range p.Routes {
			if !slices.Contains(RouteClasses, class) {
				ps.Add(key+".routes."+class, "unknown route class (known: %s)", strings.Join(RouteClasses, ", "))
			}
			if r.RequestsPerSecond < 0 || r.RequestBurst < 0 || r.BytesPerSecond < 0 || r.ByteBurst < 0 {
				ps.Add(key+".routes."+class, "limits must not be negative")
			}
		}
	}
	positive(ps, "auth.limits.flush_interval", l.FlushInterval)
	positive(ps, "auth.limits.idle_eviction", l.IdleEviction)
	internalTopic(ps, "auth.audit.topic", a.Audit.Topic)
	if a.Audit.MaxBytes < 0 {
		ps.Add("auth.audit.max_bytes", "must not be negative (0: the broker's retention.bytes)")
	}
	if a.Audit.AggregateInterval < 0 {
		ps.Add("auth.audit.aggregate_interval", "must not be negative (0: no aggregation)")
	}
	if a.BrokerACL.Superuser == "" {
		ps.Add("auth.broker.superuser", "must not be empty")
	}
}

func internalTopic(ps *Problems, key, name string) {
	if name == "" || len(name) > 249 {
		ps.Add(key, "must be a topic name of 1 to 249 characters")
		return
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			ps.Add(key, "must be a topic name of [a-zA-Z0-9._-], got %q", name)
			return
		}
	}
}

func (c *Config) validateOIDC(ps *Problems) {
	seen := map[string]bool{}
	for i, o := range c.Auth.OIDC {
		key := fmt.Sprintf("auth.oidc[%d]", i)
		o = o.WithDefaults()
		if c.OpenMode() {
			ps.Add(key, "needs auth.permissions (in open mode no token is checked)")
		}
		switch {
		case o.Issuer == "":
			ps.Add(key+".issuer", "must be set")
		case o.Issuer == c.Auth.JWT.Issuer:
			ps.Add(key+".issuer", "must differ from auth.jwt.issuer (%q, kgate's own tokens)", o.Issuer)
		case seen[o.Issuer]:
			ps.Add(key+".issuer", "%q is listed twice", o.Issuer)
		default:
			issuerURL(ps, key+".issuer", o.Issuer)
		}
		seen[o.Issuer] = true
		if o.JWKSURL != "" {
			issuerURL(ps, key+".jwks_url", o.JWKSURL)
		}
		if len(o.Audiences) == 0 {
			ps.Add(key+".audiences", "must list at least one audience (a token for another service must not be accepted)")
		}
		for _, a := range o.Algorithms {
			if !slices.Contains(OIDCAlgorithms, a) {
				ps.Add(key+".algorithms", "must be of %s (never HMAC or none), got %q", strings.Join(OIDCAlgorithms, ", "), a)
			}
		}
		if o.ClockSkew < 0 || o.ClockSkew > Duration(10*time.Minute) {
			ps.Add(key+".clock_skew", "must be between 0 and 10m, got %s", o.ClockSkew)
		}
		positive(ps, key+".refresh_interval", o.RefreshInterval)
		positive(ps, key+".min_refresh_interval", o.MinRefreshInterval)
		fileReadable(ps, key+".ca_file", o.CAFile)
		if o.ConsoleClientID == "" && len(o.ConsoleScopes) > 0 {
			ps.Add(key+".console_scopes", "needs console_client_id")
		}
		if o.ConsoleClientID != "" && !oauthToken(o.ConsoleClientID) {
			ps.Add(key+".console_client_id", "must be printable ASCII without spaces, got %q", o.ConsoleClientID)
		}
		for _, sc := range o.ConsoleScopes {
			if !oauthToken(sc) {
				ps.Add(key+".console_scopes", "a scope must be printable ASCII without spaces, quotes or backslashes, got %q", sc)
			}
		}
	}
}

// oauthToken reports whether s can be an OAuth 2.0 client id or scope
// (RFC 6749 appendix A: printable ASCII; for scopes no space, quote or
// backslash, which a client id never needs either).
func oauthToken(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r > '~' || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}

// issuerURL checks that u is an https URL, or http on a loopback host.
func issuerURL(ps *Problems, key, u string) {
	p, err := url.Parse(u)
	switch {
	case err != nil || p.Host == "" || p.User != nil || p.RawQuery != "" || p.Fragment != "":
		ps.Add(key, "must be an absolute URL without credentials, query or fragment, got %q", u)
	case p.Scheme == "https":
	case p.Scheme == "http" && IsLoopback(hostWithPort(p)):
	default:
		ps.Add(key, "must be https (http only on loopback), got %q", u)
	}
}

func hostWithPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
