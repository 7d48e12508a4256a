// Package config holds kgate's configuration tree: defaults, the YAML file,
// the KGATE_* environment overlay, and validation that reports every problem
// at once with its key path.
//
// Precedence is flags > env > file > defaults: Default() builds the tree,
// Load decodes the file over it (unknown keys are rejected), ApplyEnv
// overlays the environment, and the command line applies its flags last.
//
// A Config is plain data; it is not safe to mutate concurrently.
package config

import (
	"slices"
	"time"
)

// Config is the whole configuration of a kgate process.
type Config struct {
	// Listen is the HTTP API's listen address.
	Listen string `yaml:"listen" env:"KGATE_LISTEN"`
	// AdvertisedURL, when set, is the scheme://host:port used for absolute
	// URLs the API returns (v2 base_uri, v3 metadata.self), instead of the
	// request's own Host.
	AdvertisedURL string `yaml:"advertised_url" env:"KGATE_ADVERTISED_URL"`
	// Brokers lists external Kafka brokers. Empty means: start the
	// embedded broker.
	Brokers []string `yaml:"brokers" env:"KGATE_BROKERS"`
	// DataDir holds the embedded broker's log and kgate's own state
	// (signing keys and the like).
	DataDir string `yaml:"data_dir" env:"KGATE_DATA_DIR"`
	// BrokerListen is the embedded broker's Kafka listener.
	BrokerListen string `yaml:"broker_listen" env:"KGATE_BROKER_LISTEN"`
	// AutoCreateTopics makes the gateway create a missing topic before it
	// produces to it. Nil means the mode's default: on with the embedded
	// broker, off with external brokers.
	AutoCreateTopics *bool `yaml:"auto_create_topics" env:"KGATE_AUTO_CREATE_TOPICS"`
	// DefaultPartitions is the partition count of topics the gateway
	// creates on its own.
	DefaultPartitions int `yaml:"default_partitions" env:"KGATE_DEFAULT_PARTITIONS"`
	// DefaultReplicationFactor is the replication factor of topics the
	// gateway creates; -1 asks the broker for its default.
	DefaultReplicationFactor int `yaml:"default_replication_factor" env:"KGATE_DEFAULT_REPLICATION_FACTOR"`

	Log       Log       `yaml:"log"`
	HTTP      HTTP      `yaml:"http"`
	Kafka     Kafka     `yaml:"kafka"`
	Broker    Broker    `yaml:"broker"`
	Consumers Consumers `yaml:"consumers"`
	Metrics   Metrics   `yaml:"metrics"`
	// SchemaRegistry configures the Confluent-compatible schema registry.
	SchemaRegistry SchemaRegistry `yaml:"schema_registry"`
	Auth           Auth           `yaml:"auth"`
	Cluster        Cluster        `yaml:"cluster"`
	Tracing        Tracing        `yaml:"tracing"`
	Handle         Handle         `yaml:"handle"`
	Stream         Stream         `yaml:"stream"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level" env:"KGATE_LOG_LEVEL"`
	// Format is auto (text on a terminal, JSON otherwise), text or json.
	Format string `yaml:"format" env:"KGATE_LOG_FORMAT"`
}

