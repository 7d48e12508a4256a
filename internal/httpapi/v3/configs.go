package v3

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kgate/kgate/internal/httpapi"
)

// configData is Confluent's ConfigData: one of topic_name, broker_id or
// config_type says what the config belongs to.
type configData struct {
	Kind        string    `json:"kind"`
	Metadata    meta      `json:"metadata"`
	ClusterID   string    `json:"cluster_id"`
	TopicName   *string   `json:"topic_name,omitempty"`
	BrokerID    *int32    `json:"broker_id,omitempty"`
	ConfigType  string    `json:"config_type,omitempty"`
	Name        string    `json:"name"`
	Value       *string   `json:"value"`
	IsDefault   bool      `json:"is_default"`
	IsReadOnly  bool      `json:"is_read_only"`
	IsSensitive bool      `json:"is_sensitive"`
	Source      string    `json:"source"`
	Synonyms    []synonym `json:"synonyms"`
}

type synonym struct {
	Name   string  `json:"name"`
	Value  *string `json:"value"`
	Source string  `json:"source"`
}

// configTarget is the resource whose configs a route reads or alters.
type configTarget struct {
	typ  kmsg.ConfigResourceType
	name string // topic name, broker id, or "" for the cluster's defaults

	kind   string   // KafkaTopicConfig, KafkaBrokerConfig, KafkaClusterConfig
	topic  *string  // for topics
	broker *int32   // for brokers
	path   []string // URL segments of the config collection
	crn    []string // CRN components before config=<name>
}

func topicConfigs(topic string) configTarget {
	return configTarget{typ: kmsg.ConfigResourceTypeTopic, name: topic, kind: "KafkaTopicConfig",
		topic: &topic, path: []string{"topics", topic, "configs"}, crn: []string{"topic", topic}}
}

func brokerConfigs(id int32) configTarget {
	s := strconv.Itoa(int(id))
	return configTarget{typ: kmsg.ConfigResourceTypeBroker, name: s, kind: "KafkaBrokerConfig",
		broker: &id, path: []string{"brokers", s, "configs"}, crn: []string{"broker", s}}
}

func clusterConfigs() configTarget {
	return configTarget{typ: kmsg.ConfigResourceTypeBroker, name: "", kind: "KafkaClusterConfig",
		path: []string{"broker-configs"}}
}

func (ct configTarget) data(l links, c kmsg.DescribeConfigsResponseResourceConfig) configData {
	d := configData{
		Kind:        ct.kind,
		Metadata:    meta{Self: l.url(append(append([]string(nil), ct.path...), c.Name)...)},
		ClusterID:   l.cid,
		TopicName:   ct.topic,
		BrokerID:    ct.broker,
		Name:        c.Name,
		Value:       c.Value,
		IsDefault:   c.IsDefault || c.Source == kmsg.ConfigSourceDefaultConfig,
		IsReadOnly:  c.ReadOnly,
		IsSensitive: c.IsSensitive,
		Source:      c.Source.String(),
		Synonyms:    []synonym{},
	}
	if ct.crn != nil {
		d.Metadata.ResourceName = l.crn(append(append([]string(nil), ct.crn...), "config", c.Name)...)
	} else {
		d.ConfigType = "BROKER"
		d.Metadata.ResourceName = l.crn("broker-config", c.Name)
	}
	if c.IsSensitive {
		d.Value = nil
	}
	for _, s := range c.ConfigSynonyms {
		v := s.Value
		if c.IsSensitive {
			v = nil
		}
		d.Synonyms = append(d.Synonyms, synonym{Name: s.Name, Value: v, Source: s.Source.String()})
	}
	return d
}

// kafkaErr turns a Kafka error code with the broker's message into a
// catalog error; nil for no error.
func kafkaErr(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	if err == nil {
		return nil
	}
	return kafkaErrFrom(err, msg)
}

