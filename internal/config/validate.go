package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Problem is one configuration error, located by its key path and, when
// it comes from a file, by the file and line.
type Problem struct {
	File    string
	Line    int
	Key     string
	Message string
}

// String formats p as file:line: key: message, leaving out what is not
// known.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every configuration error found at once. It is an error.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, p := range ps {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Add records a problem; it is exported so that other commands' sections
// can report in the same shape.
func (ps *Problems) Add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// Err returns ps as an error, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Validate checks the whole tree and returns every problem (as Problems),
// or nil.
func (c *Config) Validate() error {
	var ps Problems
	CheckHostPort(&ps, "listen", c.Listen)
	if c.AdvertisedURL != "" {
		u, err := url.Parse(c.AdvertisedURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.Add("advertised_url", "must be an absolute http(s) URL such as http://gw1.example.com:8082, got %q", c.AdvertisedURL)
		}
	}
	for i, b := range c.Brokers {
		CheckHostPort(&ps, fmt.Sprintf("brokers[%d]", i), b)
	}
	if c.Embedded() {
		if c.DataDir == "" {
			ps.Add("data_dir", "must be set when the embedded broker runs (no brokers configured)")
		}
		CheckHostPort(&ps, "broker_listen", c.BrokerListen)
	}
	validateSchemaRegistryURL(&ps, &c.SchemaRegistry)
	if c.SchemaRegistryOn() {
		if c.SchemaRegistry.Listen != "" {
			CheckHostPort(&ps, "schema_registry.listen", c.SchemaRegistry.Listen)
		}
		internalTopic(&ps, "schema_registry.topic", c.SchemaRegistry.Topic)
	}
	if c.DefaultPartitions < 1 {
		ps.Add("default_partitions", "must be at least 1, got %d", c.DefaultPartitions)
	}
	if c.DefaultReplicationFactor == 0 || c.DefaultReplicationFactor < -1 || c.DefaultReplicationFactor > 32767 {
		ps.Add("default_replication_factor", "must be -1 (broker default) or between 1 and 32767, got %d", c.DefaultReplicationFactor)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.Log.Level)) {
		ps.Add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if !slices.Contains([]string{"auto", "text", "json"}, strings.ToLower(c.Log.Format)) {
		ps.Add("log.format", "must be auto, text or json, got %q", c.Log.Format)
	}
	if c.HTTP.MaxBodyBytes < 1 {
		ps.Add("http.max_body_bytes", "must be positive, got %d", c.HTTP.MaxBodyBytes)
	}
	if c.HTTP.MaxHeaderBytes < 1024 {
		ps.Add("http.max_header_bytes", "must be at least 1024, got %d", c.HTTP.MaxHeaderBytes)
	}
	positive(&ps, "http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	positive(&ps, "http.read_timeout", c.HTTP.ReadTimeout)
	positive(&ps, "http.write_timeout", c.HTTP.WriteTimeout)
	positive(&ps, "http.idle_timeout", c.HTTP.IdleTimeout)
	positive(&ps, "http.shutdown_timeout", c.HTTP.ShutdownTimeout)
	for i, o := range c.HTTP.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			ps.Add(fmt.Sprintf("http.allowed_origins[%d]", i), "must be an origin such as https://console.example.com (scheme, host, optional port), got %q", o)
		}
	}
	positive(&ps, "http.record_timeout", c.HTTP.RecordTimeout)
	positive(&ps, "http.stream_max_duration", c.HTTP.StreamMaxDuration)
	positive(&ps, "http.stream_heartbeat", c.HTTP.StreamHeartbeat)
	for _, k := range []struct {
		key string
		n   int
	}{{"http.max_streams", c.HTTP.MaxStreams}, {"http.max_streams_per_principal", c.HTTP.MaxStreamsPerPrincipal}, {"http.max_records_per_request", c.HTTP.MaxRecordsPerRequest}} {
		if k.n < 1 {
			ps.Add(k.key, "must be positive, got %d", k.n)
		}
	}
	if c.HTTP.MaxStreamsPerPrincipal > c.HTTP.MaxStreams {
		ps.Add("http.max_streams_per_principal", "must not exceed http.max_streams (%d), got %d: one tenant must not take the node's streams", c.HTTP.MaxStreams, c.HTTP.MaxStreamsPerPrincipal)
	}
	if c.HTTP.MaxConcurrentRequests < 0 {
		ps.Add("http.max_concurrent_requests", "must not be negative (0 disables admission), got %d", c.HTTP.MaxConcurrentRequests)
	}
	if c.HTTP.MaxConcurrentRequests > 0 {
		if c.HTTP.MaxQueuedRequests < 0 {
			ps.Add("http.max_queued_requests", "must not be negative, got %d", c.HTTP.MaxQueuedRequests)
		}
		positive(&ps, "http.queue_timeout", c.HTTP.QueueTimeout)
	}
	if c.HTTP.MemoryBudget < 16<<20 {
		ps.Add("http.memory_budget", "must be at least 16Mi, got %d", c.HTTP.MemoryBudget)
	}
	c.Cluster.validate(&ps)
	c.Tracing.validate(&ps)
	c.Kafka.validate(&ps, "kafka")
	positive(&ps, "broker.compaction_interval", c.Broker.CompactionInterval)
	if c.Embedded() && c.Broker.ClusterID == "" {
		ps.Add("broker.cluster_id", "must not be empty")
	}
	if c.Broker.MaxConnections < 1 {
		ps.Add("broker.max_connections", "must be positive, got %d", c.Broker.MaxConnections)
	}
	if c.Broker.MaxConnectionsPerUser < 1 || c.Broker.MaxConnectionsPerUser > c.Broker.MaxConnections {
		ps.Add("broker.max_connections_per_user", "must be between 1 and broker.max_connections (%d), got %d", c.Broker.MaxConnections, c.Broker.MaxConnectionsPerUser)
	}
	if c.Broker.UserFailuresPerSecond <= 0 {
		ps.Add("broker.user_failures_per_second", "must be positive, got %v", c.Broker.UserFailuresPerSecond)
	}
	if c.Broker.UserFailureBurst < 1 {
		ps.Add("broker.user_failure_burst", "must be at least 1, got %d", c.Broker.UserFailureBurst)
	}
	if len(c.Broker.SASL.Mechanisms) == 0 {
		ps.Add("broker.sasl.mechanisms", "must name at least one of %s", strings.Join(BrokerMechanisms, ", "))
	}
	for i, m := range c.Broker.SASL.Mechanisms {
		switch {
		case !slices.Contains(BrokerMechanisms, m):
			ps.Add(fmt.Sprintf("broker.sasl.mechanisms[%d]", i), "must be one of %s (as spelled), got %q", strings.Join(BrokerMechanisms, ", "), m)
		case slices.Index(c.Broker.SASL.Mechanisms, m) < i:
			ps.Add(fmt.Sprintf("broker.sasl.mechanisms[%d]", i), "%s is listed twice", m)
		}
	}
	if slices.Contains(c.Broker.SASL.Mechanisms, "GSSAPI") && !c.Broker.SASL.Kerberos.Enabled() {
		ps.Add("broker.sasl.mechanisms", "GSSAPI needs broker.sasl.kerberos.keytab and broker.sasl.kerberos.service_principal")
	}
	c.Broker.SASL.Kerberos.validate(&ps, "broker.sasl.kerberos")
	if t := c.Broker.TLS; t.Enabled() {
		switch {
		case !c.Embedded():
			ps.Add("broker.tls", "applies to the embedded broker only (kafka.brokers is set: use kafka.tls to reach those brokers)")
		case t.CertFile == "" || t.KeyFile == "":
			ps.Add("broker.tls", "cert_file and key_file must be set together")
		default:
			fileReadable(&ps, "broker.tls.cert_file", t.CertFile)
			fileReadable(&ps, "broker.tls.key_file", t.KeyFile)
		}
	}
	positive(&ps, "consumers.instance_timeout", c.Consumers.InstanceTimeout)
	if st := c.Consumers.SessionTimeout.D(); st < 6*time.Second || st > 5*time.Minute {
		ps.Add("consumers.session_timeout", "must be between 6s and 5m (the brokers' group.min/max.session.timeout.ms defaults), got %s", st)
	}
	positive(&ps, "consumers.request_timeout", c.Consumers.RequestTimeout)
	if c.Consumers.MaxBytes < 1 {
		ps.Add("consumers.max_bytes", "must be positive, got %d", c.Consumers.MaxBytes)
	}
	if c.Consumers.FetchMinBytes < -1 || c.Consumers.FetchMinBytes > 10000000 {
		ps.Add("consumers.fetch_min_bytes", "must be between -1 and 10000000, got %d", c.Consumers.FetchMinBytes)
	}
	if c.Consumers.MaxInstances < 1 {
		ps.Add("consumers.max_instances", "must be positive, got %d", c.Consumers.MaxInstances)
	}
	for _, f := range []struct {
		key string
		v   int
	}{{"max_instances_per_principal", c.Consumers.MaxInstancesPerPrincipal}, {"max_long_polls_per_principal", c.Consumers.MaxLongPollsPerPrincipal}} {
		if f.v < 0 || f.v > c.Consumers.MaxInstances {
			ps.Add("consumers."+f.key, "must be between 0 (no bound of its own) and consumers.max_instances (%d), got %d", c.Consumers.MaxInstances, f.v)
		}
	}
	if mr, wt := c.Consumers.MaxRequestTimeout.D(), c.HTTP.WriteTimeout.D(); mr < 0 || mr > 0 && mr > wt-writeMargin(wt) {
		ps.Add("consumers.max_request_timeout", "must be 0 (derived from http.write_timeout) or positive and at most http.write_timeout less %s (%s), got %s",
			writeMargin(wt), wt-writeMargin(wt), c.Consumers.MaxRequestTimeout)
	}
	if c.Consumers.RequestTimeout.D() > c.MaxWait() {
		ps.Add("consumers.request_timeout", "must be at most the longest wait a read may have (%s: consumers.max_request_timeout, or http.write_timeout less a margin), got %s",
			c.MaxWait(), c.Consumers.RequestTimeout)
	}
	c.validateAuth(&ps)
	c.Handle.validate(&ps, "handle")
	c.Stream.validate(&ps, "stream")
	return ps.Err()
}

