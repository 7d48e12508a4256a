package kafka

import (
	"context"
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Broker is one broker of the cluster as its metadata describes it.
type Broker struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   *string
}

// ClusterInfo is the cluster-wide part of the metadata.
type ClusterInfo struct {
	// ClusterID is the id the brokers report ("" from very old brokers).
	ClusterID string
	// Controller is the controller's node id, -1 when unknown.
	Controller int32
	// Brokers are sorted by node id.
	Brokers []Broker
}

// Broker returns the broker with node id id.
func (ci ClusterInfo) Broker(id int32) (Broker, bool) {
	for _, b := range ci.Brokers {
		if b.NodeID == id {
			return b, true
		}
	}
	return Broker{}, false
}

// Cluster asks the cluster for its id, controller and brokers, bypassing
// every metadata cache.
func (c *Client) Cluster(ctx context.Context) (ClusterInfo, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none (nil would mean all)
	req.AllowAutoTopicCreation = false
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return ClusterInfo{}, err
	}
	ci := ClusterInfo{Controller: resp.ControllerID}
	if resp.ClusterID != nil {
		ci.ClusterID = *resp.ClusterID
	}
	if len(resp.Brokers) == 0 {
		return ClusterInfo{}, errors.New("metadata lists no brokers")
	}
	for _, b := range resp.Brokers {
		ci.Brokers = append(ci.Brokers, Broker{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	sort.Slice(ci.Brokers, func(i, j int) bool { return ci.Brokers[i].NodeID < ci.Brokers[j].NodeID })
	return ci, nil
}
