package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgate/kgate/internal/auth/oidc"
)

// oidcState is an issuer's key state in /readyz: ok (keys fetched at the
// last try), stale (the last fetch failed; the keys in hand still check
// tokens) or unavailable (no keys yet: its tokens are refused). The
// failure's cause is logged, not shown on this public route.
func oidcState(s oidc.Status) string {
	switch {
	case s.Keys == 0:
		return "unavailable"
	case s.Err != "":
		return "stale"
	}
	return "ok"
}

// readyDetail is /readyz's detail: the OIDC issuers' key states. An
// issuer that cannot be reached does not make the node unready: kgate's
// own tokens, passwords and certificates still work, and tokens whose
// keys are cached still check.
func (a api) readyDetail() map[string]any {
	sts := a.auth.OIDC().Statuses()
	if len(sts) == 0 {
		return nil
	}
	out := make([]map[string]any, 0, len(sts))
	for _, s := range sts {
		e := map[string]any{"issuer": s.Issuer, "keys": oidcState(s)}
		if !s.Fetched.IsZero() {
			e["fetched"] = s.Fetched.UTC().Format(time.RFC3339)
		}
		out = append(out, e)
	}
	return map[string]any{"oidc": out}
}

// oidcCollector exports the issuers' key states (one series per
// configured issuer).
type oidcCollector struct{ v *oidc.Verifier }

var (
	oidcKeysDesc = prometheus.NewDesc("kgate_oidc_keys",
		"Signing keys in hand per auth.oidc issuer (0: its tokens are refused).", []string{"issuer"}, nil)
	oidcUpDesc = prometheus.NewDesc("kgate_oidc_keys_fetch_ok",
		"1 when the issuer's last key fetch succeeded, else 0.", []string{"issuer"}, nil)
	oidcFailuresDesc = prometheus.NewDesc("kgate_oidc_keys_fetch_failures_total",
		"Failed fetches of the issuer's discovery document or keys.", []string{"issuer"}, nil)
	oidcAgeDesc = prometheus.NewDesc("kgate_oidc_keys_age_seconds",
		"Seconds since the issuer's keys were last fetched (absent before the first fetch).", []string{"issuer"}, nil)
)

func (c oidcCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- oidcKeysDesc
	ch <- oidcUpDesc
	ch <- oidcFailuresDesc
	ch <- oidcAgeDesc
}

func (c oidcCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.v.Statuses() {
		ch <- prometheus.MustNewConstMetric(oidcKeysDesc, prometheus.GaugeValue, float64(s.Keys), s.Issuer)
		up := 0.0
		if s.Err == "" && !s.Fetched.IsZero() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(oidcUpDesc, prometheus.GaugeValue, up, s.Issuer)
		ch <- prometheus.MustNewConstMetric(oidcFailuresDesc, prometheus.CounterValue, float64(s.Failures), s.Issuer)
		if !s.Fetched.IsZero() {
			ch <- prometheus.MustNewConstMetric(oidcAgeDesc, prometheus.GaugeValue, time.Since(s.Fetched).Seconds(), s.Issuer)
		}
	}
}
