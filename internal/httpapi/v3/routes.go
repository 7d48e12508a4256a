package v3

import (
	"encoding/json"
	"net/http"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
)

// Register adds every v3 route to rr.
func Register(rr *httpapi.Router, d Deps) {
	a := newAPI(d)
	const c = "/v3/clusters/{cluster_id}"
	topic := httpapi.PathValue("topic_name")
	group := httpapi.PathValue("consumer_group_id")
	broker := httpapi.PathValue("broker_id")
	// Broker and cluster configs say how the cluster is built (listeners,
	// directories, security settings): reading them is admin's, as
	// Confluent's DESCRIBE_CONFIGS on the cluster.
	add := func(method, pattern, name string, action auth.Action, res func(*http.Request) string, summary string, doc *httpapi.Doc, h httpapi.HandlerFunc) {
		rr.Add(httpapi.Route{Method: method, Pattern: pattern, Name: name, Action: action, Resource: res,
			ErrorType: mtJSON, Summary: summary, Doc: doc, Handler: h,
			Long: name == "v3.records.stream"}) // push streams: the stream caps bound them
	}

	// Clusters and brokers.
	add("GET", "/v3/clusters", "v3.clusters.list", auth.ListBrokers, nil, "List the Kafka cluster (there is exactly one).", ok(list[clusterData]{}), a.listClusters)
	add("GET", c, "v3.clusters.get", auth.ListBrokers, nil, "Get the cluster.", ok(clusterData{}), a.getCluster)
	add("GET", c+"/brokers", "v3.brokers.list", auth.ListBrokers, nil, "List the brokers.", ok(list[brokerData]{}), a.listBrokers)
	add("GET", c+"/brokers/{broker_id}", "v3.brokers.get", auth.ShowBroker, broker, "Get a broker.", ok(brokerData{}), a.getBroker)
	add("GET", c+"/brokers/{broker_id}/partition-replicas", "v3.brokers.replicas", auth.ShowBroker, broker, "List the partition replicas a broker holds.", ok(list[replicaData]{}), a.brokerReplicas)

	// Broker and cluster configs.
	add("GET", c+"/brokers/-/configs", "v3.broker_configs.list_all", auth.Admin, nil, "List the configs of every broker.", ok(list[configData]{}), a.allBrokerConfigs)
	add("GET", c+"/brokers/{broker_id}/configs", "v3.broker_configs.list", auth.Admin, nil, "List a broker's configs.", ok(list[configData]{}), a.configsList(a.brokerConfigsTarget))
	add("GET", c+"/brokers/{broker_id}/configs/{name}", "v3.broker_configs.get", auth.Admin, nil, "Get a broker config.", ok(configData{}), a.configGet(a.brokerConfigsTarget))
	add("PUT", c+"/brokers/{broker_id}/configs/{name}", "v3.broker_configs.update", auth.Admin, nil, "Set a broker config (dynamic).", putDoc, a.configPut(a.brokerConfigsTarget))
	add("DELETE", c+"/brokers/{broker_id}/configs/{name}", "v3.broker_configs.delete", auth.Admin, nil, "Reset a broker config to its default.", noContent, a.configDelete(a.brokerConfigsTarget))
	add("POST", c+"/brokers/{broker_id}/configs:alter", "v3.broker_configs.alter", auth.Admin, nil, "Set or reset several broker configs.", alterDoc, a.configsAlter(a.brokerConfigsTarget))
	add("GET", c+"/broker-configs", "v3.cluster_configs.list", auth.Admin, nil, "List the cluster-wide (dynamic default) broker configs.", ok(list[configData]{}), a.configsList(a.clusterConfigsTarget))
	add("GET", c+"/broker-configs/{name}", "v3.cluster_configs.get", auth.Admin, nil, "Get a cluster-wide broker config.", ok(configData{}), a.configGet(a.clusterConfigsTarget))
	add("PUT", c+"/broker-configs/{name}", "v3.cluster_configs.update", auth.Admin, nil, "Set a cluster-wide broker config.", putDoc, a.configPut(a.clusterConfigsTarget))
	add("DELETE", c+"/broker-configs/{name}", "v3.cluster_configs.delete", auth.Admin, nil, "Reset a cluster-wide broker config.", noContent, a.configDelete(a.clusterConfigsTarget))
	add("POST", c+"/broker-configs:alter", "v3.cluster_configs.alter", auth.Admin, nil, "Set or reset several cluster-wide broker configs.", alterDoc, a.configsAlter(a.clusterConfigsTarget))

	// Topics.
	add("GET", c+"/topics", "v3.topics.list", auth.ListTopics, nil, "List topics.", ok(list[topicData]{}), a.listTopics)
	add("POST", c+"/topics", "v3.topics.create", auth.CreateTopic, createTopicResource,
		"Create a topic (201 and Location; 200 with validate_only). The create_topic permission applies to the body's topic_name.",
		&httpapi.Doc{
			Request: &httpapi.Body{Schema: createTopicRequest{}},
			Responses: []httpapi.Response{
				{Status: 201, Description: "The topic was created.", Body: &httpapi.Body{Schema: topicData{}},
					Header: []httpapi.Param{{Name: "Location", Description: "The topic's URL.", Schema: ""}}},
				{Status: 200, Description: "validate_only: the topic could be created.", Body: &httpapi.Body{Schema: topicData{}}},
			},
		}, a.createTopic)
	add("GET", c+"/topics/{topic_name}", "v3.topics.get", auth.ShowTopic, topic, "Get a topic.", ok(topicData{}), a.getTopic)
	add("PATCH", c+"/topics/{topic_name}", "v3.topics.update_partitions", auth.AlterConfig, topic, "Raise a topic's partition count.",
		&httpapi.Doc{Request: &httpapi.Body{Schema: partitionsCountRequest{}}, Responses: []httpapi.Response{{Status: 200, Description: "The topic.", Body: &httpapi.Body{Schema: topicData{}}}}},
		a.updatePartitions)
	add("DELETE", c+"/topics/{topic_name}", "v3.topics.delete", auth.DeleteTopic, topic, "Delete a topic.", noContent, a.deleteTopic)

	// Topic configs.
	add("GET", c+"/topics/{topic_name}/configs", "v3.topic_configs.list", auth.ShowTopic, topic, "List a topic's configs.", ok(list[configData]{}), a.configsList(a.topicConfigsTarget))
	add("GET", c+"/topics/{topic_name}/configs/{name}", "v3.topic_configs.get", auth.ShowTopic, topic, "Get a topic config.", ok(configData{}), a.configGet(a.topicConfigsTarget))
	add("PUT", c+"/topics/{topic_name}/configs/{name}", "v3.topic_configs.update", auth.AlterConfig, topic, "Set a topic config.", putDoc, a.configPut(a.topicConfigsTarget))
	add("DELETE", c+"/topics/{topic_name}/configs/{name}", "v3.topic_configs.delete", auth.AlterConfig, topic, "Reset a topic config to its default.", noContent, a.configDelete(a.topicConfigsTarget))
	add("POST", c+"/topics/{topic_name}/configs:alter", "v3.topic_configs.alter", auth.AlterConfig, topic, "Set or reset several topic configs.", alterDoc, a.configsAlter(a.topicConfigsTarget))

	// Partitions and replicas.
	const p = c + "/topics/{topic_name}/partitions"
	add("GET", p, "v3.partitions.list", auth.ShowTopic, topic, "List a topic's partitions.", ok(list[partitionData]{}), a.listPartitions)
	add("GET", p+"/{partition_id}", "v3.partitions.get", auth.ShowTopic, topic, "Get a partition.", ok(partitionData{}), a.getPartition)
	add("GET", p+"/{partition_id}/offset", "v3.partitions.offsets", auth.ShowOffsets, topic, "A partition's earliest and latest offsets.",
		&httpapi.Doc{
			Query:     []httpapi.Param{{Name: "offset_type", Description: "Only earliest_and_latest (the default).", Schema: ""}},
			Responses: []httpapi.Response{{Status: 200, Description: "The offsets.", Body: &httpapi.Body{Schema: partitionOffsetsData{}}}},
		}, a.partitionOffsets)
	add("GET", p+"/{partition_id}/replicas", "v3.replicas.list", auth.ShowTopic, topic, "List a partition's replicas.", ok(list[replicaData]{}), a.listReplicas)
	add("GET", p+"/{partition_id}/replicas/{broker_id}", "v3.replicas.get", auth.ShowTopic, topic, "Get a partition's replica on a broker.", ok(replicaData{}), a.getReplica)
	add("GET", c+"/topics/-/partitions/-/reassignment", "v3.reassignments.list_all", auth.ListTopics, nil, "List ongoing replica reassignments.", ok(list[reassignmentData]{}), a.allReassignments)
	add("GET", p+"/-/reassignment", "v3.reassignments.list", auth.ShowTopic, topic, "List a topic's ongoing replica reassignments.", ok(list[reassignmentData]{}), a.topicReassignments)
	add("GET", p+"/{partition_id}/reassignment", "v3.reassignments.get", auth.ShowTopic, topic, "Get a partition's ongoing reassignment (404 when none).", ok(reassignmentData{}), a.partitionReassignment)

	// Consumer groups (read-only).
	const g = c + "/consumer-groups"
	add("GET", g, "v3.consumer_groups.list", auth.ListGroups, nil, "List consumer groups.", ok(list[consumerGroupData]{}), a.listGroups)
	add("GET", g+"/{consumer_group_id}", "v3.consumer_groups.get", auth.ShowGroup, group, "Get a consumer group.", ok(consumerGroupData{}), a.getGroup)
	add("GET", g+"/{consumer_group_id}/consumers", "v3.consumers.list", auth.ShowGroup, group, "List a group's consumers.", ok(list[consumerData]{}), a.listConsumers)
	add("GET", g+"/{consumer_group_id}/consumers/{consumer_id}", "v3.consumers.get", auth.ShowGroup, group, "Get a consumer of a group.", ok(consumerData{}), a.getConsumer)
	add("GET", g+"/{consumer_group_id}/consumers/{consumer_id}/assignments", "v3.assignments.list", auth.ShowGroup, group, "List a consumer's assigned partitions.", ok(list[assignmentData]{}), a.listAssignments)
	add("GET", g+"/{consumer_group_id}/consumers/{consumer_id}/assignments/{topic_name}/partitions/{partition_id}", "v3.assignments.get", auth.ShowGroup, group, "Get one assignment of a consumer.", ok(assignmentData{}), a.getAssignment)
	add("GET", g+"/{consumer_group_id}/lags", "v3.lags.list", auth.ShowGroup, group, "A group's lag per partition.", ok(list[lagData]{}), a.listLags)
	add("GET", g+"/{consumer_group_id}/lags/{topic_name}/partitions/{partition_id}", "v3.lags.get", auth.ShowGroup, group, "A group's lag on one partition.", ok(lagData{}), a.getLag)
	add("GET", g+"/{consumer_group_id}/lag-summary", "v3.lag_summary.get", auth.ShowGroup, group, "A group's maximum and total lag.", ok(lagSummaryData{}), a.lagSummary)

	// ACLs.
	add("GET", c+"/acls", "v3.acls.search", auth.Admin, nil, "Search ACLs (filters default to ANY).",
		&httpapi.Doc{Query: aclQuery(false), Responses: []httpapi.Response{{Status: 200, Description: "The matching ACLs.", Body: &httpapi.Body{Schema: list[aclData]{}}}}}, a.searchACLs)
	add("POST", c+"/acls", "v3.acls.create", auth.Admin, nil, "Create an ACL (201, Location names it).",
		&httpapi.Doc{Request: &httpapi.Body{Schema: createACLRequest{}}, Responses: []httpapi.Response{{Status: 201, Description: "Created.",
			Header: []httpapi.Param{{Name: "Location", Description: "The new ACL's search URL.", Schema: ""}}}}}, a.createACL)
	add("POST", c+"/acls:batch", "v3.acls.batch", auth.Admin, nil, "Create several ACLs (204).",
		&httpapi.Doc{Request: &httpapi.Body{Schema: struct {
			Data []createACLRequest `json:"data"`
		}{}}, Responses: []httpapi.Response{{Status: 204, Description: "Created."}}}, a.batchCreateACLs)
	add("DELETE", c+"/acls", "v3.acls.delete", auth.Admin, nil, "Delete the ACLs matching a filter (all enum filters required).",
		&httpapi.Doc{Query: aclQuery(true), Responses: []httpapi.Response{{Status: 200, Description: "The deleted ACLs.", Body: &httpapi.Body{Schema: struct {
			Data []aclData `json:"data"`
		}{}}}}}, a.deleteACLs)

	// Produce.
	rr.Add(httpapi.Route{Method: "POST", Pattern: c + "/topics/{topic_name}/records", Name: "v3.records.produce",
		Action: auth.Produce, Resource: topic, Stream: true, ErrorType: mtJSON,
		Summary: "Produce a stream of records: one receipt per record, in order, written as each is acknowledged (full duplex).",
		Doc: &httpapi.Doc{
			Request: &httpapi.Body{Description: "One or more concatenated JSON records (no array, no separator needed); each at most http.max_body_bytes.",
				Schema: produceRecord{}},
			Responses: []httpapi.Response{{Status: 200, Description: "A stream of receipts, one per record, each followed by CRLF: a success, or {error_code, message}.",
				Body: &httpapi.Body{Schema: httpapi.JSONSchema{"oneOf": []any{streamSuccessSchema, errorSchema}}}}},
		},
		Handler: a.produceStream})
	add("GET", c+"/topics/{topic_name}/records/stream", "v3.records.stream", auth.Fetch, topic,
		"Push consume: a topic's records as they arrive, over Server-Sent Events (Accept: text/event-stream) or WebSocket (Upgrade: websocket; credit-based flow control). See docs/api.md, Push consume.",
		&httpapi.Doc{
			Query: []httpapi.Param{
				{Name: "format", Description: "How keys and values are shown: binary (base64, the default), json or string.", Schema: ""},
				{Name: "from", Description: "Where partitions start that nothing else places: latest (the default) or earliest.", Schema: ""},
				{Name: "offsets", Description: "Start offsets of some partitions: partition:offset pairs, comma-separated (0:15,2:7).", Schema: ""},
				{Name: "timestamp", Description: "Start each partition at its first record at or after this time (RFC 3339 or epoch milliseconds).", Schema: ""},
				{Name: "position", Description: "Resume from a position vector (an event id); the Last-Event-ID header wins over it.", Schema: ""},
				{Name: "group", Description: "Group mode: read as a member of this consumer group (needs consume on it); commits on WebSocket {\"ack\":\"<id>\"} and on an SSE resume.", Schema: ""},
				{Name: "key", Description: "Send only records with exactly this key (UTF-8).", Schema: ""},
				{Name: "header", Description: "Send only records with this header: NAME, or NAME:VALUE for an exact value; repeatable (all must match).", Schema: ""},
			},
			Responses: []httpapi.Response{
				{Status: 200, Description: "An event stream: one event per record (id: the position vector after it; data: the record), heartbeat comments, and a final `end` event saying why the stream ended.",
					Body: &httpapi.Body{ContentType: mtEventStream, Schema: ""}},
				{Status: 101, Description: "A WebSocket (subprotocol kgate.v1): the client sends {\"credit\":N}; the server sends at most that many {\"type\":\"record\"} messages, heartbeats and a final {\"type\":\"end\"} before its close frame."},
			},
		}, a.pushStream)
	rr.Add(httpapi.Route{Method: "OPTIONS", Pattern: c + "/topics/{topic_name}/records/stream", Name: "v3.records.stream.preflight",
		Public: true, ErrorType: mtJSON,
		Summary: "CORS preflight of push consume, for pages of an origin in http.allowed_origins (reading the stream with fetch() and Authorization).",
		Doc: &httpapi.Doc{Responses: []httpapi.Response{
			{Status: 204, Description: "The origin may read the stream: Access-Control-Allow-Origin, -Methods, -Headers, -Max-Age."},
			{Status: 403, Description: "The origin is not kgate's own nor in http.allowed_origins."},
		}},
		Handler: a.pushPreflight})
	add("POST", c+"/topics/{topic_name}/records:batch", "v3.records.batch", auth.Produce, topic, "Produce up to 10 records with ids; 207 with successes and failures.",
		&httpapi.Doc{
			Request: &httpapi.Body{Schema: httpapi.JSONSchema{"type": "object", "required": []string{"entries"}, "properties": map[string]any{
				"entries": map[string]any{"type": "array", "maxItems": maxBatchEntries, "items": map[string]any{"allOf": []any{
					map[string]any{"type": "object", "required": []string{"id"}, "properties": map[string]any{"id": map[string]any{"type": "string", "minLength": 1, "maxLength": 80}}},
					produceRecord{},
				}}},
			}}},
			Responses: []httpapi.Response{{Status: 207, Description: "Per-entry results.", Body: &httpapi.Body{Schema: batchResponse{}}}},
		}, a.produceBatch)
}