func (k *Kafka) validate(ps *Problems, prefix string) {
	if k.ClientID == "" {
		ps.Add(prefix+".client_id", "must not be empty")
	}
	positive(ps, prefix+".produce_timeout", k.ProduceTimeout)
	positive(ps, prefix+".metadata_max_age", k.MetadataMaxAge)
	if k.Linger < 0 {
		ps.Add(prefix+".linger", "must not be negative")
	}
	if !slices.Contains([]string{"none", "gzip", "snappy", "lz4", "zstd"}, strings.ToLower(k.Compression)) {
		ps.Add(prefix+".compression", "must be none, gzip, snappy, lz4 or zstd, got %q", k.Compression)
	}
	if k.MaxBufferedRecords < 1 {
		ps.Add(prefix+".max_buffered_records", "must be positive, got %d", k.MaxBufferedRecords)
	}
	tlsOn := k.TLS.Enabled || k.TLS.CAFile != "" || k.TLS.CertFile != "" || k.TLS.KeyFile != ""
	if tlsOn {
		fileReadable(ps, prefix+".tls.ca_file", k.TLS.CAFile)
		fileReadable(ps, prefix+".tls.cert_file", k.TLS.CertFile)
		fileReadable(ps, prefix+".tls.key_file", k.TLS.KeyFile)
		if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
			ps.Add(prefix+".tls", "cert_file and key_file must be set together")
		}
	}
	s := k.SASL
	if s.File != "" {
		fileReadable(ps, prefix+".sasl.file", s.File)
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			ps.Add(prefix+".sasl.file", "set either file or username/password, not both")
		}
		return
	}
	fileReadable(ps, prefix+".sasl.password_file", s.PasswordFile)
	if s.Mechanism == "" {
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			ps.Add(prefix+".sasl.mechanism", "must be set (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) when a username or password is")
		}
		return
	}
	if _, ok := NormalizeSASLMechanism(s.Mechanism); !ok {
		ps.Add(prefix+".sasl.mechanism", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", s.Mechanism)
	}
	if s.Username == "" {
		ps.Add(prefix+".sasl.username", "must be set with a SASL mechanism")
	}
	if s.Password == "" && s.PasswordFile == "" {
		ps.Add(prefix+".sasl.password", "must be set (or password_file) with a SASL mechanism")
	}
}

