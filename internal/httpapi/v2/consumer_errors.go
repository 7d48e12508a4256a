package v2

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/guard"
	"github.com/kgate/kgate/internal/instances"
	"github.com/kgate/kgate/internal/ratelimit"
)

var errIllegalMix = httpapi.ErrIllegalState.Msg("Illegal state: Subscription to topics, partitions and pattern are mutually exclusive")

// instanceError maps the instance registry's answers onto the v2 error
// catalog (setting Retry-After and WWW-Authenticate on w where they
// belong); anything else passes through to the adapter, which maps Kafka
// errors.
func instanceError(w http.ResponseWriter, err error) error {
	var (
		nae *instances.NotAssignedError
		pe  *instances.PatternError
		ue  *instances.UndecodableError
		ex  *ratelimit.Exceeded
		d   *auth.Denial
		ae  *auth.Error
	)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, instances.ErrNotFound):
		return httpapi.ErrConsumerNotFound
	case errors.Is(err, instances.ErrExists):
		return httpapi.ErrConsumerExists
	case errors.Is(err, instances.ErrMoved):
		w.Header().Set("Retry-After", "1")
		return httpapi.ErrMoving.Wrap(err)
	case errors.Is(err, instances.ErrDraining):
		w.Header().Set("Retry-After", "1")
		return httpapi.ErrShuttingDown.Msg("This replica is shutting down; retry (through the load balancer).").Wrap(err)
	case errors.Is(err, instances.ErrClosed):
		return httpapi.ErrBrokerNotAvailable.Msg("The gateway is shutting down.")
	case errors.Is(err, instances.ErrMixed):
		return errIllegalMix
	case errors.Is(err, instances.ErrNotConsuming):
		return httpapi.ErrIllegalState.Msg("Illegal state: Consumer is not subscribed to any topics or assigned any partitions")
	case errors.As(err, &nae):
		return httpapi.ErrIllegalState.Msg("Illegal state: No current assignment for partition %s-%d", nae.Partition.Topic, nae.Partition.Partition)
	case errors.As(err, &pe):
		return httpapi.ErrUnprocessable.Msg("Invalid topic_pattern: %v.", pe.Err)
	case errors.As(err, &ue):
		what, problem := "it", "cannot be shown in this format"
		if ue.Field != "" {
			what = "its " + ue.Field
		}
		if ue.Problem != "" {
			problem = ue.Problem
		}
		return httpapi.ErrSerialization.Msg("Error deserializing message at %s[%d]@%d: %s %s. Read it with the binary format, or seek past it (POST .../positions with offset %d).",
			ue.Topic, ue.Partition, ue.Offset, what, problem, ue.Offset+1).Wrap(err)
	case errors.As(err, &ex):
		w.Header().Set("Retry-After", strconv.FormatInt(int64(max(1, math.Ceil(ex.RetryAfter.Seconds()))), 10))
		return httpapi.ErrRateLimited.Msg("%s", ex.Message).Wrap(ex)
	case errors.As(err, &d):
		return guard.Refusal(d)
	case errors.As(err, &ae):
		// The principal stood at the door and no longer does (revoked,
		// deleted, its password changed, its token expired).
		w.Header().Add("WWW-Authenticate", `Basic realm="kgate", charset="UTF-8"`)
		if ae.Bearer() {
			w.Header().Add("WWW-Authenticate", `Bearer realm="kgate", error="invalid_token"`)
		}
		return httpapi.ErrUnauthenticated.Msg("Authentication failed: the credentials of this request no longer hold.").Wrap(ae)
	}
	return err
}
