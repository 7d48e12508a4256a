package v3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
)

type topicData struct {
	Kind                   string `json:"kind"`
	Metadata               meta   `json:"metadata"`
	ClusterID              string `json:"cluster_id"`
	TopicName              string `json:"topic_name"`
	IsInternal             bool   `json:"is_internal"`
	ReplicationFactor      int    `json:"replication_factor"`
	PartitionsCount        int    `json:"partitions_count"`
	Partitions             rel    `json:"partitions"`
	Configs                rel    `json:"configs"`
	PartitionReassignments rel    `json:"partition_reassignments"`
}

func (l links) topicData(name string, internal bool, partitions, replication int) topicData {
	return topicData{
		Kind:                   "KafkaTopic",
		Metadata:               meta{Self: l.url("topics", name), ResourceName: l.crn("topic", name)},
		ClusterID:              l.cid,
		TopicName:              name,
		IsInternal:             internal,
		ReplicationFactor:      replication,
		PartitionsCount:        partitions,
		Partitions:             rel{l.url("topics", name, "partitions")},
		Configs:                rel{l.url("topics", name, "configs")},
		PartitionReassignments: rel{l.url("topics", name, "partitions", "-", "reassignment")},
	}
}

func (l links) topicDetailData(td kadm.TopicDetail) topicData {
	rf := 0
	if p, ok := td.Partitions[0]; ok {
		rf = len(p.Replicas)
	}
	return l.topicData(td.Topic, td.IsInternal, len(td.Partitions), rf)
}

// checkTopicName refuses names Kafka cannot have: such a topic is not
// hosted here (404/40403, as a missing topic).
func checkTopicName(t string) error {
	if !kafka.ValidTopic(t) {
		return httpapi.ErrUnknownTopicPart
	}
	return nil
}

// topic loads one topic's fresh metadata; a missing topic is 404/40403.
func (a *api) topic(ctx context.Context, name string) (kadm.TopicDetail, error) {
	td, err := a.kc.Topic(ctx, name)
	if errors.Is(err, kafka.ErrUnknownTopic) {
		return kadm.TopicDetail{}, httpapi.ErrUnknownTopicPart
	}
	return td, err
}

