package tracing_test

import (
	"context"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
	"github.com/kgate/kgate/internal/tracing"
)

// grpcCollector is an OTLP/gRPC trace receiver on loopback.
type grpcCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
	key   []string // the api-key metadata of the last export
}

func (c *grpcCollector) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key = md.Get("api-key")
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.names = append(c.names, s.Name)
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestExportGRPC: with tracing.protocol grpc, spans and the headers
// file's headers (as metadata) reach an OTLP/gRPC receiver.
func TestExportGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	col := &grpcCollector{}
	coltracepb.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	file := t.TempDir() + "/headers"
	if err := os.WriteFile(file, []byte("Api-Key: k-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Tracing
	cfg.OTLPEndpoint, cfg.Protocol, cfg.HeadersFile = "http://"+lis.Addr().String(), config.TracingGRPC, file
	cfg.ExportInterval = config.Duration(20 * time.Millisecond)
	tr, err := tracing.New(cfg, tracing.Options{Logger: testutil.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, tr)
	_, span := tr.StartServer(context.Background(), "GET /g", "GET", "/g", "id")
	tracing.EndServer(span, 200)
	deadline := time.Now().Add(15 * time.Second)
	for {
		col.mu.Lock()
		names, key := append([]string(nil), col.names...), col.key
		col.mu.Unlock()
		if len(names) == 1 {
			if names[0] != "GET /g" || len(key) != 1 || key[0] != "k-123" {
				t.Errorf("received %v with api-key %v", names, key)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no span over gRPC")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
}