// describeConfigs reads the configs of ct (only names, when given),
// sorted by name.
func (a *api) describeConfigs(ctx context.Context, ct configTarget, names ...string) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType = ct.typ
	rr.ResourceName = ct.name
	if names != nil {
		rr.ConfigNames = names
	}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, a.kc.Kgo())
	if err != nil {
		return nil, err
	}
	if len(resp.Resources) != 1 {
		return nil, httpapi.ErrKafka.Msg("Kafka answered %d config resources for one.", len(resp.Resources))
	}
	res := resp.Resources[0]
	if err := kafkaErr(res.ErrorCode, res.ErrorMessage); err != nil {
		return nil, err
	}
	cs := res.Configs
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	return cs, nil
}

type alterOp struct {
	name  string
	value *string
	op    kmsg.IncrementalAlterConfigOp
}

// alterConfigs applies ops to ct with IncrementalAlterConfigs.
func (a *api) alterConfigs(ctx context.Context, ct configTarget, ops []alterOp, validateOnly bool) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType = ct.typ
	rr.ResourceName = ct.name
	for _, o := range ops {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name = o.name
		c.Op = o.op
		c.Value = o.value
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, a.kc.Kgo())
	if err != nil {
		return err
	}
	for _, res := range resp.Resources {
		if err := kafkaErr(res.ErrorCode, res.ErrorMessage); err != nil {
			return err
		}
	}
	return nil
}

// listConfigs answers a config collection.
func (a *api) listConfigs(w http.ResponseWriter, r *http.Request, l links, ct configTarget) error {
	cs, err := a.describeConfigs(r.Context(), ct)
	if err != nil {
		return err
	}
	data := make([]configData, 0, len(cs))
	for _, c := range cs {
		data = append(data, ct.data(l, c))
	}
	return writeJSON(w, http.StatusOK, newList(ct.kind+"List", l.url(ct.path...), data))
}

// getConfig answers one config; an unknown name is 404.
func (a *api) getConfig(w http.ResponseWriter, r *http.Request, l links, ct configTarget) error {
	name := r.PathValue("name")
	cs, err := a.describeConfigs(r.Context(), ct, name)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Name == name {
			return writeJSON(w, http.StatusOK, ct.data(l, c))
		}
	}
	return httpapi.ErrNotFound.Msg("Config %s cannot be found.", truncate(name, 255))
}

type updateConfigRequest struct {
	Value *string `json:"value"`
}

