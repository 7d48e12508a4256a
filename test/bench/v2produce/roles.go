package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kgate/kgate/internal/broker"
)

// roleEnv names the role this binary plays when the benchmark starts it
// again as a child process: the bare server or the standalone broker, so
// that their CPU time and memory are their own.
const roleEnv = "V2PRODUCE_ROLE"

const (
	roleBare   = "bare"
	roleBroker = "broker"
)

// bareAnswer is what the bare server answers: the shape of kgate's answer
// to a one-record v2 produce.
var bareAnswer = []byte(`{"offsets":[{"partition":0,"offset":0,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}`)

// runRole plays role until interrupted; it prints the address it listens
// on as its first line.
func runRole(role string) error {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	switch role {
	case roleBare:
		// The ceiling: net/http reading the same body and answering a
		// fixed one, with kgate's own server timeouts.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 8<<20))
				w.Header().Set("Content-Type", "application/vnd.kafka.v2+json")
				_, _ = w.Write(bareAnswer)
			}),
		}
		go func() { _ = srv.Serve(ln) }()
		fmt.Println("http://" + ln.Addr().String())
		<-stop
		return srv.Close()
	case roleBroker:
		// A standalone broker: kgate's hardened kfake, alone in its process.
		dir, err := os.MkdirTemp("", "v2produce-broker")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		b, err := broker.Start(dir, broker.Listen("127.0.0.1:0"))
		if err != nil {
			return err
		}
		fmt.Println(b.Addr())
		<-stop
		b.Close()
		return nil
	}
	return fmt.Errorf("unknown role %q", role)
}
