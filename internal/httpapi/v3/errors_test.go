package v3_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kgate/kgate/internal/httpapi/apitest"
	"github.com/kgate/kgate/internal/testutil"
)

// TestBadInputs sends each endpoint what it must refuse and checks the
// status and error_code (Confluent's, reference §3).
func TestBadInputs(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	c := "/v3/clusters/" + cid
	setup := []apitest.Exchange{
		{Name: "setup topic", Method: "POST", Path: c + "/topics", Body: `{"topic_name":"bad","partitions_count":2}`, Status: 201},
	}
	for _, ex := range setup {
		resp, b := apitest.Do(t, g, ex)
		apitest.Check(t, ex, resp, b)
	}
	json := map[string]string{"Content-Type": "application/json"}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	cases := []apitest.Exchange{
		// Clusters and brokers.
		{Name: "unknown cluster", Method: "GET", Path: "/v3/clusters/nope", Status: 404, Code: 404, Message: "Cluster nope cannot be found."},
		{Name: "unknown cluster on topics", Method: "GET", Path: "/v3/clusters/nope/topics", Status: 404, Code: 404},
		{Name: "unknown cluster on produce", Method: "POST", Path: "/v3/clusters/nope/topics/bad/records", Body: `{}`, Status: 404, Code: 404},
		{Name: "unknown broker", Method: "GET", Path: c + "/brokers/7", Status: 404, Code: 404},
		{Name: "broker id not a number", Method: "GET", Path: c + "/brokers/abc", Status: 404, Code: 404},
		{Name: "unknown broker configs", Method: "GET", Path: c + "/brokers/7/configs", Status: 404, Code: 404},
		{Name: "unknown broker config", Method: "GET", Path: c + "/brokers/0/configs/no.such.config", Status: 404, Code: 404},
		{Name: "broker replicas of unknown broker", Method: "GET", Path: c + "/brokers/9/partition-replicas", Status: 404, Code: 404},
		{Name: "unknown cluster config", Method: "GET", Path: c + "/broker-configs/no.such.config", Status: 404, Code: 404},
		{Name: "cluster config put without value", Method: "PUT", Path: c + "/broker-configs/log.retention.ms", Body: `{}`, Status: 400, Code: 400},
		{Name: "broker config alter bad operation", Method: "POST", Path: c + "/brokers/0/configs:alter", Body: `{"data":[{"name":"x","operation":"APPEND","value":"1"}]}`, Status: 400, Code: 400},
		{Name: "unknown route", Method: "GET", Path: c + "/nothing", Status: 404, Code: 404, Message: "HTTP 404 Not Found"},
		{Name: "wrong method", Method: "POST", Path: c + "/brokers", Status: 405, Code: 405},

		// Topics.
		{Name: "get unknown topic", Method: "GET", Path: c + "/topics/missing", Status: 404, Code: 40403},
		{Name: "get invalid topic name", Method: "GET", Path: c + "/topics/bad%20name", Status: 404, Code: 40403},
		{Name: "create without body", Method: "POST", Path: c + "/topics", Header: json, Status: 422, Code: 42206, Message: "Request body is empty"},
		{Name: "create null body", Method: "POST", Path: c + "/topics", Body: `null`, Status: 422, Code: 42206},
		{Name: "create invalid name", Method: "POST", Path: c + "/topics", Body: `{"topic_name":"a/b"}`, Status: 422, Code: 42206, Message: "Invalid topic name."},
		{Name: "create empty name", Method: "POST", Path: c + "/topics", Body: `{"partitions_count":1}`, Status: 422, Code: 42206},
		{Name: "create existing", Method: "POST", Path: c + "/topics", Body: `{"topic_name":"bad"}`, Status: 400, Code: 40002, Message: "TOPIC_ALREADY_EXISTS"},
		{Name: "create zero partitions", Method: "POST", Path: c + "/topics", Body: `{"topic_name":"z","partitions_count":0}`, Status: 400, Code: 400},
		{Name: "create bad assignment key", Method: "POST", Path: c + "/topics", Body: `{"topic_name":"z","replicas_assignments":{"x":[0]}}`, Status: 400, Code: 400},
		{Name: "create bad JSON", Method: "POST", Path: c + "/topics", Body: `{"topic_name":`, Status: 400, Code: 400},
		{Name: "create wrong field type", Method: "POST", Path: c + "/topics", Body: `{"topic_name":"z","partitions_count":"two"}`, Status: 400, Code: 400},
		{Name: "create form content type", Method: "POST", Path: c + "/topics", Body: `{"topic_name":"z"}`, Header: form, Status: 415, Code: 415},
		{Name: "create array body", Method: "POST", Path: c + "/topics", Body: `[]`, Status: 400, Code: 400},
		{Name: "patch without count", Method: "PATCH", Path: c + "/topics/bad", Body: `{}`, Status: 422, Code: 42206, Message: "Partitions_count is required"},
		{Name: "patch fewer partitions", Method: "PATCH", Path: c + "/topics/bad", Body: `{"partitions_count":1}`, Status: 400, Code: 40002},
		{Name: "patch unknown topic", Method: "PATCH", Path: c + "/topics/missing", Body: `{"partitions_count":3}`, Status: 404, Code: 40403},
		{Name: "delete unknown topic", Method: "DELETE", Path: c + "/topics/missing", Status: 404, Code: 40403},

		// Topic configs.
		{Name: "configs of unknown topic", Method: "GET", Path: c + "/topics/missing/configs", Status: 404, Code: 40403},
		{Name: "unknown topic config", Method: "GET", Path: c + "/topics/bad/configs/no.such.config", Status: 404, Code: 404},
		{Name: "put config without body", Method: "PUT", Path: c + "/topics/bad/configs/retention.ms", Header: json, Status: 422, Code: 42206},
		// Unknown config names and invalid values are the broker's to
		// refuse (40002); the embedded broker accepts them.
		{Name: "alter empty data", Method: "POST", Path: c + "/topics/bad/configs:alter", Body: `{"data":[]}`, Status: 400, Code: 400},
		{Name: "alter set without value", Method: "POST", Path: c + "/topics/bad/configs:alter", Body: `{"data":[{"name":"retention.ms"}]}`, Status: 400, Code: 400},
		{Name: "alter unknown topic", Method: "POST", Path: c + "/topics/missing/configs:alter", Body: `{"data":[{"name":"retention.ms","value":"1"}]}`, Status: 404, Code: 40403},

		// Partitions and replicas.
		{Name: "partitions of unknown topic", Method: "GET", Path: c + "/topics/missing/partitions", Status: 404, Code: 40403},
		{Name: "unknown partition", Method: "GET", Path: c + "/topics/bad/partitions/9", Status: 404, Code: 40402},
		{Name: "partition not a number", Method: "GET", Path: c + "/topics/bad/partitions/x", Status: 404, Code: 40402},
		{Name: "negative partition", Method: "GET", Path: c + "/topics/bad/partitions/-1", Status: 404, Code: 40402},
		{Name: "bad offset_type", Method: "GET", Path: c + "/topics/bad/partitions/0/offset?offset_type=latest", Status: 400, Code: 400, Message: "offset_type:latest is invalid"},
		{Name: "offsets of unknown partition", Method: "GET", Path: c + "/topics/bad/partitions/5/offset", Status: 404, Code: 40402},
		{Name: "no reassignment in progress", Method: "GET", Path: c + "/topics/bad/partitions/0/reassignment", Status: 404, Code: 404},
		{Name: "reassignments of unknown topic", Method: "GET", Path: c + "/topics/missing/partitions/-/reassignment", Status: 404, Code: 40403},
		{Name: "unknown replica", Method: "GET", Path: c + "/topics/bad/partitions/0/replicas/4", Status: 404, Code: 404},

		// Consumer groups.
		{Name: "unknown group", Method: "GET", Path: c + "/consumer-groups/nobody", Status: 404, Code: 404},
		{Name: "consumers of unknown group", Method: "GET", Path: c + "/consumer-groups/nobody/consumers", Status: 404, Code: 404},
		{Name: "lags of unknown group", Method: "GET", Path: c + "/consumer-groups/nobody/lags", Status: 404, Code: 404},
		{Name: "lag summary of unknown group", Method: "GET", Path: c + "/consumer-groups/nobody/lag-summary", Status: 404, Code: 404},
		{Name: "assignment of unknown group", Method: "GET", Path: c + "/consumer-groups/nobody/consumers/x/assignments", Status: 404, Code: 404},

		// ACLs.
		{Name: "acl search bad enum", Method: "GET", Path: c + "/acls?resource_type=TABLE", Status: 400, Code: 400, Message: "resource_type must be one of"},
		{Name: "acl delete without filters", Method: "DELETE", Path: c + "/acls", Status: 400, Code: 400, Message: "is required"},
		{Name: "acl create ANY", Method: "POST", Path: c + "/acls", Body: `{"resource_type":"ANY","resource_name":"x","pattern_type":"LITERAL","principal":"User:a","host":"*","operation":"READ","permission":"ALLOW"}`, Status: 400, Code: 400},
		{Name: "acl create missing principal", Method: "POST", Path: c + "/acls", Body: `{"resource_type":"TOPIC","resource_name":"x","pattern_type":"LITERAL","host":"*","operation":"READ","permission":"ALLOW"}`, Status: 400, Code: 400, Message: "principal is required"},
		{Name: "acl create bad principal", Method: "POST", Path: c + "/acls", Body: `{"resource_type":"TOPIC","resource_name":"x","pattern_type":"LITERAL","principal":"alice","host":"*","operation":"READ","permission":"ALLOW"}`, Status: 400, Code: 400, Message: "principal must be"},
		{Name: "acl batch empty", Method: "POST", Path: c + "/acls:batch", Body: `{"data":[]}`, Status: 400, Code: 400},
		{Name: "acl create without body", Method: "POST", Path: c + "/acls", Header: json, Status: 422, Code: 42206},

		// Produce (pre-stream failures; per-record ones are in the stream tests).
		{Name: "produce empty body", Method: "POST", Path: c + "/topics/bad/records", Header: json, Status: 422, Code: 42206, Message: "Request body is empty"},
		{Name: "produce whitespace body", Method: "POST", Path: c + "/topics/bad/records", Body: " \r\n\t ", Status: 422, Code: 42206},
		{Name: "produce wrong content type", Method: "POST", Path: c + "/topics/bad/records", Body: `{}`, Header: map[string]string{"Content-Type": "text/plain"}, Status: 415, Code: 415},
		{Name: "produce bad charset", Method: "POST", Path: c + "/topics/bad/records", Body: `{}`, Header: map[string]string{"Content-Type": "application/json; charset=utf-16"}, Status: 400, Code: 400},
		{Name: "batch empty body", Method: "POST", Path: c + "/topics/bad/records:batch", Header: json, Status: 422, Code: 42208},
		{Name: "batch no entries", Method: "POST", Path: c + "/topics/bad/records:batch", Body: `{"entries":[]}`, Status: 422, Code: 42208, Message: "Empty batch."},
		{Name: "batch too many", Method: "POST", Path: c + "/topics/bad/records:batch", Body: `{"entries":[` + strings.Repeat(`{"id":"x"},`, 10) + `{"id":"y"}]}`, Status: 422, Code: 42208, Message: "Too many entries"},
		{Name: "batch duplicate ids", Method: "POST", Path: c + "/topics/bad/records:batch", Body: `{"entries":[{"id":"a"},{"id":"a"}]}`, Status: 422, Code: 42208, Message: "not distinct"},
		{Name: "batch missing id", Method: "POST", Path: c + "/topics/bad/records:batch", Body: `{"entries":[{"value":{"type":"STRING","data":"x"}}]}`, Status: 422, Code: 42208, Message: "identifier"},
		{Name: "batch long id", Method: "POST", Path: c + "/topics/bad/records:batch", Body: `{"entries":[{"id":"` + strings.Repeat("i", 81) + `"}]}`, Status: 422, Code: 42208},
		{Name: "batch numeric id", Method: "POST", Path: c + "/topics/bad/records:batch", Body: `{"entries":[{"id":1}]}`, Status: 422, Code: 42208},
	}
	for _, ex := range cases {
		t.Run(ex.Name, func(t *testing.T) {
			resp, b := apitest.Do(t, g, ex)
			apitest.Check(t, ex, resp, b)
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && ct != "application/json" {
				t.Errorf("error Content-Type %q", ct)
			}
		})
	}
	_ = http.MethodGet
}
