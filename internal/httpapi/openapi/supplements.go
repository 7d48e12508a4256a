package openapi

import "github.com/kgate/kgate/internal/httpapi"

// supplements document routes whose packages attach no Doc (the v2 API
// and the operational endpoints), by route name. Supplemented lists them;
// the tests check that each names a registered route.
var supplements = map[string]*httpapi.Doc{}

// Supplemented returns the route names this package documents itself.
func Supplemented() []string {
	out := make([]string, 0, len(supplements))
	for n := range supplements {
		out = append(out, n)
	}
	return out
}

// v2 shapes (reference/confluent-rest.md §1.2, §1.3).
type (
	V2Partition struct {
		Partition int32       `json:"partition"`
		Leader    int32       `json:"leader"`
		Replicas  []V2Replica `json:"replicas"`
	}
	V2Replica struct {
		Broker int32 `json:"broker"`
		Leader bool  `json:"leader"`
		InSync bool  `json:"in_sync"`
	}
	V2Topic struct {
		Name       string             `json:"name"`
		Configs    map[string]*string `json:"configs"`
		Partitions []V2Partition      `json:"partitions"`
	}
	V2ProduceRequest struct {
		Records []struct {
			Key       any    `json:"key,omitempty"`
			Value     any    `json:"value,omitempty"`
			Partition *int32 `json:"partition,omitempty"`
			Headers   any    `json:"headers,omitempty"`
			Timestamp any    `json:"timestamp,omitempty"`
		} `json:"records"`
		KeySchema     *string `json:"key_schema,omitempty"`
		KeySchemaID   *int    `json:"key_schema_id,omitempty"`
		ValueSchema   *string `json:"value_schema,omitempty"`
		ValueSchemaID *int    `json:"value_schema_id,omitempty"`
	}
	V2ProduceResponse struct {
		Offsets []struct {
			Partition *int32  `json:"partition"`
			Offset    *int64  `json:"offset"`
			ErrorCode *int    `json:"error_code"`
			Error     *string `json:"error"`
		} `json:"offsets"`
		KeySchemaID   *int `json:"key_schema_id"`
		ValueSchemaID *int `json:"value_schema_id"`
	}
	V2CreateConsumer struct {
		Name                     string `json:"name,omitempty"`
		ID                       string `json:"id,omitempty"`
		Format                   string `json:"format,omitempty"`
		AutoOffsetReset          string `json:"auto.offset.reset,omitempty"`
		AutoCommitEnable         string `json:"auto.commit.enable,omitempty"`
		FetchMinBytes            *int   `json:"fetch.min.bytes,omitempty"`
		ConsumerRequestTimeoutMs *int   `json:"consumer.request.timeout.ms,omitempty"`
	}
	V2TopicPartition struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
	}
	V2Partitions struct {
		Partitions []V2TopicPartition `json:"partitions"`
	}
	V2Offset struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
		Metadata  string `json:"metadata,omitempty"`
	}
	V2Seek struct {
		Offsets    []V2Offset `json:"offsets,omitempty"`
		Timestamps []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Timestamp string `json:"timestamp"`
			Metadata  string `json:"metadata,omitempty"`
		} `json:"timestamps,omitempty"`
	}
	V2Record struct {
		Topic     string `json:"topic"`
		Key       any    `json:"key"`
		Value     any    `json:"value"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}
)

func init() {
	const v2 = "application/vnd.kafka.v2+json"
	ok := func(desc string, schema any) *httpapi.Doc {
		return &httpapi.Doc{Responses: []httpapi.Response{{Status: 200, Description: desc, Body: &httpapi.Body{ContentType: v2, Schema: schema}}}}
	}
	empty := httpapi.JSONSchema{"type": "object"}
	noContent := func(req any) *httpapi.Doc {
		d := &httpapi.Doc{Responses: []httpapi.Response{{Status: 204, Description: "Done."}}}
		if req != nil {
			d.Request = &httpapi.Body{ContentType: v2, Schema: req}
		}
		return d
	}
	produce := &httpapi.Doc{
		Request: &httpapi.Body{ContentType: "application/vnd.kafka.binary.v2+json", Description: "Also application/vnd.kafka.json.v2+json (and plain application/json, taken as json).",
			Schema: V2ProduceRequest{}},
		Responses: []httpapi.Response{{Status: 200, Description: "One offset (or error) per record, in order.", Body: &httpapi.Body{ContentType: v2, Schema: V2ProduceResponse{}}}},
	}
	for name, d := range map[string]*httpapi.Doc{
		"v2.root":               ok("{}", empty),
		"v2.root.post":          ok("{}", empty),
		"v2.topics.list":        ok("Topic names.", []string{}),
		"v2.topics.get":         ok("The topic.", V2Topic{}),
		"v2.topics.produce":     produce,
		"v2.partitions.list":    ok("The partitions.", []V2Partition{}),
		"v2.partitions.get":     ok("The partition.", V2Partition{}),
		"v2.partitions.produce": produce,
		"v2.partitions.offsets": ok("The offsets.", httpapi.JSONSchema{"type": "object", "required": []string{"beginning_offset", "end_offset"},
			"properties": map[string]any{"beginning_offset": map[string]any{"type": "integer"}, "end_offset": map[string]any{"type": "integer"}}}),
		"v2.brokers.list": ok("Broker ids.", httpapi.JSONSchema{"type": "object", "properties": map[string]any{"brokers": map[string]any{"type": "array", "items": map[string]any{"type": "integer"}}}}),
		"v2.consumers.create": {Request: &httpapi.Body{ContentType: v2, Schema: V2CreateConsumer{}},
			Responses: []httpapi.Response{{Status: 200, Description: "The instance.", Body: &httpapi.Body{ContentType: v2, Schema: httpapi.JSONSchema{"type": "object",
				"properties": map[string]any{"instance_id": map[string]any{"type": "string"}, "base_uri": map[string]any{"type": "string"}}}}}}},
		"v2.consumers.delete":         noContent(nil),
		"v2.consumers.subscribe":      noContent(httpapi.JSONSchema{"type": "object", "properties": map[string]any{"topics": map[string]any{"type": "array", "items": map[string]any{"type": "string"}}, "topic_pattern": map[string]any{"type": "string"}}}),
		"v2.consumers.subscription":   ok("The subscription.", httpapi.JSONSchema{"type": "object", "properties": map[string]any{"topics": map[string]any{"type": "array", "items": map[string]any{"type": "string"}}}}),
		"v2.consumers.unsubscribe":    noContent(nil),
		"v2.consumers.assign":         noContent(V2Partitions{}),
		"v2.consumers.assignments":    ok("The assignment.", V2Partitions{}),
		"v2.consumers.seek":           noContent(V2Seek{}),
		"v2.consumers.seek_beginning": noContent(V2Partitions{}),
		"v2.consumers.seek_end":       noContent(V2Partitions{}),
		"v2.consumers.records": {
			Query: []httpapi.Param{{Name: "timeout", Description: "Milliseconds; can only shorten the instance's wait.", Schema: int64(0)}, {Name: "max_bytes", Schema: int64(0)}},
			Responses: []httpapi.Response{{Status: 200, Description: "Records, in the instance's embedded format (Accept: application/vnd.kafka.binary.v2+json or .json.v2+json).",
				Body: &httpapi.Body{ContentType: "application/vnd.kafka.binary.v2+json", Schema: []V2Record{}}}},
		},
		"v2.consumers.commit": {Request: &httpapi.Body{ContentType: v2, Description: "Optional: without a body, everything returned so far is committed.",
			Schema: httpapi.JSONSchema{"type": "object", "properties": map[string]any{"offsets": map[string]any{"type": "array", "items": V2Offset{}}}}},
			Responses: []httpapi.Response{{Status: 200, Description: "[]", Body: &httpapi.Body{ContentType: v2, Schema: httpapi.JSONSchema{"type": "array"}}}}},
		"v2.consumers.committed": {Request: &httpapi.Body{ContentType: v2, Description: "A GET with a body, as Confluent's.", Schema: V2Partitions{}},
			Responses: []httpapi.Response{{Status: 200, Description: "Committed offsets.", Body: &httpapi.Body{ContentType: v2,
				Schema: httpapi.JSONSchema{"type": "object", "properties": map[string]any{"offsets": map[string]any{"type": "array", "items": V2Offset{}}}}}}}},

		"ops.healthz": {Responses: []httpapi.Response{{Status: 200, Description: "Alive.", Body: &httpapi.Body{Schema: httpapi.JSONSchema{"type": "object", "properties": map[string]any{"status": map[string]any{"const": "ok"}}}}}}},
		"ops.readyz":  {Responses: []httpapi.Response{{Status: 200, Description: "Kafka answers.", Body: &httpapi.Body{Schema: httpapi.JSONSchema{"type": "object", "properties": map[string]any{"status": map[string]any{"const": "ready"}}}}}}},
		"ops.metrics": {Responses: []httpapi.Response{{Status: 200, Description: "Prometheus text format.", Body: &httpapi.Body{ContentType: "text/plain", Schema: httpapi.JSONSchema{"type": "string"}}}}},
	} {
		supplements[name] = d
	}
}
