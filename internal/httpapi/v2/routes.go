// Package v2 serves Confluent's REST Proxy API v2: metadata, produce with
// the binary and json embedded formats, and stateful consumer instances.
// See reference/confluent-rest.md §1–3 for the contract it keeps.
package v2

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/instances"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/record"
	"github.com/kgate/kgate/internal/schemareg"
)

// Deps are what the v2 API needs.
type Deps struct {
	Kafka *kafka.Client
	// Instances holds the consumer instances; it authorizes what the
	// routes alone do not name (the topics of a subscription, a commit,
	// each record read) with the caller's rights of that moment.
	Instances *instances.Registry
	// MaxWait is the longest a records read may wait
	// (config.Config.MaxWait: under http.write_timeout).
	MaxWait time.Duration
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// AdvertisedURL, if set, is the base of consumer base_uri values.
	AdvertisedURL string
	// MaxRecords caps the records of one produce request (0: the default).
	MaxRecords int
	// Schemas is the schema registry the avro format resolves its
	// schemas with; nil: none (schema formats answer 42206).
	Schemas *schemareg.Formats
	// Audit records the schemas produces register (nil: none).
	Audit *audit.Log
	// Forward, if set, serves requests for consumer instances another
	// replica holds by forwarding them there.
	Forward Forwarder
}

// promSink counts v2's records and bytes in the api="v2" series, each
// looked up at its first use and kept (a series appears once it counts,
// as with a lookup per use, which hashed the label on every request).
type promSink struct {
	recordsProduced, bytesProduced, recordsConsumed, bytesConsumed *metrics.Child
}

func newPromSink(m *metrics.Metrics) promSink {
	if m == nil {
		return promSink{} // counts nothing (tests that only list routes)
	}
	return promSink{
		recordsProduced: metrics.NewChild(m.RecordsProduced, "v2"),
		bytesProduced:   metrics.NewChild(m.BytesProduced, "v2"),
		recordsConsumed: metrics.NewChild(m.RecordsConsumed, "v2"),
		bytesConsumed:   metrics.NewChild(m.BytesConsumed, "v2"),
	}
}

func (p promSink) produced(records, bytes int) {
	p.recordsProduced.Add(float64(records))
	p.bytesProduced.Add(float64(bytes))
}

func (p promSink) consumed(records, bytes int) {
	p.recordsConsumed.Add(float64(records))
	p.bytesConsumed.Add(float64(bytes))
}

// Register adds every v2 route to rr.
func Register(rr *httpapi.Router, d Deps) {
	sink := newPromSink(d.Metrics)
	md := metadata{kc: d.Kafka}
	pr := producer{kc: d.Kafka, m: sink, maxRecords: d.MaxRecords, schemas: d.Schemas, audit: d.Audit}
	ca := consumerAPI{reg: d.Instances, schemas: d.Schemas, cfg: d.Instances.Config(), maxWait: d.MaxWait, advertisedURL: d.AdvertisedURL, m: sink, forward: d.Forward}
	if ca.maxWait <= 0 {
		ca.maxWait = config.Default().MaxWait()
	}
	topic := httpapi.PathValue("topic")
	group := httpapi.PathValue("group")

	add := func(method, pattern, name string, action auth.Action, res func(*http.Request) string, summary string, h httpapi.HandlerFunc) {
		rt := httpapi.Route{Method: method, Pattern: pattern, Name: name, Action: action, Resource: res,
			ErrorType: mtV2, Summary: summary, Handler: h}
		if action == auth.Produce {
			rt.Forbidden = pr.forbidden
		}
		if name == "v2.consumers.records" {
			rt.Long = true // a long poll: the consumer caps bound it
		}
		rr.Add(rt)
	}
	rr.Add(httpapi.Route{Method: "GET", Pattern: "/{$}", Name: "v2.root", Public: true, ErrorType: mtV2,
		Summary: "Liveness check; answers {}.", Handler: root})
	rr.Add(httpapi.Route{Method: "POST", Pattern: "/{$}", Name: "v2.root.post", Public: true, ErrorType: mtV2,
		Summary: "Liveness check; answers {}.", Handler: root})
	add("GET", "/topics", "v2.topics.list", auth.ListTopics, nil, "List topic names.", md.listTopics)
	add("GET", "/topics/{topic}", "v2.topics.get", auth.ShowTopic, topic, "Describe a topic: configs and partitions.", md.getTopic)
	add("POST", "/topics/{topic}", "v2.topics.produce", auth.Produce, topic, "Produce records (binary or json embedded format).",
		func(w http.ResponseWriter, r *http.Request) error {
			return pr.produce(w, r, r.PathValue("topic"), record.NoPartition)
		})
	add("GET", "/topics/{topic}/partitions", "v2.partitions.list", auth.ShowTopic, topic, "List a topic's partitions.", md.listPartitions)
	add("GET", "/topics/{topic}/partitions/{partition}", "v2.partitions.get", auth.ShowTopic, topic, "Describe one partition.", md.getPartition)
	add("POST", "/topics/{topic}/partitions/{partition}", "v2.partitions.produce", auth.Produce, topic, "Produce records to one partition.",
		func(w http.ResponseWriter, r *http.Request) error {
			p, err := partitionParam(r)
			if err != nil {
				return err
			}
			return pr.produce(w, r, r.PathValue("topic"), p)
		})
	add("GET", "/topics/{topic}/partitions/{partition}/offsets", "v2.partitions.offsets", auth.ShowOffsets, topic, "A partition's beginning and end offsets.", md.partitionOffsets)
	add("GET", "/brokers", "v2.brokers.list", auth.ListBrokers, nil, "List broker ids.", md.brokers)

	const inst = "/consumers/{group}/instances/{instance}"
	add("POST", "/consumers/{group}", "v2.consumers.create", auth.Consume, group, "Create a consumer instance in a group.", ca.create)
	add("DELETE", inst, "v2.consumers.delete", auth.Consume, group, "Delete a consumer instance (it leaves the group).", ca.remove)
	add("POST", inst+"/subscription", "v2.consumers.subscribe", auth.Consume, group, "Subscribe to topics or a topic pattern.", ca.subscribe)
	add("GET", inst+"/subscription", "v2.consumers.subscription", auth.Consume, group, "The subscribed topics.", ca.getSubscription)
	add("DELETE", inst+"/subscription", "v2.consumers.unsubscribe", auth.Consume, group, "Unsubscribe.", ca.unsubscribe)
	add("POST", inst+"/assignments", "v2.consumers.assign", auth.Consume, group, "Assign partitions manually.", ca.assign)
	add("GET", inst+"/assignments", "v2.consumers.assignments", auth.Consume, group, "The assigned partitions.", ca.getAssignments)
	add("POST", inst+"/positions", "v2.consumers.seek", auth.Consume, group, "Seek partitions to offsets or timestamps.", ca.seek)
	add("POST", inst+"/positions/beginning", "v2.consumers.seek_beginning", auth.Consume, group, "Seek partitions to their beginning.", ca.seekEdge(true))
	add("POST", inst+"/positions/end", "v2.consumers.seek_end", auth.Consume, group, "Seek partitions to their end.", ca.seekEdge(false))
	add("GET", inst+"/records", "v2.consumers.records", auth.Consume, group, "Read records (long poll).", ca.records)
	add("POST", inst+"/offsets", "v2.consumers.commit", auth.Consume, group, "Commit offsets (offset+1 is stored).", ca.commit)
	add("GET", inst+"/offsets", "v2.consumers.committed", auth.Consume, group, "The group's committed offsets.", ca.getCommitted)
}
