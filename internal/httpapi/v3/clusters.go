package v3

import (
	"net/http"
	"strconv"

	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
)

type clusterData struct {
	Kind                   string `json:"kind"`
	Metadata               meta   `json:"metadata"`
	ClusterID              string `json:"cluster_id"`
	Controller             *rel   `json:"controller,omitempty"`
	ACLs                   rel    `json:"acls"`
	Brokers                rel    `json:"brokers"`
	BrokerConfigs          rel    `json:"broker_configs"`
	ConsumerGroups         rel    `json:"consumer_groups"`
	Topics                 rel    `json:"topics"`
	PartitionReassignments rel    `json:"partition_reassignments"`
}

func (l links) clusterData(ci kafka.ClusterInfo) clusterData {
	d := clusterData{
		Kind:                   "KafkaCluster",
		Metadata:               meta{Self: l.url(), ResourceName: l.crn()},
		ClusterID:              l.cid,
		ACLs:                   rel{l.url("acls")},
		Brokers:                rel{l.url("brokers")},
		BrokerConfigs:          rel{l.url("broker-configs")},
		ConsumerGroups:         rel{l.url("consumer-groups")},
		Topics:                 rel{l.url("topics")},
		PartitionReassignments: rel{l.url("topics", "-", "partitions", "-", "reassignment")},
	}
	if ci.Controller >= 0 {
		d.Controller = &rel{l.url("brokers", strconv.Itoa(int(ci.Controller)))}
	}
	return d
}

// listClusters answers the one cluster kgate fronts.
func (a *api) listClusters(w http.ResponseWriter, r *http.Request) error {
	ci, err := a.kc.Cluster(r.Context())
	if err != nil {
		return err
	}
	l := links{base: a.base(r), cid: ci.ClusterID}
	return writeJSON(w, http.StatusOK, newList("KafkaClusterList", l.base+"/v3/clusters", []clusterData{l.clusterData(ci)}))
}

func (a *api) getCluster(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	ci, err := a.kc.Cluster(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l.clusterData(ci))
}

type brokerData struct {
	Kind              string  `json:"kind"`
	Metadata          meta    `json:"metadata"`
	ClusterID         string  `json:"cluster_id"`
	BrokerID          int32   `json:"broker_id"`
	Host              string  `json:"host"`
	Port              int32   `json:"port"`
	Rack              *string `json:"rack,omitempty"`
	Configs           rel     `json:"configs"`
	PartitionReplicas rel     `json:"partition_replicas"`
}

func (l links) brokerData(b kafka.Broker) brokerData {
	id := strconv.Itoa(int(b.NodeID))
	return brokerData{
		Kind:              "KafkaBroker",
		Metadata:          meta{Self: l.url("brokers", id), ResourceName: l.crn("broker", id)},
		ClusterID:         l.cid,
		BrokerID:          b.NodeID,
		Host:              b.Host,
		Port:              b.Port,
		Rack:              b.Rack,
		Configs:           rel{l.url("brokers", id, "configs")},
		PartitionReplicas: rel{l.url("brokers", id, "partition-replicas")},
	}
}

func (a *api) listBrokers(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	ci, err := a.kc.Cluster(r.Context())
	if err != nil {
		return err
	}
	data := make([]brokerData, 0, len(ci.Brokers))
	for _, b := range ci.Brokers {
		data = append(data, l.brokerData(b))
	}
	return writeJSON(w, http.StatusOK, newList("KafkaBrokerList", l.url("brokers"), data))
}

// brokerParam parses {broker_id}; a non-number cannot match on Confluent
// (Jersey answers 404), nor here.
func brokerParam(r *http.Request) (int32, error) {
	id, err := strconv.ParseInt(r.PathValue("broker_id"), 10, 32)
	if err != nil || id < 0 {
		return 0, httpapi.ErrNotFound.Msg("Broker %s cannot be found.", truncate(r.PathValue("broker_id"), 64))
	}
	return int32(id), nil
}

// broker resolves {broker_id} to a live broker.
func (a *api) broker(r *http.Request) (kafka.Broker, error) {
	id, err := brokerParam(r)
	if err != nil {
		return kafka.Broker{}, err
	}
	ci, err := a.kc.Cluster(r.Context())
	if err != nil {
		return kafka.Broker{}, err
	}
	b, ok := ci.Broker(id)
	if !ok {
		return kafka.Broker{}, httpapi.ErrNotFound.Msg("Broker %d cannot be found.", id)
	}
	return b, nil
}

func (a *api) getBroker(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	b, err := a.broker(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l.brokerData(b))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
