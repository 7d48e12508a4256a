package guard

import (
	"errors"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
)

// LiveRefusal maps what an auth.Live answers for work in progress (a
// stream, a request whose body took long) onto the wire: nil while the
// principal stands and may; 401 when it no longer stands (token revoked
// or expired, user deleted, password changed); a denial as Refusal.
func LiveRefusal(err error) *httpapi.Error {
	if err == nil {
		return nil
	}
	var d *auth.Denial
	if errors.As(err, &d) {
		return Refusal(d)
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		return httpapi.ErrUnauthenticated.Msg("Authentication failed: %s.", ae.Reason).Wrap(err)
	}
	return httpapi.ErrUnauthenticated.Wrap(err)
}