// servicePrincipal is name/host@REALM (or name@REALM): components
// without "/", "@", escapes or spaces, and a realm.
var servicePrincipal = regexp.MustCompile(`^[^/@\\\s]+(/[^/@\\\s]+)*@[^/@\\\s]+$`)

func (k Kerberos) validate(ps *Problems, prefix string) {
	if !k.Enabled() {
		return
	}
	if k.Keytab == "" {
		ps.Add(prefix+".keytab", "must be set with service_principal")
	} else if fi, err := os.Stat(k.Keytab); err != nil {
		ps.Add(prefix+".keytab", "cannot be read: %v", err)
	} else if fi.Mode().Perm()&0o004 != 0 {
		ps.Add(prefix+".keytab", "%s is readable by every user (mode %04o): it holds the service's keys; chmod 600 or 640", k.Keytab, fi.Mode().Perm())
	} else {
		fileReadable(ps, prefix+".keytab", k.Keytab)
	}
	if !servicePrincipal.MatchString(k.ServicePrincipal) {
		ps.Add(prefix+".service_principal", "must be a principal with its realm such as kafka/broker1.example.com@EXAMPLE.COM, got %q", k.ServicePrincipal)
	}
	// The rules' regular expressions are compiled when the Kafka port
	// starts (kafkaport/gssapi, which config does not import); here only
	// their shape is checked.
	if len(k.PrincipalToLocalRules) == 0 {
		ps.Add(prefix+".principal_to_local_rules", "must hold at least one rule (DEFAULT strips the service principal's realm)")
	}
	for i, r := range k.PrincipalToLocalRules {
		if r != "DEFAULT" && !strings.HasPrefix(r, "RULE:[") {
			ps.Add(fmt.Sprintf("%s.principal_to_local_rules[%d]", prefix, i), "must be DEFAULT or RULE:[n:format](match)s/from/to/g, got %q", r)
		}
	}
}