// HTTP configures the API listener.
type HTTP struct {
	// MaxBodyBytes caps request bodies; larger ones are answered 413.
	MaxBodyBytes Bytes `yaml:"max_body_bytes" env:"KGATE_HTTP_MAX_BODY_BYTES"`
	// MaxHeaderBytes caps request headers.
	MaxHeaderBytes Bytes `yaml:"max_header_bytes" env:"KGATE_HTTP_MAX_HEADER_BYTES"`
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout" env:"KGATE_HTTP_READ_HEADER_TIMEOUT"`
	// ReadTimeout bounds reading a whole request; streaming endpoints
	// extend it per record.
	ReadTimeout Duration `yaml:"read_timeout" env:"KGATE_HTTP_READ_TIMEOUT"`
	// WriteTimeout bounds writing a response; streaming endpoints extend it.
	WriteTimeout Duration `yaml:"write_timeout" env:"KGATE_HTTP_WRITE_TIMEOUT"`
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout Duration `yaml:"idle_timeout" env:"KGATE_HTTP_IDLE_TIMEOUT"`
	// ShutdownTimeout bounds draining in-flight requests on shutdown.
	ShutdownTimeout Duration `yaml:"shutdown_timeout" env:"KGATE_HTTP_SHUTDOWN_TIMEOUT"`
	// AllowedOrigins are the origins (scheme://host[:port]) whose pages
	// may send state-changing requests cross-site; browsers' other
	// cross-site POST, PUT, DELETE ... are refused (CSRF).
	AllowedOrigins []string `yaml:"allowed_origins" env:"KGATE_HTTP_ALLOWED_ORIGINS"`
	// RecordTimeout bounds receiving one record of a stream, from its
	// first byte to its last (read_timeout bounds each wait).
	RecordTimeout Duration `yaml:"record_timeout" env:"KGATE_HTTP_RECORD_TIMEOUT"`
	// StreamMaxDuration is how long one produce stream may stay open;
	// later records are answered 408 and the stream closes.
	StreamMaxDuration Duration `yaml:"stream_max_duration" env:"KGATE_HTTP_STREAM_MAX_DURATION"`
	// MaxStreams and MaxStreamsPerPrincipal bound the produce streams
	// open at once on the node and per principal, and separately the push
	// (SSE and WebSocket consume) streams.
	MaxStreams             int `yaml:"max_streams" env:"KGATE_HTTP_MAX_STREAMS"`
	MaxStreamsPerPrincipal int `yaml:"max_streams_per_principal" env:"KGATE_HTTP_MAX_STREAMS_PER_PRINCIPAL"`
	// StreamHeartbeat is how long a push stream (SSE, WebSocket) may stay
	// silent: an idle stream sends a heartbeat then, so that proxies keep
	// it open and a client that went away is noticed.
	StreamHeartbeat Duration `yaml:"stream_heartbeat" env:"KGATE_HTTP_STREAM_HEARTBEAT"`
	// MaxRecordsPerRequest caps the records of one produce request.
	MaxRecordsPerRequest int `yaml:"max_records_per_request" env:"KGATE_HTTP_MAX_RECORDS_PER_REQUEST"`
	// MemoryBudget bounds the memory all requests in flight hold at once
	// (bodies, decoded records, streams' records in flight).
	MemoryBudget Bytes `yaml:"memory_budget" env:"KGATE_HTTP_MEMORY_BUDGET"`
	// MaxConcurrentRequests bounds the requests served at once (streams
	// and probes aside); 0 disables admission. Past it requests wait in
	// a queue of MaxQueuedRequests for at most QueueTimeout, and are
	// answered 503 with Retry-After when the queue is full or the wait
	// runs out.
	MaxConcurrentRequests int      `yaml:"max_concurrent_requests" env:"KGATE_HTTP_MAX_CONCURRENT_REQUESTS"`
	MaxQueuedRequests     int      `yaml:"max_queued_requests" env:"KGATE_HTTP_MAX_QUEUED_REQUESTS"`
	QueueTimeout          Duration `yaml:"queue_timeout" env:"KGATE_HTTP_QUEUE_TIMEOUT"`
	// Console serves the built-in web console at /ui/: static files
	// embedded in the binary that call the API with the signed-in user's
	// token, so they reveal nothing the API does not.
	Console bool `yaml:"console" env:"KGATE_HTTP_CONSOLE"`
	// FastPath serves HTTP/1.1 POSTs with a Content-Length body (produce)
	// on a lean loop (one read and one write per request) and hands any
	// other connection to the standard server; off, every connection is
	// served by the standard server. TLS listeners always use the
	// standard server.
	FastPath bool `yaml:"fast_path" env:"KGATE_HTTP_FAST_PATH"`
}

