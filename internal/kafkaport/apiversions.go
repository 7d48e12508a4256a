package kafkaport

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AdvertiseSASLHandshakeV0 works around librdkafka (kcat, confluent-kafka)
// refusing SASL against kfake: librdkafka enables SASL only when the
// broker's ApiVersions range for SaslHandshake includes version 0, and
// kfake serves version 1 only. The fix uses kfake's public control hooks
// and copies nothing of kfake: kgate asks the broker for its ApiVersions
// once, then answers every ApiVersions request with that response, the
// SaslHandshake range widened to 0-1. librdkafka then negotiates version 1,
// which the guard answers itself (it answers v0 too: kafka-python
// sends v0 and then raw SASL tokens). Requests the copy cannot answer faithfully (a newer
// version than captured, or KIP-1242's cluster/node check) go to kfake.
// cl must be connected to the broker.
func AdvertiseSASLHandshakeV0(ctx context.Context, c *kfake.Cluster, cl *kgo.Client) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName = "kgate"
	req.ClientSoftwareVersion = "1"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("asking the embedded broker for its API versions: %w", err)
	}
	if resp.ErrorCode != 0 {
		return fmt.Errorf("asking the embedded broker for its API versions: error code %d", resp.ErrorCode)
	}
	var maxVersion int16 = -1
	for i := range resp.ApiKeys {
		k := &resp.ApiKeys[i]
		if k.ApiKey == int16(kmsg.SASLHandshake) {
			k.MinVersion = 0
		}
		if k.ApiKey == int16(kmsg.ApiVersions) {
			maxVersion = k.MaxVersion
		}
	}
	if maxVersion < 0 {
		return errors.New("the embedded broker does not list ApiVersions")
	}
	installAPIVersions(c, resp, maxVersion)
	return nil
}

// installAPIVersions registers the control function. A control function
// remembers every connection it saw, so it is replaced by a fresh one
// every so many requests to keep that memory bounded.
func installAPIVersions(c *kfake.Cluster, captured *kmsg.ApiVersionsResponse, maxVersion int16) {
	const renewEvery = 1000
	calls := 0
	c.ControlKey(int16(kmsg.ApiVersions), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req, ok := kreq.(*kmsg.ApiVersionsRequest)
		if !ok || req.Version > maxVersion || req.Version >= 5 && (req.ClusterID != nil || req.NodeID != -1) {
			return nil, nil, false
		}
		if req.Version >= 3 && (!validSoftware(req.ClientSoftwareName) || !validSoftware(req.ClientSoftwareVersion)) {
			return nil, nil, false
		}
		calls++
		if calls >= renewEvery {
			c.DropControl()
			installAPIVersions(c, captured, maxVersion)
		}
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.Version = req.Version
		resp.ApiKeys = append(resp.ApiKeys[:0], captured.ApiKeys...)
		resp.SupportedFeatures = captured.SupportedFeatures
		resp.FinalizedFeatures = captured.FinalizedFeatures
		resp.FinalizedFeaturesEpoch = captured.FinalizedFeaturesEpoch
		resp.ZkMigrationReady = captured.ZkMigrationReady
		return resp, nil, true
	})
}

// validSoftware is KIP-511's rule for client software names and versions.
func validSoftware(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' && c != '.' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}