// NormalizeSASLMechanism maps the spellings kgate accepts (PLAIN,
// SCRAM-SHA-256, KastleX's scram_sha_256, ...) to Kafka's mechanism names.
func NormalizeSASLMechanism(m string) (string, bool) {
	switch strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(m), "_", "-")) {
	case "PLAIN":
		return "PLAIN", true
	case "SCRAM-SHA-256":
		return "SCRAM-SHA-256", true
	case "SCRAM-SHA-512":
		return "SCRAM-SHA-512", true
	}
	return "", false
}

// CheckHostPort records a problem unless s is host:port with a numeric
// port in range.
func CheckHostPort(ps *Problems, key, s string) {
	if s == "" {
		ps.Add(key, "must be set (host:port)")
		return
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		ps.Add(key, "must be host:port, got %q", s)
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		ps.Add(key, "port must be a number from 0 to 65535, got %q", port)
	}
}

func positive(ps *Problems, key string, d Duration) {
	if d <= 0 {
		ps.Add(key, "must be a positive duration, got %s", d)
	}
}

func fileReadable(ps *Problems, key, path string) {
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		ps.Add(key, "cannot be read: %v", err)
		return
	}
	f.Close()
}

func (c Cluster) validate(ps *Problems) {
	if u := c.AdvertisedInternalURL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			ps.Add("cluster.advertised_internal_url", "must be an absolute http or https URL, got %q", u)
		}
	}
	if !strings.HasPrefix(c.NodesTopic, "_") {
		ps.Add("cluster.nodes_topic", "must be an internal topic name starting with _, got %q", c.NodesTopic)
	}
	if !strings.HasPrefix(c.ConsumersTopic, "_") {
		ps.Add("cluster.consumers_topic", "must be an internal topic name starting with _, got %q", c.ConsumersTopic)
	}
	fileReadable(ps, "cluster.secret_file", c.SecretFile)
	positive(ps, "cluster.heartbeat_interval", c.HeartbeatInterval)
	if c.NodeTimeout < 2*c.HeartbeatInterval {
		ps.Add("cluster.node_timeout", "must be at least twice cluster.heartbeat_interval (%s), got %s", c.HeartbeatInterval.D(), c.NodeTimeout.D())
	}
	if c.DrainDelay < 0 {
		ps.Add("cluster.drain_delay", "must not be negative, got %s", c.DrainDelay.D())
	}
}