func (a *api) listTopics(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	tds, err := a.kc.Metadata(r.Context())
	if err != nil {
		return err
	}
	names := make([]string, 0, len(tds))
	for n, td := range tds {
		if td.Err == nil && auth.Sees(r.Context(), auth.ScopeTopic, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	data := make([]topicData, 0, len(names))
	for _, n := range names {
		data = append(data, l.topicDetailData(tds[n]))
	}
	return writeJSON(w, http.StatusOK, newList("KafkaTopicList", l.url("topics"), data))
}

func (a *api) getTopic(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	td, err := a.topic(r.Context(), r.PathValue("topic_name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l.topicDetailData(td))
}

// createTopicResource names the topic a creation request is for, so that
// the create_topic permission applies to it: it reads the (small) body
// and puts it back for the handler. Past maxCreateBody, or when the body
// is not JSON with a topic_name, it names none (refused unless the
// gateway runs open).
func createTopicResource(r *http.Request) string {
	if r.Body == nil {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxCreateBody+1))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
	if err != nil || len(b) > maxCreateBody {
		return ""
	}
	var req struct {
		TopicName string `json:"topic_name"`
	}
	if json.Unmarshal(b, &req) != nil {
		return ""
	}
	return req.TopicName
}

// maxCreateBody bounds what authorization reads of a creation body.
const maxCreateBody = 64 << 10

type readCloser struct {
	io.Reader
	io.Closer
}

type createTopicRequest struct {
	TopicName           string             `json:"topic_name"`
	PartitionsCount     *int32             `json:"partitions_count,omitempty"`
	ReplicationFactor   *int16             `json:"replication_factor,omitempty"`
	ReplicasAssignments map[string][]int32 `json:"replicas_assignments,omitempty"`
	Configs             []struct {
		Name  string  `json:"name"`
		Value *string `json:"value"`
	} `json:"configs,omitempty"`
	ValidateOnly bool `json:"validate_only,omitempty"`
}

// createTopic answers 201 with Location and the topic, or 200 when the
// request only validates. Partitions and replication default to the
// broker's.
func (a *api) createTopic(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	var req createTopicRequest
	if err := readBody(r, &req, emptyData); err != nil {
		return err
	}
	if !kafka.ValidTopic(req.TopicName) {
		return httpapi.ErrPayload.Msg("Payload error. Invalid topic name.")
	}
	kt := kmsg.NewCreateTopicsRequestTopic()
	kt.Topic = req.TopicName
	kt.NumPartitions, kt.ReplicationFactor = -1, -1
	if req.PartitionsCount != nil {
		if *req.PartitionsCount < 1 {
			return httpapi.ErrBadRequest.Msg("Bad Request: partitions_count must be at least 1.")
		}
		kt.NumPartitions = *req.PartitionsCount
	}
	if req.ReplicationFactor != nil {
		if *req.ReplicationFactor < 1 {
			return httpapi.ErrBadRequest.Msg("Bad Request: replication_factor must be at least 1.")
		}
		kt.ReplicationFactor = *req.ReplicationFactor
	}
	if len(req.ReplicasAssignments) > 0 {
		// Assignments fix both counts, as on Confluent.
		kt.NumPartitions, kt.ReplicationFactor = -1, -1
		ps := make([]int, 0, len(req.ReplicasAssignments))
		for k, brokers := range req.ReplicasAssignments {
			p, err := strconv.ParseInt(k, 10, 32)
			if err != nil || p < 0 {
				return httpapi.ErrBadRequest.Msg("Bad Request: replicas_assignments keys must be partition numbers, got %q.", truncate(k, 32))
			}
			if len(brokers) == 0 {
				return httpapi.ErrBadRequest.Msg("Bad Request: replicas_assignments[%s] lists no brokers.", k)
			}
			ps = append(ps, int(p))
		}
		sort.Ints(ps)
		for _, p := range ps {
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition = int32(p)
			ra.Replicas = req.ReplicasAssignments[strconv.Itoa(p)]
			kt.ReplicaAssignment = append(kt.ReplicaAssignment, ra)
		}
	}
	for i, c := range req.Configs {
		if c.Name == "" {
			return httpapi.ErrBadRequest.Msg("Bad Request: configs[%d].name is required.", i)
		}
		kc := kmsg.NewCreateTopicsRequestTopicConfig()
		kc.Name, kc.Value = c.Name, c.Value
		kt.Configs = append(kt.Configs, kc)
	}
	kreq := kmsg.NewPtrCreateTopicsRequest()
	kreq.TimeoutMillis = 30000
	kreq.ValidateOnly = req.ValidateOnly
	kreq.Topics = append(kreq.Topics, kt)
	resp, err := kreq.RequestWith(r.Context(), a.kc.Kgo())
	if err != nil {
		return err
	}
	if len(resp.Topics) != 1 {
		return httpapi.ErrKafka.Msg("Kafka answered %d topics for one.", len(resp.Topics))
	}
	rt := resp.Topics[0]
	if err := kafkaErr(rt.ErrorCode, rt.ErrorMessage); err != nil {
		return err
	}
	parts, rf := int(rt.NumPartitions), int(rt.ReplicationFactor)
	if !req.ValidateOnly {
		a.kc.Invalidate(req.TopicName)
		a.logger.Info("topic created", "topic", req.TopicName, "partitions", parts, "principal", httpapi.Principal(r.Context()))
		if td, err := a.topic(r.Context(), req.TopicName); err == nil {
			d := l.topicDetailData(td)
			parts, rf = d.PartitionsCount, d.ReplicationFactor
		}
	}
	if parts < 0 {
		parts = 0
	}
	if rf < 0 {
		rf = 0
	}
	d := l.topicData(req.TopicName, false, parts, rf)
	w.Header().Set("Location", d.Metadata.Self)
	status := http.StatusCreated
	if req.ValidateOnly {
		status = http.StatusOK
	}
	return writeJSON(w, status, d)
}

type partitionsCountRequest struct {
	PartitionsCount *int `json:"partitions_count"`
}

// updatePartitions raises a topic's partition count (PATCH).
func (a *api) updatePartitions(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	name := r.PathValue("topic_name")
	var req partitionsCountRequest
	if err := readBody(r, &req, "Request body is empty. Partitions_count is required."); err != nil {
		return err
	}
	if req.PartitionsCount == nil {
		return httpapi.ErrPayload.Msg("Payload error. Request body is empty. Partitions_count is required.")
	}
	td, err := a.topic(r.Context(), name)
	if err != nil {
		return err
	}
	if *req.PartitionsCount != len(td.Partitions) {
		resps, err := a.kc.Admin().UpdatePartitions(r.Context(), *req.PartitionsCount, name)
		if err != nil {
			return err
		}
		if res, ok := resps[name]; ok && res.Err != nil {
			msg := res.ErrMessage
			return kafkaErrFrom(res.Err, &msg)
		}
		a.kc.Invalidate(name)
		a.logger.Info("topic partitions updated", "topic", name, "partitions", *req.PartitionsCount, "principal", httpapi.Principal(r.Context()))
		if td, err = a.topic(r.Context(), name); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, l.topicDetailData(td))
}

func kafkaErrFrom(err error, msg *string) error {
	he := httpapi.FromKafka(err)
	if msg != nil && *msg != "" && he.Status < 500 && !errors.Is(he, httpapi.ErrUnknownTopicPart) {
		he = he.Msg("%s %s", he.Message, *msg)
	}
	return he
}

func (a *api) deleteTopic(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.cluster(r); err != nil {
		return err
	}
	name := r.PathValue("topic_name")
	if err := checkTopicName(name); err != nil {
		return err
	}
	resps, err := a.kc.Admin().DeleteTopics(r.Context(), name)
	if err != nil {
		return err
	}
	if res, ok := resps[name]; ok && res.Err != nil {
		msg := res.ErrMessage
		return kafkaErrFrom(res.Err, &msg)
	}
	a.kc.Invalidate(name)
	a.logger.Info("topic deleted", "topic", name, "principal", httpapi.Principal(r.Context()))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
