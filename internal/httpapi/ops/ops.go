// Package ops serves the operational endpoints: /healthz (alive),
// /readyz (the broker answers, the node is not draining) and /metrics (Prometheus).
package ops

import (
	"context"
	"net/http"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
)

// Deps are what the endpoints need.
type Deps struct {
	// Ping checks that Kafka answers.
	Ping func(context.Context) error
	// Metrics serves the Prometheus registry.
	Metrics http.Handler
	// MetricsOpen serves /metrics without authentication.
	MetricsOpen bool
	// Detail adds entries to a ready answer (nil: none): states of
	// dependencies that do not make the node unready.
	Detail func() map[string]any
	// Draining, if set, reports that the node is shutting down: /readyz
	// answers 503 from then on, so that load balancers stop sending it
	// requests while it still serves those that reach it.
	Draining func() bool
}

// Register adds the operational routes.
func Register(rr *httpapi.Router, d Deps) {
	rr.Add(httpapi.Route{
		Method: "GET", Pattern: "/healthz", Name: "ops.healthz", Public: true, Probe: true,
		Summary: "Liveness: the process serves HTTP.",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			httpapi.WriteJSON(w, http.StatusOK, "application/json", map[string]string{"status": "ok"})
			return nil
		},
	})
	rr.Add(httpapi.Route{
		Method: "GET", Pattern: "/readyz", Name: "ops.readyz", Public: true, Probe: true,
		Summary: "Readiness: a Kafka broker answers, and the node is not draining.",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if d.Draining != nil && d.Draining() {
				return httpapi.ErrShuttingDown.Msg("Draining: this node is shutting down.")
			}
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := d.Ping(ctx); err != nil {
				return httpapi.ErrBrokerNotAvailable.Msg("Kafka is not reachable.").Wrap(err)
			}
			body := map[string]any{"status": "ready"}
			if d.Detail != nil {
				for k, v := range d.Detail() {
					body[k] = v
				}
			}
			httpapi.WriteJSON(w, http.StatusOK, "application/json", body)
			return nil
		},
	})
	rr.Add(httpapi.Route{
		Method: "GET", Pattern: "/metrics", Name: "ops.metrics", Action: auth.Metrics, Public: d.MetricsOpen, Probe: true,
		Summary: "Prometheus metrics.",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			d.Metrics.ServeHTTP(w, r)
			return nil
		},
	})
}
