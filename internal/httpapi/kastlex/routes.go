package kastlex

import (
	"net/http"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
)

// Register adds the KastleX routes to rr. The paths stay clear of
// KastleX's admin routes (POST /login, GET /admin/reload,
// DELETE /admin/tokens/{username}), which the authentication layer adds.
func Register(rr *httpapi.Router, d Deps) {
	a := newAPI(d)
	topic := httpapi.PathValue("topic")
	add := func(method, pattern, name string, action auth.Action, res func(*http.Request) string, summary string, doc *httpapi.Doc, h httpapi.HandlerFunc) {
		rr.Add(httpapi.Route{Method: method, Pattern: pattern, Name: name, Action: action, Resource: res,
			ErrorType: mtJSON, Summary: summary, Doc: doc, Handler: h})
	}
	for _, v := range []string{"v1", "v2"} {
		base := "/api/" + v
		v2 := v == "v2"
		add("POST", base+"/messages/{topic}", "kastlex."+v+".produce", "produce", topic,
			"Produce one message: the body is the value; the partition comes from the key (murmur2) or rotates.", produceDoc, a.produce(false))
		add("POST", base+"/messages/{topic}/{partition}", "kastlex."+v+".produce_partition", "produce", topic,
			"Produce one message to a partition.", produceDoc, a.produce(true))
		fd := fetchDoc(v2)
		add("GET", base+"/messages/{topic}/{partition}", "kastlex."+v+".fetch", "fetch", topic,
			"Fetch from a partition at the last message.", fd, a.fetch(v2))
		add("GET", base+"/messages/{topic}/{partition}/{offset}", "kastlex."+v+".fetch_offset", "fetch", topic,
			"Fetch from a partition at an offset: a number, last, latest, earliest, or negative (counted back from latest).", fd, a.fetch(v2))
		add("GET", base+"/consumers", "kastlex."+v+".consumers", "list_groups", nil, "List consumer group ids.", okDoc([]string{}), a.groups)
		if v2 {
			add("GET", base+"/consumers/{group}", "kastlex.v2.consumer", auth.ShowGroup, httpapi.PathValue("group"),
				"Describe a consumer group: members, committed offsets and lag per partition.", okDoc(v2Group{}), a.groupV2)
		} else {
			add("GET", base+"/consumers/{group}", "kastlex.v1.consumer", auth.ShowGroup, httpapi.PathValue("group"),
				"Describe a consumer group: members, committed offsets, high watermarks and maxlag.", okDoc(v1Group{}), a.groupV1)
		}
	}
	add("GET", "/api/v1/offsets/{topic}/{partition}", "kastlex.v1.offsets", auth.ShowOffsets, topic, "Resolve an offset of a partition.",
		&httpapi.Doc{
			Query: []httpapi.Param{{Name: "at", Description: "latest (default), earliest, last, or a timestamp in milliseconds.", Schema: ""}},
			Responses: []httpapi.Response{{Status: 200, Description: "The offset.", Body: &httpapi.Body{Schema: struct {
				Offset int64 `json:"offset"`
			}{}}}},
		}, a.offsets)
	add("GET", "/api/v1/topics", "kastlex.v1.topics", auth.ListTopics, nil, "List topic names.", okDoc([]string{}), a.topics)
	add("GET", "/api/v1/topics/{topic}", "kastlex.v1.topic", auth.ShowTopic, topic, "Describe a topic: partitions, replicas, leader, ISR and its own configs.", okDoc(topicJSON{}), a.topic)
	add("GET", "/api/v1/brokers", "kastlex.v1.brokers", auth.ListBrokers, nil, "List brokers.", okDoc([]brokerJSON{}), a.brokers)
	add("GET", "/api/v1/brokers/{broker}", "kastlex.v1.broker", auth.ShowBroker, httpapi.PathValue("broker"), "Describe a broker.", okDoc(brokerJSON{}), a.broker)
	urpResp := func(schema any) *httpapi.Doc {
		return &httpapi.Doc{Responses: []httpapi.Response{
			{Status: 200, Description: "Under-replicated partitions.", Body: &httpapi.Body{Schema: schema}},
			{Status: 204, Description: "No partition is under-replicated."},
		}}
	}
	add("GET", "/api/v1/urp", "kastlex.v1.urps", auth.ListURPs, nil, "List under-replicated partitions of every topic.", urpResp([]urpJSON{}), a.urps)
	add("GET", "/api/v1/urp/{topic}", "kastlex.v1.urp", auth.ShowURPs, topic, "List a topic's under-replicated partitions.", urpResp(urpJSON{}), a.topicURPs)
}

func okDoc(schema any) *httpapi.Doc {
	return &httpapi.Doc{Responses: []httpapi.Response{{Status: 200, Description: "OK", Body: &httpapi.Body{Schema: schema}}}}
}

var produceDoc = &httpapi.Doc{
	Query:  []httpapi.Param{{Name: "key", Description: "The message key (absent: null key).", Schema: ""}},
	Header: []httpapi.Param{{Name: "x-message-headers", Description: "Kafka headers as a JSON object of names to values.", Schema: ""}},
	Request: &httpapi.Body{ContentType: mtBinary, Description: "The message value, byte for byte (any Content-Type is taken as binary).",
		Schema: []byte(nil)},
	Responses: []httpapi.Response{{Status: 204, Description: "Produced.", Header: []httpapi.Param{
		{Name: "x-kafka-partition", Description: "The partition written to.", Schema: int64(0)},
		{Name: "x-message-offset", Description: "The message's offset.", Schema: int64(0)},
	}}},
}

func fetchDoc(v2 bool) *httpapi.Doc {
	q := []httpapi.Param{
		{Name: "max_wait_time", Description: "Milliseconds to wait for min_bytes (default 1000, at most 30000).", Schema: int64(0)},
		{Name: "min_bytes", Description: "Bytes to wait for (default 1).", Schema: int64(0)},
		{Name: "max_bytes", Description: "Most bytes to fetch (default 100 MB, capped by consumers.max_bytes).", Schema: int64(0)},
	}
	hwm := httpapi.Param{Name: "x-high-wm-offset", Description: "The partition's high watermark.", Schema: int64(0)}
	binary := httpapi.Response{Status: 200, Description: "With Accept: application/binary, the first message's value; its metadata in x-message-* headers.",
		Body: &httpapi.Body{ContentType: mtBinary, Schema: []byte(nil)},
		Header: []httpapi.Param{hwm,
			{Name: "x-message-offset", Schema: int64(0)}, {Name: "x-message-headers", Description: "JSON object.", Schema: ""},
			{Name: "x-message-ts", Schema: int64(0)}, {Name: "x-message-ts-type", Description: ":create or :append.", Schema: ""}}}
	if v2 {
		return &httpapi.Doc{Query: q, Responses: []httpapi.Response{{Status: 200, Description: "The messages.",
			Body: &httpapi.Body{Schema: []message{}}, Header: []httpapi.Param{hwm}}, binary}}
	}
	return &httpapi.Doc{Query: q, Responses: []httpapi.Response{{Status: 200, Description: "The messages and the high watermark.",
		Body: &httpapi.Body{Schema: v1Fetch{}}}, binary}}
}
