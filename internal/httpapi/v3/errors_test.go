package v3_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kgate/kgate/internal/testutil"
)

// TestBadInputs sends each endpoint what it must refuse and checks the
// status and error_code (Confluent's, reference §3).
func TestBadInputs(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	c := "/v3/clusters/" + cid
	setup := []exchange{
		{name: "setup topic", method: "POST", path: c + "/topics", body: `{"topic_name":"bad","partitions_count":2}`, status: 201},
	}
	for _, ex := range setup {
		resp, b := do(t, g, ex)
		check(t, ex, resp, b)
	}
	json := map[string]string{"Content-Type": "application/json"}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	cases := []exchange{
		// Clusters and brokers.
		{name: "unknown cluster", method: "GET", path: "/v3/clusters/nope", status: 404, code: 404, message: "Cluster nope cannot be found."},
		{name: "unknown cluster on topics", method: "GET", path: "/v3/clusters/nope/topics", status: 404, code: 404},
		{name: "unknown cluster on produce", method: "POST", path: "/v3/clusters/nope/topics/bad/records", body: `{}`, status: 404, code: 404},
		{name: "unknown broker", method: "GET", path: c + "/brokers/7", status: 404, code: 404},
		{name: "broker id not a number", method: "GET", path: c + "/brokers/abc", status: 404, code: 404},
		{name: "unknown broker configs", method: "GET", path: c + "/brokers/7/configs", status: 404, code: 404},
		{name: "unknown broker config", method: "GET", path: c + "/brokers/0/configs/no.such.config", status: 404, code: 404},
		{name: "broker replicas of unknown broker", method: "GET", path: c + "/brokers/9/partition-replicas", status: 404, code: 404},
		{name: "unknown cluster config", method: "GET", path: c + "/broker-configs/no.such.config", status: 404, code: 404},
		{name: "cluster config put without value", method: "PUT", path: c + "/broker-configs/log.retention.ms", body: `{}`, status: 400, code: 400},
		{name: "broker config alter bad operation", method: "POST", path: c + "/brokers/0/configs:alter", body: `{"data":[{"name":"x","operation":"APPEND","value":"1"}]}`, status: 400, code: 400},
		{name: "unknown route", method: "GET", path: c + "/nothing", status: 404, code: 404, message: "HTTP 404 Not Found"},
		{name: "wrong method", method: "POST", path: c + "/brokers", status: 405, code: 405},

		// Topics.
		{name: "get unknown topic", method: "GET", path: c + "/topics/missing", status: 404, code: 40403},
		{name: "get invalid topic name", method: "GET", path: c + "/topics/bad%20name", status: 404, code: 40403},
		{name: "create without body", method: "POST", path: c + "/topics", header: json, status: 422, code: 42206, message: "Request body is empty"},
		{name: "create null body", method: "POST", path: c + "/topics", body: `null`, status: 422, code: 42206},
		{name: "create invalid name", method: "POST", path: c + "/topics", body: `{"topic_name":"a/b"}`, status: 422, code: 42206, message: "Invalid topic name."},
		{name: "create empty name", method: "POST", path: c + "/topics", body: `{"partitions_count":1}`, status: 422, code: 42206},
		{name: "create existing", method: "POST", path: c + "/topics", body: `{"topic_name":"bad"}`, status: 400, code: 40002, message: "TOPIC_ALREADY_EXISTS"},
		{name: "create zero partitions", method: "POST", path: c + "/topics", body: `{"topic_name":"z","partitions_count":0}`, status: 400, code: 400},
		{name: "create bad assignment key", method: "POST", path: c + "/topics", body: `{"topic_name":"z","replicas_assignments":{"x":[0]}}`, status: 400, code: 400},
		{name: "create bad JSON", method: "POST", path: c + "/topics", body: `{"topic_name":`, status: 400, code: 400},
		{name: "create wrong field type", method: "POST", path: c + "/topics", body: `{"topic_name":"z","partitions_count":"two"}`, status: 400, code: 400},
		{name: "create form content type", method: "POST", path: c + "/topics", body: `{"topic_name":"z"}`, header: form, status: 415, code: 415},
		{name: "create array body", method: "POST", path: c + "/topics", body: `[]`, status: 400, code: 400},
		{name: "patch without count", method: "PATCH", path: c + "/topics/bad", body: `{}`, status: 422, code: 42206, message: "Partitions_count is required"},
		{name: "patch fewer partitions", method: "PATCH", path: c + "/topics/bad", body: `{"partitions_count":1}`, status: 400, code: 40002},
		{name: "patch unknown topic", method: "PATCH", path: c + "/topics/missing", body: `{"partitions_count":3}`, status: 404, code: 40403},
		{name: "delete unknown topic", method: "DELETE", path: c + "/topics/missing", status: 404, code: 40403},

		// Topic configs.
		{name: "configs of unknown topic", method: "GET", path: c + "/topics/missing/configs", status: 404, code: 40403},
		{name: "unknown topic config", method: "GET", path: c + "/topics/bad/configs/no.such.config", status: 404, code: 404},
		{name: "put config without body", method: "PUT", path: c + "/topics/bad/configs/retention.ms", header: json, status: 422, code: 42206},
		// Unknown config names and invalid values are the broker's to
		// refuse (40002); the embedded broker accepts them.
		{name: "alter empty data", method: "POST", path: c + "/topics/bad/configs:alter", body: `{"data":[]}`, status: 400, code: 400},
		{name: "alter set without value", method: "POST", path: c + "/topics/bad/configs:alter", body: `{"data":[{"name":"retention.ms"}]}`, status: 400, code: 400},
		{name: "alter unknown topic", method: "POST", path: c + "/topics/missing/configs:alter", body: `{"data":[{"name":"retention.ms","value":"1"}]}`, status: 404, code: 40403},

		// Partitions and replicas.
		{name: "partitions of unknown topic", method: "GET", path: c + "/topics/missing/partitions", status: 404, code: 40403},
		{name: "unknown partition", method: "GET", path: c + "/topics/bad/partitions/9", status: 404, code: 40402},
		{name: "partition not a number", method: "GET", path: c + "/topics/bad/partitions/x", status: 404, code: 40402},
		{name: "negative partition", method: "GET", path: c + "/topics/bad/partitions/-1", status: 404, code: 40402},
		{name: "bad offset_type", method: "GET", path: c + "/topics/bad/partitions/0/offset?offset_type=latest", status: 400, code: 400, message: "offset_type:latest is invalid"},
		{name: "offsets of unknown partition", method: "GET", path: c + "/topics/bad/partitions/5/offset", status: 404, code: 40402},
		{name: "unknown replica", method: "GET", path: c + "/topics/bad/partitions/0/replicas/4", status: 404, code: 404},

		// Consumer groups.
		{name: "unknown group", method: "GET", path: c + "/consumer-groups/nobody", status: 404, code: 404},
		{name: "consumers of unknown group", method: "GET", path: c + "/consumer-groups/nobody/consumers", status: 404, code: 404},
		{name: "lags of unknown group", method: "GET", path: c + "/consumer-groups/nobody/lags", status: 404, code: 404},
		{name: "lag summary of unknown group", method: "GET", path: c + "/consumer-groups/nobody/lag-summary", status: 404, code: 404},
		{name: "assignment of unknown group", method: "GET", path: c + "/consumer-groups/nobody/consumers/x/assignments", status: 404, code: 404},

		// ACLs.
		{name: "acl search bad enum", method: "GET", path: c + "/acls?resource_type=TABLE", status: 400, code: 400, message: "resource_type must be one of"},
		{name: "acl delete without filters", method: "DELETE", path: c + "/acls", status: 400, code: 400, message: "is required"},
		{name: "acl create ANY", method: "POST", path: c + "/acls", body: `{"resource_type":"ANY","resource_name":"x","pattern_type":"LITERAL","principal":"User:a","host":"*","operation":"READ","permission":"ALLOW"}`, status: 400, code: 400},
		{name: "acl create missing principal", method: "POST", path: c + "/acls", body: `{"resource_type":"TOPIC","resource_name":"x","pattern_type":"LITERAL","host":"*","operation":"READ","permission":"ALLOW"}`, status: 400, code: 400, message: "principal is required"},
		{name: "acl create bad principal", method: "POST", path: c + "/acls", body: `{"resource_type":"TOPIC","resource_name":"x","pattern_type":"LITERAL","principal":"alice","host":"*","operation":"READ","permission":"ALLOW"}`, status: 400, code: 400, message: "principal must be"},
		{name: "acl batch empty", method: "POST", path: c + "/acls:batch", body: `{"data":[]}`, status: 400, code: 400},
		{name: "acl create without body", method: "POST", path: c + "/acls", header: json, status: 422, code: 42206},

		// Produce (pre-stream failures; per-record ones are in the stream tests).
		{name: "produce empty body", method: "POST", path: c + "/topics/bad/records", header: json, status: 422, code: 42206, message: "Request body is empty"},
		{name: "produce whitespace body", method: "POST", path: c + "/topics/bad/records", body: " \r\n\t ", status: 422, code: 42206},
		{name: "produce wrong content type", method: "POST", path: c + "/topics/bad/records", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}, status: 415, code: 415},
		{name: "produce bad charset", method: "POST", path: c + "/topics/bad/records", body: `{}`, header: map[string]string{"Content-Type": "application/json; charset=utf-16"}, status: 400, code: 400},
		{name: "batch empty body", method: "POST", path: c + "/topics/bad/records:batch", header: json, status: 422, code: 42208},
		{name: "batch no entries", method: "POST", path: c + "/topics/bad/records:batch", body: `{"entries":[]}`, status: 422, code: 42208, message: "Empty batch."},
		{name: "batch too many", method: "POST", path: c + "/topics/bad/records:batch", body: `{"entries":[` + strings.Repeat(`{"id":"x"},`, 10) + `{"id":"y"}]}`, status: 422, code: 42208, message: "Too many entries"},
		{name: "batch duplicate ids", method: "POST", path: c + "/topics/bad/records:batch", body: `{"entries":[{"id":"a"},{"id":"a"}]}`, status: 422, code: 42208, message: "not distinct"},
		{name: "batch missing id", method: "POST", path: c + "/topics/bad/records:batch", body: `{"entries":[{"value":{"type":"STRING","data":"x"}}]}`, status: 422, code: 42208, message: "identifier"},
		{name: "batch long id", method: "POST", path: c + "/topics/bad/records:batch", body: `{"entries":[{"id":"` + strings.Repeat("i", 81) + `"}]}`, status: 422, code: 42208},
		{name: "batch numeric id", method: "POST", path: c + "/topics/bad/records:batch", body: `{"entries":[{"id":1}]}`, status: 422, code: 42208},
	}
	for _, ex := range cases {
		t.Run(ex.name, func(t *testing.T) {
			resp, b := do(t, g, ex)
			check(t, ex, resp, b)
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && ct != "application/json" {
				t.Errorf("error Content-Type %q", ct)
			}
		})
	}
	_ = http.MethodGet
}