// Cluster configures how kgate serve replicas in front of one Kafka
// cluster know each other.
type Cluster struct {
	// AdvertisedInternalURL is how the other replicas reach this one
	// (empty: http:// and the listen address).
	AdvertisedInternalURL string `yaml:"advertised_internal_url" env:"KGATE_CLUSTER_ADVERTISED_INTERNAL_URL"`
	// NodesTopic is the compacted topic where each replica announces
	// itself and heartbeats.
	NodesTopic string `yaml:"nodes_topic" env:"KGATE_CLUSTER_NODES_TOPIC"`
	// HeartbeatInterval is how often a replica announces itself again.
	HeartbeatInterval Duration `yaml:"heartbeat_interval" env:"KGATE_CLUSTER_HEARTBEAT_INTERVAL"`
	// NodeTimeout is how long after its last heartbeat a replica counts
	// as gone.
	NodeTimeout Duration `yaml:"node_timeout" env:"KGATE_CLUSTER_NODE_TIMEOUT"`
	// SecretFile holds the secret the replicas share for node-to-node
	// calls (forwarded v2 consumer requests). Empty: no node-to-node
	// calls: each replica serves only the instances it holds.
	SecretFile string `yaml:"secret_file" env:"KGATE_CLUSTER_SECRET_FILE"`
	// ConsumersTopic is the compacted topic holding the v2 consumer
	// instances' definitions, so that any replica can serve them.
	ConsumersTopic string `yaml:"consumers_topic" env:"KGATE_CLUSTER_CONSUMERS_TOPIC"`
	// DrainDelay is how long a replica told to stop keeps serving, with
	// /readyz answering 503, before it stops accepting connections: long
	// enough for the load balancer's health checks to take it out.
	DrainDelay Duration `yaml:"drain_delay" env:"KGATE_CLUSTER_DRAIN_DELAY"`
	// AnnounceReloads makes a SIGHUP reload on this replica reload every
	// replica (as POST /admin/reload?cluster=true does).
	AnnounceReloads bool `yaml:"announce_reloads" env:"KGATE_CLUSTER_ANNOUNCE_RELOADS"`
}

// Tracing configures OpenTelemetry tracing: spans of HTTP requests,
// produced records and consumed ones, exported over OTLP. It is off (no
// exporter, no spans) unless OTLPEndpoint is set; trace context that
// clients send is passed into produced records either way.
type Tracing struct {
	// OTLPEndpoint is the collector's OTLP base URL: for http/protobuf
	// http://127.0.0.1:4318 (spans go to its /v1/traces unless the URL
	// has a path of its own), for grpc http://127.0.0.1:4317 (https://
	// for TLS). Empty: tracing is off.
	OTLPEndpoint string `yaml:"otlp_endpoint" env:"KGATE_TRACING_OTLP_ENDPOINT"`
	// Protocol is the OTLP transport: http/protobuf or grpc.
	Protocol TracingProtocol `yaml:"protocol" env:"KGATE_TRACING_PROTOCOL"`
	// SampleRatio is the share of new traces recorded (0 to 1); a trace
	// a caller started keeps the caller's decision (parent-based).
	SampleRatio float64 `yaml:"sample_ratio" env:"KGATE_TRACING_SAMPLE_RATIO"`
	// ServiceName is the service.name of the exported spans.
	ServiceName string `yaml:"service_name" env:"KGATE_TRACING_SERVICE_NAME"`
	// HeadersFile holds headers sent with every export ("Name: value"
	// lines, such as a collector's API key); never logged.
	HeadersFile string `yaml:"headers_file" env:"KGATE_TRACING_HEADERS_FILE"`
	// QueueSize bounds the spans waiting for export; past it new spans
	// are dropped (and counted).
	QueueSize int `yaml:"queue_size" env:"KGATE_TRACING_QUEUE_SIZE"`
	// ExportInterval is how long an ended span waits at most before it
	// is exported (a full batch goes at once).
	ExportInterval Duration `yaml:"export_interval" env:"KGATE_TRACING_EXPORT_INTERVAL"`
}

// TracingProtocol is an OTLP transport.
type TracingProtocol string

// The OTLP transports: over HTTP with protobuf bodies, or over gRPC.
const (
	TracingHTTPProtobuf TracingProtocol = "http/protobuf"
	TracingGRPC         TracingProtocol = "grpc"
)

// On reports whether spans are recorded and exported.
func (t Tracing) On() bool { return t.OTLPEndpoint != "" }

// Kafka configures kgate's connection to the Kafka cluster (external or
// embedded).
type Kafka struct {
	// ClientID is the Kafka client id kgate uses.
	ClientID string `yaml:"client_id" env:"KGATE_KAFKA_CLIENT_ID"`
	TLS      TLS    `yaml:"tls"`
	SASL     SASL   `yaml:"sasl"`
	// ProduceTimeout bounds how long a produce request waits for the
	// broker's acknowledgement of every record.
	ProduceTimeout Duration `yaml:"produce_timeout" env:"KGATE_KAFKA_PRODUCE_TIMEOUT"`
	// Linger is how long the producer waits to fill a batch.
	Linger Duration `yaml:"linger" env:"KGATE_KAFKA_LINGER"`
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression" env:"KGATE_KAFKA_COMPRESSION"`
	// MaxBufferedRecords bounds records buffered in the producer.
	MaxBufferedRecords int `yaml:"max_buffered_records" env:"KGATE_KAFKA_MAX_BUFFERED_RECORDS"`
	// MetadataMaxAge is how often cached topic metadata is refreshed.
	MetadataMaxAge Duration `yaml:"metadata_max_age" env:"KGATE_KAFKA_METADATA_MAX_AGE"`
}

