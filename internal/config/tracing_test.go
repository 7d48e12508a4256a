package config

import (
	"strings"
	"testing"
)

// TestTracingValidate: tracing is off by default and valid; a bad
// endpoint, protocol, ratio or queue is reported with its key, and an
// endpoint holding credentials is refused without echoing them.
func TestTracingValidate(t *testing.T) {
	def := Default()
	if def.Tracing.On() {
		t.Fatal("tracing is on by default")
	}
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := Default()
	c.Tracing = Tracing{OTLPEndpoint: "http://user:s3cret@collector:4318", Protocol: "thrift", SampleRatio: 1.5, QueueSize: 0}
	err := c.Validate()
	if err == nil {
		t.Fatal("no problem reported")
	}
	msg := err.Error()
	for _, key := range []string{"tracing.otlp_endpoint", "tracing.protocol", "tracing.sample_ratio", "tracing.service_name", "tracing.queue_size", "tracing.export_interval"} {
		if !strings.Contains(msg, key) {
			t.Errorf("%s not reported: %s", key, msg)
		}
	}
	if strings.Contains(msg, "s3cret") {
		t.Errorf("the endpoint's credentials are echoed: %s", msg)
	}
	c = Default()
	c.Tracing.OTLPEndpoint = "collector:4318"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tracing.otlp_endpoint") {
		t.Errorf("a relative endpoint: %v", err)
	}
}
