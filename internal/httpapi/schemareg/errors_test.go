package schemareg

import (
	"errors"
	"testing"

	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/schemareg"
)

// TestWire pins the mapping of every registry error code to the catalog
// entry with that error_code, and its message and cause carried over.
func TestWire(t *testing.T) {
	codes := []schemareg.ErrorCode{
		schemareg.CodeSubjectNotFound, schemareg.CodeVersionNotFound, schemareg.CodeSchemaNotFound,
		schemareg.CodeSubjectSoftDeleted, schemareg.CodeSubjectNotSoftDeleted, schemareg.CodeVersionSoftDeleted,
		schemareg.CodeVersionNotSoftDeleted, schemareg.CodeSubjectConfigNotFound, schemareg.CodeSubjectModeNotFound,
		schemareg.CodeIncompatible, schemareg.CodeInvalidSchema, schemareg.CodeInvalidVersion,
		schemareg.CodeInvalidCompatibility, schemareg.CodeInvalidMode, schemareg.CodeOperationNotPermitted,
		schemareg.CodeReferenceExists, schemareg.CodeStore, schemareg.CodeStoreTimeout,
	}
	cause := errors.New("underneath")
	for _, c := range codes {
		var he *httpapi.Error
		if !errors.As(wire(&schemareg.Error{Code: c, Message: "msg", Cause: cause}), &he) {
			t.Fatalf("%d: not a catalog error", c)
		}
		if he.Code != int(c) || he.Message != "msg" || !errors.Is(he, cause) {
			t.Errorf("%d: got code %d message %q cause %v", c, he.Code, he.Message, he.Cause)
		}
		if want := int(c) / 100; c > 1000 && he.Status != want {
			t.Errorf("%d: status %d, want %d", c, he.Status, want)
		}
	}
	if len(catalog) != len(codes) {
		t.Errorf("catalog maps %d codes, the test knows %d", len(catalog), len(codes))
	}
	plain := errors.New("plain")
	if got := wire(plain); got != plain {
		t.Errorf("a non-registry error changed: %v", got)
	}
}