// TLS configures TLS to Kafka.
type TLS struct {
	Enabled            bool   `yaml:"enabled" env:"KGATE_KAFKA_TLS_ENABLED"`
	CAFile             string `yaml:"ca_file" env:"KGATE_KAFKA_TLS_CA_FILE"`
	CertFile           string `yaml:"cert_file" env:"KGATE_KAFKA_TLS_CERT_FILE"`
	KeyFile            string `yaml:"key_file" env:"KGATE_KAFKA_TLS_KEY_FILE"`
	ServerName         string `yaml:"server_name" env:"KGATE_KAFKA_TLS_SERVER_NAME"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" env:"KGATE_KAFKA_TLS_INSECURE_SKIP_VERIFY"`
}

// SASL configures SASL authentication to Kafka.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL).
	Mechanism string `yaml:"mechanism" env:"KGATE_KAFKA_SASL_MECHANISM"`
	Username  string `yaml:"username" env:"KGATE_KAFKA_SASL_USERNAME"`
	Password  Secret `yaml:"password" env:"KGATE_KAFKA_SASL_PASSWORD"`
	// PasswordFile, when set, holds the password (trailing newline trimmed).
	PasswordFile string `yaml:"password_file" env:"KGATE_KAFKA_SASL_PASSWORD_FILE"`
	// File is a KastleX-style SASL file: YAML with username, password and
	// an optional mechanism (plain, scram_sha_256, scram_sha_512).
	File string `yaml:"file" env:"KGATE_KAFKA_SASL_FILE"`
}

// Broker configures the embedded broker.
type Broker struct {
	// ClusterID is the cluster id the embedded broker reports.
	ClusterID string `yaml:"cluster_id" env:"KGATE_BROKER_CLUSTER_ID"`
	// SyncWrites fsyncs every produced batch (slower, survives power loss).
	SyncWrites bool `yaml:"sync_writes" env:"KGATE_BROKER_SYNC_WRITES"`
	// CompactionInterval is how often compacted topics are compacted
	// (the broker's log.cleaner.backoff.ms).
	CompactionInterval Duration `yaml:"compaction_interval" env:"KGATE_BROKER_COMPACTION_INTERVAL"`
	// MaxConnections bounds the Kafka port's client connections on this
	// node (kgate's own are not counted), authenticated and not yet
	// authenticated each; MaxConnectionsPerUser bounds one user's (and
	// the unauthenticated ones of one client address).
	MaxConnections        int `yaml:"max_connections" env:"KGATE_BROKER_MAX_CONNECTIONS"`
	MaxConnectionsPerUser int `yaml:"max_connections_per_user" env:"KGATE_BROKER_MAX_CONNECTIONS_PER_USER"`
	// UserFailuresPerSecond and UserFailureBurst bound failed SASL
	// logins per user on the Kafka port, whatever the address (the
	// per-address bound is auth.failures_per_second's); addresses the
	// user logged in from before are exempt.
	UserFailuresPerSecond float64 `yaml:"user_failures_per_second" env:"KGATE_BROKER_USER_FAILURES_PER_SECOND"`
	UserFailureBurst      int     `yaml:"user_failure_burst" env:"KGATE_BROKER_USER_FAILURE_BURST"`
	// SASL configures the SASL the Kafka port's guard terminates.
	SASL BrokerSASL `yaml:"sasl"`
	// TLS makes the Kafka port speak TLS only (SASL_SSL).
	TLS BrokerTLS `yaml:"tls"`
}