func ok(schema any) *httpapi.Doc {
	return &httpapi.Doc{Responses: []httpapi.Response{{Status: 200, Description: "OK", Body: &httpapi.Body{Schema: schema}}}}
}

var (
	noContent = &httpapi.Doc{Responses: []httpapi.Response{{Status: 204, Description: "Done."}}}
	putDoc    = &httpapi.Doc{Request: &httpapi.Body{Schema: updateConfigRequest{}}, Responses: []httpapi.Response{{Status: 204, Description: "Updated."}}}
	alterDoc  = &httpapi.Doc{Request: &httpapi.Body{Schema: alterConfigsRequest{}}, Responses: []httpapi.Response{{Status: 204, Description: "Altered (or validated)."}}}

	errorSchema = map[string]any{"type": "object", "required": []string{"error_code", "message"}, "properties": map[string]any{
		"error_code": map[string]any{"type": "integer"}, "message": map[string]any{"type": "string"}}}
	streamSuccessSchema = map[string]any{"type": "object", "required": []string{"error_code", "cluster_id", "topic_name", "partition_id", "offset", "timestamp"},
		"properties": map[string]any{
			"error_code": map[string]any{"const": 200}, "cluster_id": map[string]any{"type": "string"}, "topic_name": map[string]any{"type": "string"},
			"partition_id": map[string]any{"type": "integer"}, "offset": map[string]any{"type": "integer"}, "timestamp": map[string]any{"type": "string", "format": "date-time"},
			"key":   dataInfoSchema,
			"value": dataInfoSchema,
		}}
	// dataInfoSchema is a receipt's key or value part (dataInfo).
	dataInfoSchema = map[string]any{"type": "object", "properties": map[string]any{
		"type": map[string]any{"type": "string"}, "subject": map[string]any{"type": "string"}, "schema_id": map[string]any{"type": "integer"},
		"schema_version": map[string]any{"type": "integer"}, "size": map[string]any{"type": "integer"}}}
)

