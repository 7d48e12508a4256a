package kastlex

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
)

type partitionJSON struct {
	Replicas  []int32 `json:"replicas"`
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	ISR       []int32 `json:"isr"`
}

type topicJSON struct {
	Topic      string             `json:"topic"`
	Partitions []partitionJSON    `json:"partitions"`
	Config     map[string]*string `json:"config"`
}

func partitionOf(p kadm.PartitionDetail) partitionJSON {
	r := append([]int32{}, p.Replicas...)
	i := append([]int32{}, p.ISR...)
	slices.Sort(r)
	slices.Sort(i)
	return partitionJSON{Replicas: r, Partition: p.Partition, Leader: p.Leader, ISR: i}
}

func partitionsOf(td kadm.TopicDetail) []partitionJSON {
	out := []partitionJSON{}
	for _, p := range td.Partitions.Sorted() {
		out = append(out, partitionOf(p))
	}
	return out
}

// topics answers GET /api/v1/topics: every topic's name, sorted.
func (a *api) topics(w http.ResponseWriter, r *http.Request) error {
	tds, err := a.kc.Metadata(r.Context())
	if err != nil {
		return err
	}
	names := []string{}
	for n, td := range tds {
		if td.Err == nil && auth.Sees(r.Context(), auth.ScopeTopic, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return writeJSON(w, http.StatusOK, names)
}

func (a *api) topicDetail(r *http.Request) (kadm.TopicDetail, error) {
	topic, err := topicParam(r)
	if err != nil {
		return kadm.TopicDetail{}, err
	}
	td, err := a.kc.Topic(r.Context(), topic)
	if errors.Is(err, kafka.ErrUnknownTopic) {
		return kadm.TopicDetail{}, httpapi.ErrTopicNotFound.Msg("Topic %s not found.", topic)
	}
	return td, err
}

// topic answers GET /api/v1/topics/{topic}: partitions with replicas,
// leader and ISR, and the topic's configs set on the topic itself.
func (a *api) topic(w http.ResponseWriter, r *http.Request) error {
	td, err := a.topicDetail(r)
	if err != nil {
		return err
	}
	out := topicJSON{Topic: td.Topic, Partitions: partitionsOf(td), Config: map[string]*string{}}
	if rcs, err := a.kc.Admin().DescribeTopicConfigs(r.Context(), td.Topic); err == nil {
		if rc, err := rcs.On(td.Topic, nil); err == nil && rc.Err == nil {
			for _, c := range rc.Configs {
				if c.Source.String() == "DYNAMIC_TOPIC_CONFIG" {
					v := c.Value
					if c.Sensitive {
						v = nil
					}
					out.Config[c.Key] = v
				}
			}
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

type brokerJSON struct {
	Port      int32    `json:"port"`
	ID        int32    `json:"id"`
	Host      string   `json:"host"`
	Endpoints []string `json:"endpoints"`
	Rack      *string  `json:"rack,omitempty"`
}

func (a *api) brokerOf(b kafka.Broker) brokerJSON {
	return brokerJSON{Port: b.Port, ID: b.NodeID, Host: b.Host, Rack: b.Rack,
		Endpoints: []string{a.protocol + "://" + b.Host + ":" + strconv.Itoa(int(b.Port))}}
}

func (a *api) brokers(w http.ResponseWriter, r *http.Request) error {
	ci, err := a.kc.Cluster(r.Context())
	if err != nil {
		return err
	}
	out := []brokerJSON{}
	for _, b := range ci.Brokers {
		out = append(out, a.brokerOf(b))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *api) broker(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("broker"), 10, 32)
	if err != nil {
		return httpapi.ErrNotFound.Msg("Unknown broker id %s.", truncate(r.PathValue("broker"), 32))
	}
	ci, err := a.kc.Cluster(r.Context())
	if err != nil {
		return err
	}
	b, ok := ci.Broker(int32(id))
	if !ok {
		return httpapi.ErrNotFound.Msg("Unknown broker id %d.", id)
	}
	return writeJSON(w, http.StatusOK, a.brokerOf(b))
}

type urpJSON struct {
	Topic string          `json:"topic"`
	URP   []partitionJSON `json:"urp"`
}

// urpOf lists the partitions whose ISR is not all of their replicas.
func urpOf(td kadm.TopicDetail) []partitionJSON {
	var out []partitionJSON
	for _, p := range td.Partitions.Sorted() {
		pj := partitionOf(p)
		if !slices.Equal(pj.Replicas, pj.ISR) {
			out = append(out, pj)
		}
	}
	return out
}

// urps answers GET /api/v1/urp: 204 when no partition is under-replicated.
func (a *api) urps(w http.ResponseWriter, r *http.Request) error {
	tds, err := a.kc.Metadata(r.Context())
	if err != nil {
		return err
	}
	out := []urpJSON{}
	for _, td := range tds.Sorted() {
		if td.Err != nil {
			continue
		}
		if u := urpOf(td); len(u) > 0 {
			out = append(out, urpJSON{Topic: td.Topic, URP: u})
		}
	}
	if len(out) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *api) topicURPs(w http.ResponseWriter, r *http.Request) error {
	td, err := a.topicDetail(r)
	if err != nil {
		return err
	}
	u := urpOf(td)
	if len(u) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return writeJSON(w, http.StatusOK, urpJSON{Topic: td.Topic, URP: u})
}