// putConfig sets one config (PUT .../configs/{name} {"value": "..."}).
func (a *api) putConfig(w http.ResponseWriter, r *http.Request, ct configTarget) error {
	var req updateConfigRequest
	if err := readBody(r, &req, emptyData); err != nil {
		return err
	}
	if req.Value == nil {
		return httpapi.ErrBadRequest.Msg("Bad Request: \"value\" is required; use DELETE to reset a config to its default.")
	}
	if err := a.alterConfigs(r.Context(), ct, []alterOp{{name: r.PathValue("name"), value: req.Value, op: kmsg.IncrementalAlterConfigOpSet}}, false); err != nil {
		return err
	}
	a.logger.Info("config updated", "resource", ct.kind, "resource_name", ct.name, "config", r.PathValue("name"), "principal", httpapi.Principal(r.Context()))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resetConfig resets one config to its default (DELETE .../configs/{name}).
func (a *api) resetConfig(w http.ResponseWriter, r *http.Request, ct configTarget) error {
	if err := a.alterConfigs(r.Context(), ct, []alterOp{{name: r.PathValue("name"), op: kmsg.IncrementalAlterConfigOpDelete}}, false); err != nil {
		return err
	}
	a.logger.Info("config reset", "resource", ct.kind, "resource_name", ct.name, "config", r.PathValue("name"), "principal", httpapi.Principal(r.Context()))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type alterConfigsRequest struct {
	Data []struct {
		Name      string  `json:"name"`
		Value     *string `json:"value,omitempty"`
		Operation string  `json:"operation,omitempty"`
	} `json:"data"`
	ValidateOnly bool `json:"validate_only,omitempty"`
}

// alterBatch applies several changes at once (POST .../configs:alter).
func (a *api) alterBatch(w http.ResponseWriter, r *http.Request, ct configTarget) error {
	var req alterConfigsRequest
	if err := readBody(r, &req, emptyData); err != nil {
		return err
	}
	if len(req.Data) == 0 {
		return httpapi.ErrBadRequest.Msg("Bad Request: \"data\" must list at least one config.")
	}
	ops := make([]alterOp, 0, len(req.Data))
	for i, d := range req.Data {
		if d.Name == "" {
			return httpapi.ErrBadRequest.Msg("Bad Request: data[%d].name is required.", i)
		}
		o := alterOp{name: d.Name, value: d.Value}
		switch strings.ToUpper(d.Operation) {
		case "", "SET":
			if d.Value == nil {
				return httpapi.ErrBadRequest.Msg("Bad Request: data[%d].value is required to SET %s.", i, d.Name)
			}
			o.op = kmsg.IncrementalAlterConfigOpSet
		case "DELETE":
			o.op, o.value = kmsg.IncrementalAlterConfigOpDelete, nil
		default:
			return httpapi.ErrBadRequest.Msg("Bad Request: data[%d].operation must be SET or DELETE, got %q.", i, truncate(d.Operation, 32))
		}
		ops = append(ops, o)
	}
	if err := a.alterConfigs(r.Context(), ct, ops, req.ValidateOnly); err != nil {
		return err
	}
	if !req.ValidateOnly {
		a.logger.Info("configs altered", "resource", ct.kind, "resource_name", ct.name, "count", len(ops), "principal", httpapi.Principal(r.Context()))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Route handlers: resolve the target, then share the code above.

func (a *api) topicConfigsTarget(r *http.Request) (links, configTarget, error) {
	l, err := a.cluster(r)
	if err != nil {
		return l, configTarget{}, err
	}
	t := r.PathValue("topic_name")
	if err := checkTopicName(t); err != nil {
		return l, configTarget{}, err
	}
	return l, topicConfigs(t), nil
}

func (a *api) brokerConfigsTarget(r *http.Request) (links, configTarget, error) {
	l, err := a.cluster(r)
	if err != nil {
		return l, configTarget{}, err
	}
	b, err := a.broker(r)
	if err != nil {
		return l, configTarget{}, err
	}
	return l, brokerConfigs(b.NodeID), nil
}

func (a *api) clusterConfigsTarget(r *http.Request) (links, configTarget, error) {
	l, err := a.cluster(r)
	return l, clusterConfigs(), err
}

type targetFunc func(*http.Request) (links, configTarget, error)

func (a *api) configsList(tf targetFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		l, ct, err := tf(r)
		if err != nil {
			return err
		}
		return a.listConfigs(w, r, l, ct)
	}
}

func (a *api) configGet(tf targetFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		l, ct, err := tf(r)
		if err != nil {
			return err
		}
		return a.getConfig(w, r, l, ct)
	}
}

func (a *api) configPut(tf targetFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		_, ct, err := tf(r)
		if err != nil {
			return err
		}
		return a.putConfig(w, r, ct)
	}
}

func (a *api) configDelete(tf targetFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		_, ct, err := tf(r)
		if err != nil {
			return err
		}
		return a.resetConfig(w, r, ct)
	}
}

func (a *api) configsAlter(tf targetFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		_, ct, err := tf(r)
		if err != nil {
			return err
		}
		return a.alterBatch(w, r, ct)
	}
}

// allBrokerConfigs answers GET /brokers/-/configs: every broker's configs.
func (a *api) allBrokerConfigs(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	ci, err := a.kc.Cluster(r.Context())
	if err != nil {
		return err
	}
	data := []configData{}
	for _, b := range ci.Brokers {
		ct := brokerConfigs(b.NodeID)
		cs, err := a.describeConfigs(r.Context(), ct)
		if err != nil {
			return err
		}
		for _, c := range cs {
			data = append(data, ct.data(l, c))
		}
	}
	return writeJSON(w, http.StatusOK, newList("KafkaBrokerConfigList", l.url("brokers", "-", "configs"), data))
}