func aclQuery(required bool) []httpapi.Param {
	ps := []httpapi.Param{}
	for _, n := range []string{"resource_type", "resource_name", "pattern_type", "principal", "host", "operation", "permission"} {
		req := required && n != "resource_name" && n != "principal" && n != "host"
		ps = append(ps, httpapi.Param{Name: n, Required: req, Schema: ""})
	}
	return ps
}

// produceRecord documents a v3 record for the API document only; the
// record codec (internal/record) decodes records.
type produceRecord struct {
	PartitionID *int32          `json:"partition_id,omitempty"`
	Headers     []produceHeader `json:"headers,omitempty"`
	Key         *produceData    `json:"key,omitempty"`
	Value       *produceData    `json:"value,omitempty"`
	// Timestamp is ISO-8601 (RFC 3339); default: the gateway's now.
	Timestamp *string `json:"timestamp,omitempty"`
}

type produceHeader struct {
	Name string `json:"name"`
	// Value is base64; null is a header without a value.
	Value *string `json:"value"`
}

// produceData is a key or value: type BINARY (data is base64), JSON
// (any JSON value, stored as its compact serialization) or STRING (a JSON
// string, stored as UTF-8); the schema fields need a Schema Registry.
type produceData struct {
	Type                string          `json:"type,omitempty"`
	Data                json.RawMessage `json:"data,omitempty"`
	Subject             *string         `json:"subject,omitempty"`
	SubjectNameStrategy *string         `json:"subject_name_strategy,omitempty"`
	SchemaID            *int            `json:"schema_id,omitempty"`
	SchemaVersion       *int            `json:"schema_version,omitempty"`
	Schema              *string         `json:"schema,omitempty"`
}