// BrokerTLS configures TLS on the embedded broker's Kafka port: with a
// certificate, every connection (kgate's own too) is TLS, the guard reads
// above it, and PLAIN is offered on every connection. The files are
// re-read when they change.
type BrokerTLS struct {
	CertFile string `yaml:"cert_file" env:"KGATE_BROKER_TLS_CERT_FILE"`
	KeyFile  string `yaml:"key_file" env:"KGATE_BROKER_TLS_KEY_FILE"`
}

// Enabled reports whether the Kafka port speaks TLS.
func (t BrokerTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// BrokerMechanisms are the SASL mechanisms the Kafka port can offer.
// GSSAPI is offered only with broker.sasl.kerberos configured, and then
// whether listed or not (see BrokerSASL.Offered).
var BrokerMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"}

// DefaultBrokerMechanisms are offered when broker.sasl.mechanisms is not
// set.
var DefaultBrokerMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"}

// BrokerSASL configures the Kafka port's SASL (a secured embedded broker).
type BrokerSASL struct {
	// Mechanisms are offered, in this order, in every SaslHandshake
	// response.
	Mechanisms []string `yaml:"mechanisms" env:"KGATE_BROKER_SASL_MECHANISMS"`
	// PlainOverPlaintext offers PLAIN, which sends the password in the
	// clear, on connections from other addresses than loopback too (the
	// Kafka port has no TLS).
	PlainOverPlaintext bool `yaml:"plain_over_plaintext" env:"KGATE_BROKER_SASL_PLAIN_OVER_PLAINTEXT"`
	// Kerberos configures GSSAPI.
	Kerberos Kerberos `yaml:"kerberos"`
}

// Kerberos configures the GSSAPI (Kerberos) mechanism of the Kafka port:
// the service's keys and how client principals map to kgate users.
// Kerberos users need no password in the users file.
type Kerberos struct {
	// Keytab is the path of the keytab holding ServicePrincipal's keys;
	// it must not be readable by everyone.
	Keytab string `yaml:"keytab" env:"KGATE_BROKER_SASL_KERBEROS_KEYTAB"`
	// ServicePrincipal is the broker's principal with its realm, such as
	// kafka/broker1.example.com@EXAMPLE.COM (clients ask for
	// <sasl.kerberos.service.name>/<the host they connect to>).
	ServicePrincipal string `yaml:"service_principal" env:"KGATE_BROKER_SASL_KERBEROS_SERVICE_PRINCIPAL"`
	// PrincipalToLocalRules are Kafka's
	// sasl.kerberos.principal.to.local.rules, tried in order; DEFAULT
	// strips the service principal's realm (and only that realm).
	PrincipalToLocalRules []string `yaml:"principal_to_local_rules" env:"KGATE_BROKER_SASL_KERBEROS_PRINCIPAL_TO_LOCAL_RULES"`
}

// Enabled reports whether the Kafka port offers GSSAPI.
func (k Kerberos) Enabled() bool { return k.Keytab != "" || k.ServicePrincipal != "" }

// Offered returns the mechanisms the Kafka port offers: Mechanisms, with
// GSSAPI added at the end when Kerberos is configured and dropped when it
// is not (configuring a keytab is how GSSAPI is turned on).
func (s BrokerSASL) Offered() []string {
	out := slices.DeleteFunc(slices.Clone(s.Mechanisms), func(m string) bool { return m == "GSSAPI" })
	if s.Kerberos.Enabled() {
		out = append(out, "GSSAPI")
	}
	return out
}

// Consumers configures v2 consumer instances.
type Consumers struct {
	// InstanceTimeout expires instances idle for this long.
	InstanceTimeout Duration `yaml:"instance_timeout" env:"KGATE_CONSUMERS_INSTANCE_TIMEOUT"`
	// RequestTimeout is the default long-poll wait of a records read.
	RequestTimeout Duration `yaml:"request_timeout" env:"KGATE_CONSUMERS_REQUEST_TIMEOUT"`
	// MaxBytes caps the raw key+value bytes one records read returns.
	MaxBytes Bytes `yaml:"max_bytes" env:"KGATE_CONSUMERS_MAX_BYTES"`
	// FetchMinBytes is the default fetch.min.bytes (-1 disables it).
	FetchMinBytes int `yaml:"fetch_min_bytes" env:"KGATE_CONSUMERS_FETCH_MIN_BYTES"`
	// MaxInstances bounds live instances on this node.
	MaxInstances int `yaml:"max_instances" env:"KGATE_CONSUMERS_MAX_INSTANCES"`
	// MaxInstancesPerPrincipal bounds one principal's live instances on
	// this node (0: only MaxInstances), so that one tenant cannot take
	// the node's whole allowance.
	MaxInstancesPerPrincipal int `yaml:"max_instances_per_principal" env:"KGATE_CONSUMERS_MAX_INSTANCES_PER_PRINCIPAL"`
	// MaxLongPollsPerPrincipal bounds one principal's records reads in
	// progress on this node (0: no bound but MaxInstances).
	MaxLongPollsPerPrincipal int `yaml:"max_long_polls_per_principal" env:"KGATE_CONSUMERS_MAX_LONG_POLLS_PER_PRINCIPAL"`
	// MaxRequestTimeout bounds a read's long-poll wait and the
	// consumer.request.timeout.ms an instance may ask for; 0 derives it
	// from http.write_timeout (MaxWait).
	MaxRequestTimeout Duration `yaml:"max_request_timeout" env:"KGATE_CONSUMERS_MAX_REQUEST_TIMEOUT"`
	// SessionTimeout is a subscribed instance's group session timeout:
	// how long the group waits for a member that stopped heartbeating
	// (its replica crashed) before giving its partitions to others.
	SessionTimeout Duration `yaml:"session_timeout" env:"KGATE_CONSUMERS_SESSION_TIMEOUT"`
}

// writeMargin is what a long poll leaves of http.write_timeout for
// writing its answer: a tenth, between 1 and 5 seconds.
func writeMargin(writeTimeout time.Duration) time.Duration {
	return min(max(writeTimeout/10, time.Second), 5*time.Second)
}

// MaxWait is the longest a records read may wait for records:
// consumers.max_request_timeout, or when that is 0, http.write_timeout
// less a margin for writing the answer (at least 100ms).
func (c Config) MaxWait() time.Duration {
	if c.Consumers.MaxRequestTimeout > 0 {
		return c.Consumers.MaxRequestTimeout.D()
	}
	return max(c.HTTP.WriteTimeout.D()-writeMargin(c.HTTP.WriteTimeout.D()), 100*time.Millisecond)
}

// Metrics configures the /metrics endpoint.
type Metrics struct {
	// Open serves /metrics without authentication.
	Open bool `yaml:"open" env:"KGATE_METRICS_OPEN"`
}

// SchemaRegistry configures kgate's schema registry, served on its own
// listener and under /schema-registry/ on the API listener.
type SchemaRegistry struct {
	// Enabled serves the registry. Nil means the mode's default: on with
	// the embedded broker, off with external brokers (where a Confluent
	// registry may own the topic already).
	Enabled *bool `yaml:"enabled" env:"KGATE_SCHEMA_REGISTRY_ENABLED"`
	// Listen is the registry's own listener (clients expect a registry
	// URL with no path); empty serves it only under /schema-registry/.
	Listen string `yaml:"listen" env:"KGATE_SCHEMA_REGISTRY_LISTEN"`
	// Topic is the compacted topic schemas are kept in.
	Topic string `yaml:"topic" env:"KGATE_SCHEMA_REGISTRY_TOPIC"`
	// URL points kgate at an external Confluent-compatible registry
	// (Confluent, Karapace, Redpanda, Apicurio's ccompat API, another
	// kgate): the REST formats resolve and register schemas there and
	// kgate serves no registry of its own. Credentials never go in it.
	URL URL `yaml:"url" env:"KGATE_SCHEMA_REGISTRY_URL"`
	// Username and Password (or PasswordFile) authenticate to the
	// external registry with HTTP Basic; Token (or TokenFile) with a
	// bearer token instead.
	Username     string `yaml:"username" env:"KGATE_SCHEMA_REGISTRY_USERNAME"`
	Password     Secret `yaml:"password" env:"KGATE_SCHEMA_REGISTRY_PASSWORD"`
	PasswordFile string `yaml:"password_file" env:"KGATE_SCHEMA_REGISTRY_PASSWORD_FILE"`
	Token        Secret `yaml:"token" env:"KGATE_SCHEMA_REGISTRY_TOKEN"`
	TokenFile    string `yaml:"token_file" env:"KGATE_SCHEMA_REGISTRY_TOKEN_FILE"`
	// CAFile verifies an https registry's certificate (empty: the
	// system's roots).
	CAFile string `yaml:"ca_file" env:"KGATE_SCHEMA_REGISTRY_CA_FILE"`
}

// SchemaRegistryOn reports whether kgate serves its own schema registry:
// never when schema_registry.url names an external one.
func (c *Config) SchemaRegistryOn() bool {
	if c.SchemaRegistry.URL != "" {
		return false
	}
	if c.SchemaRegistry.Enabled != nil {
		return *c.SchemaRegistry.Enabled
	}
	return c.Embedded()
}

// Default returns the configuration kgate runs with when nothing is
// configured: the HTTP API and the embedded broker on loopback.
func Default() Config {
	return Config{
		Listen:                   "127.0.0.1:8082",
		DataDir:                  "./kgate-data",
		BrokerListen:             "127.0.0.1:9092",
		DefaultPartitions:        1,
		DefaultReplicationFactor: -1,
		Log:                      Log{Level: "info", Format: "auto"},
		HTTP: HTTP{
			MaxBodyBytes:      16 << 20,
			MaxHeaderBytes:    32 << 10,
			ReadHeaderTimeout: Duration(10 * time.Second),
			ReadTimeout:       Duration(60 * time.Second),
			WriteTimeout:      Duration(60 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			ShutdownTimeout:   Duration(15 * time.Second),
			RecordTimeout:     Duration(60 * time.Second),
			// Confluent's streaming.connection.max.duration.ms.
			StreamMaxDuration:      Duration(24 * time.Hour),
			MaxStreams:             1024,
			MaxStreamsPerPrincipal: 32,
			StreamHeartbeat:        Duration(15 * time.Second),
			MaxRecordsPerRequest:   100000,
			MemoryBudget:           512 << 20,
			MaxConcurrentRequests:  1024,
			MaxQueuedRequests:      1024,
			QueueTimeout:           Duration(250 * time.Millisecond),
			Console:                true,
			FastPath:               true,
		},
		Cluster: Cluster{
			NodesTopic:        "_kgate_nodes",
			ConsumersTopic:    "_kgate_consumers",
			HeartbeatInterval: Duration(time.Second),
			NodeTimeout:       Duration(5 * time.Second),
		},
		Tracing: Tracing{
			Protocol:       TracingHTTPProtobuf,
			SampleRatio:    1,
			ServiceName:    "kgate",
			QueueSize:      2048,
			ExportInterval: Duration(5 * time.Second),
		},
		Kafka: Kafka{
			ClientID:           "kgate",
			ProduceTimeout:     Duration(30 * time.Second),
			Compression:        "none",
			MaxBufferedRecords: 100000,
			MetadataMaxAge:     Duration(30 * time.Second),
		},
		Broker: Broker{
			ClusterID:             "kgate-embedded",
			CompactionInterval:    Duration(30 * time.Second),
			MaxConnections:        1000,
			MaxConnectionsPerUser: 100,
			UserFailuresPerSecond: 1,
			UserFailureBurst:      50,
			// Kerberos's rules: Kafka's default.
			SASL: BrokerSASL{Mechanisms: slices.Clone(DefaultBrokerMechanisms), Kerberos: Kerberos{PrincipalToLocalRules: []string{"DEFAULT"}}},
		},
		Consumers: Consumers{
			InstanceTimeout: Duration(5 * time.Minute),
			SessionTimeout:  Duration(45 * time.Second),
			RequestTimeout:  Duration(time.Second),
			MaxBytes:        64 << 20,
			FetchMinBytes:   -1,
			MaxInstances:    1000,
			// A tenth of the node each: ten tenants fill it, one cannot.
			MaxInstancesPerPrincipal: 100,
			MaxLongPollsPerPrincipal: 100,
		},
		SchemaRegistry: SchemaRegistry{Listen: "127.0.0.1:8081", Topic: "_schemas"},
		Auth:           defaultAuth(),
		Handle:         DefaultHandle(),
		Stream:         DefaultStream(),
	}
}

// Embedded reports whether kgate runs its own broker (no external brokers
// are configured).
func (c *Config) Embedded() bool { return len(c.Brokers) == 0 }

// AutoCreate reports whether the gateway creates missing topics, applying
// the mode's default when auto_create_topics is unset.
func (c *Config) AutoCreate() bool {
	if c.AutoCreateTopics != nil {
		return *c.AutoCreateTopics
	}
	return c.Embedded()
}
