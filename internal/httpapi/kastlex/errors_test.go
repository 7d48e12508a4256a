package kastlex_test

import (
	"strings"
	"testing"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi/apitest"
	"github.com/kgate/kgate/internal/testutil"
)

// TestBadInputs sends each KastleX endpoint what it must refuse. Errors
// are kgate's catalog body {error_code, message} with the statuses
// KastleX uses (404 for unknown topics and partitions).
func TestBadInputs(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) { c.HTTP.MaxBodyBytes = 64 })
	setup := ex{Name: "setup", Method: "POST", Path: "/api/v1/messages/foo", Header: binary, Body: "one", Status: 204}
	resp, b := apitest.Do(t, g, setup)
	apitest.Check(t, setup, resp, b)
	acceptBinary := map[string]string{"Accept": "application/binary"}
	cases := []ex{
		// Fetch.
		{Name: "fetch unknown topic", Method: "GET", Path: "/api/v1/messages/nosuch/0", Status: 404, Code: 40401},
		{Name: "fetch invalid topic name", Method: "GET", Path: "/api/v2/messages/a%20b/0", Status: 404, Code: 40401},
		{Name: "fetch partition not a number", Method: "GET", Path: "/api/v1/messages/foo/x", Status: 404, Code: 40402},
		{Name: "fetch unknown partition", Method: "GET", Path: "/api/v1/messages/foo/5", Status: 404, Code: 40402},
		{Name: "fetch bad offset", Method: "GET", Path: "/api/v1/messages/foo/0/12abc", Status: 400, Code: 400, Message: "offset must be"},
		{Name: "fetch offset past the end", Method: "GET", Path: "/api/v2/messages/foo/0/999", Status: 400, Code: 40002, Message: "OFFSET_OUT_OF_RANGE"},
		{Name: "fetch negative max_wait_time", Method: "GET", Path: "/api/v1/messages/foo/0?max_wait_time=-1", Status: 400, Code: 400},
		{Name: "fetch max_bytes zero", Method: "GET", Path: "/api/v1/messages/foo/0?max_bytes=0", Status: 400, Code: 400},
		{Name: "fetch min_bytes not a number", Method: "GET", Path: "/api/v1/messages/foo/0?min_bytes=lots", Status: 400, Code: 400},
		{Name: "fetch unacceptable type", Method: "GET", Path: "/api/v1/messages/foo/0", Header: map[string]string{"Accept": "text/html"}, Status: 406, Code: 406},
		{Name: "fetch binary unknown topic", Method: "GET", Path: "/api/v1/messages/nosuch/0", Header: acceptBinary, Status: 404, Code: 40401},

		// Produce.
		{Name: "produce unknown partition", Method: "POST", Path: "/api/v1/messages/foo/7", Header: binary, Body: "x", Status: 404, Code: 40402},
		{Name: "produce negative partition", Method: "POST", Path: "/api/v1/messages/foo/-1", Header: binary, Body: "x", Status: 404, Code: 40402},
		{Name: "produce invalid topic name", Method: "POST", Path: "/api/v2/messages/a%20b", Header: binary, Body: "x", Status: 404, Code: 40401},
		{Name: "produce headers not an object", Method: "POST", Path: "/api/v1/messages/foo", Body: "x", Status: 400, Code: 400,
			Header: map[string]string{"Content-Type": "application/binary", "X-Message-Headers": `["a"]`}},
		{Name: "produce headers not JSON", Method: "POST", Path: "/api/v1/messages/foo", Body: "x", Status: 400, Code: 400,
			Header: map[string]string{"Content-Type": "application/binary", "X-Message-Headers": `{"a":`}},
		{Name: "produce headers trailing data", Method: "POST", Path: "/api/v1/messages/foo", Body: "x", Status: 400, Code: 400,
			Header: map[string]string{"Content-Type": "application/binary", "X-Message-Headers": `{"a":"b"} {}`}},
		{Name: "produce body too large", Method: "POST", Path: "/api/v1/messages/foo", Header: binary, Body: strings.Repeat("x", 65), Status: 413, Code: 413},
		{Name: "produce wrong method", Method: "PUT", Path: "/api/v1/messages/foo", Header: binary, Body: "x", Status: 405, Code: 405},

		// Offsets and metadata.
		{Name: "offsets bad at", Method: "GET", Path: "/api/v1/offsets/foo/0?at=soon", Status: 400, Code: 400, Message: "at must be"},
		{Name: "offsets unknown topic", Method: "GET", Path: "/api/v1/offsets/nosuch/0", Status: 404, Code: 40401},
		{Name: "offsets unknown partition", Method: "GET", Path: "/api/v1/offsets/foo/3", Status: 404, Code: 40402},
		{Name: "unknown topic", Method: "GET", Path: "/api/v1/topics/nosuch", Status: 404, Code: 40401},
		{Name: "unknown broker", Method: "GET", Path: "/api/v1/brokers/9", Status: 404, Code: 404},
		{Name: "broker not a number", Method: "GET", Path: "/api/v1/brokers/x", Status: 404, Code: 404},
		{Name: "urp of unknown topic", Method: "GET", Path: "/api/v1/urp/nosuch", Status: 404, Code: 40401},
		{Name: "unknown group v1", Method: "GET", Path: "/api/v1/consumers/nobody", Status: 404, Code: 404},
		{Name: "unknown group v2", Method: "GET", Path: "/api/v2/consumers/nobody", Status: 404, Code: 404},
		{Name: "no v2 offsets route", Method: "GET", Path: "/api/v2/offsets/foo/0", Status: 404, Code: 404},
	}
	for _, e := range cases {
		t.Run(e.Name, func(t *testing.T) {
			resp, b := apitest.Do(t, g, e)
			apitest.Check(t, e, resp, b)
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("error Content-Type %q", ct)
			}
		})
	}

	t.Run("produce to a missing topic without auto-creation", func(t *testing.T) {
		g := testutil.StartGateway(t, func(c *config.Config) { off := false; c.AutoCreateTopics = &off })
		e := ex{Name: "missing", Method: "POST", Path: "/api/v1/messages/nowhere", Header: binary, Body: "x", Status: 404, Code: 40401}
		resp, b := apitest.Do(t, g, e)
		apitest.Check(t, e, resp, b)
	})
}