// validateSchemaRegistryURL checks kgate serve's external registry
// settings.
func validateSchemaRegistryURL(ps *Problems, sr *SchemaRegistry) {
	registryClient{URL: sr.URL, Username: sr.Username, Password: sr.Password, PasswordFile: sr.PasswordFile,
		Token: sr.Token, TokenFile: sr.TokenFile, CAFile: sr.CAFile}.validate(ps, "schema_registry")
	if sr.URL != "" && sr.Enabled != nil && *sr.Enabled {
		ps.Add("schema_registry.enabled", "cannot be true with schema_registry.url: kgate either serves its own registry or uses an external one")
	}
}

// registryClient are the settings of a client of an external registry.
type registryClient struct {
	URL                     URL
	Username                string
	Password, Token         Secret
	PasswordFile, TokenFile string
	CAFile                  string
}

// validate checks the URL and credentials, under prefix. The URL may
// carry a path (Apicurio serves Confluent's API under /apis/ccompat/v7)
// but no credentials, query or fragment: a secret in a URL ends up in
// logs.
func (rc registryClient) validate(ps *Problems, prefix string) {
	if rc.URL == "" {
		for key, set := range map[string]bool{"username": rc.Username != "", "password": rc.Password != "",
			"password_file": rc.PasswordFile != "", "token": rc.Token != "", "token_file": rc.TokenFile != "", "ca_file": rc.CAFile != ""} {
			if set {
				ps.Add(prefix+"."+key, "is only used with %s.url (an external registry)", prefix)
			}
		}
		return
	}
	u, err := url.Parse(string(rc.URL))
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		// The text is not echoed: a malformed URL may hold a password.
		ps.Add(prefix+".url", "must be an absolute http(s) URL such as https://registry.example.com:8081")
	case u.User != nil:
		ps.Add(prefix+".url", "must not hold credentials: set %[1]s.username and password (or password_file), or token (or token_file)", prefix)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		ps.Add(prefix+".url", "must not have a query or fragment, got %q", u.Scheme+"://"+u.Host+u.Path)
	default:
		CheckHostPort(ps, prefix+".url", hostPort(u))
	}
	basic := rc.Username != "" || rc.Password != "" || rc.PasswordFile != ""
	bearer := rc.Token != "" || rc.TokenFile != ""
	switch {
	case basic && bearer:
		ps.Add(prefix+".token", "cannot be set with %s.username and password: choose Basic or bearer", prefix)
	case basic && rc.Username == "":
		ps.Add(prefix+".username", "is required with %s.password or password_file", prefix)
	case basic && rc.Password == "" && rc.PasswordFile == "":
		ps.Add(prefix+".password", "is required with %s.username (or password_file)", prefix)
	}
	if rc.Password != "" && rc.PasswordFile != "" {
		ps.Add(prefix+".password_file", "cannot be set with %s.password", prefix)
	}
	if rc.Token != "" && rc.TokenFile != "" {
		ps.Add(prefix+".token_file", "cannot be set with %s.token", prefix)
	}
	fileReadable(ps, prefix+".password_file", rc.PasswordFile)
	fileReadable(ps, prefix+".token_file", rc.TokenFile)
	fileReadable(ps, prefix+".ca_file", rc.CAFile)
}

// hostPort is u's host with the scheme's default port when it has none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// validate checks the tracing settings.
func (t Tracing) validate(ps *Problems) {
	if u := t.OTLPEndpoint; u != "" {
		// The URL is not echoed: it may carry credentials.
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			ps.Add("tracing.otlp_endpoint", "must be an absolute http or https URL")
		} else if pu.User != nil {
			ps.Add("tracing.otlp_endpoint", "must not hold credentials: put them in tracing.headers_file")
		}
	}
	if t.Protocol != TracingHTTPProtobuf && t.Protocol != TracingGRPC {
		ps.Add("tracing.protocol", "must be %s or %s, got %q", TracingHTTPProtobuf, TracingGRPC, t.Protocol)
	}
	if !(t.SampleRatio >= 0 && t.SampleRatio <= 1) {
		ps.Add("tracing.sample_ratio", "must be between 0 and 1, got %v", t.SampleRatio)
	}
	if t.ServiceName == "" {
		ps.Add("tracing.service_name", "must not be empty")
	}
	if t.QueueSize < 1 {
		ps.Add("tracing.queue_size", "must be at least 1, got %d", t.QueueSize)
	}
	positive(ps, "tracing.export_interval", t.ExportInterval)
	fileReadable(ps, "tracing.headers_file", t.HeadersFile)
}
