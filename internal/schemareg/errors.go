package schemareg

import (
	"errors"
	"fmt"
)

// ErrorCode is a Schema Registry error_code, as Confluent's registry
// answers it. The HTTP package maps each to its catalog entry.
type ErrorCode int

// The error codes kgate's registry returns.
const (
	CodeSubjectNotFound       ErrorCode = 40401
	CodeVersionNotFound       ErrorCode = 40402
	CodeSchemaNotFound        ErrorCode = 40403
	CodeSubjectSoftDeleted    ErrorCode = 40404
	CodeSubjectNotSoftDeleted ErrorCode = 40405
	CodeVersionSoftDeleted    ErrorCode = 40406
	CodeVersionNotSoftDeleted ErrorCode = 40407
	CodeSubjectConfigNotFound ErrorCode = 40408
	CodeSubjectModeNotFound   ErrorCode = 40409
	CodeIncompatible          ErrorCode = 409
	CodeInvalidSchema         ErrorCode = 42201
	CodeInvalidVersion        ErrorCode = 42202
	CodeInvalidCompatibility  ErrorCode = 42203
	CodeInvalidMode           ErrorCode = 42204
	CodeOperationNotPermitted ErrorCode = 42205
	CodeReferenceExists       ErrorCode = 42206
	CodeStore                 ErrorCode = 50001
	CodeStoreTimeout          ErrorCode = 50002
)

// Error is a registry error with Confluent's code and public message; Cause
// (logged, not sent) is what went wrong underneath.
type Error struct {
	Code    ErrorCode
	Message string
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

func errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func subjectNotFound(s string) *Error {
	return errorf(CodeSubjectNotFound, "Subject '%s' not found.", s)
}

func versionNotFound(v int) *Error { return errorf(CodeVersionNotFound, "Version %d not found.", v) }

func storeError(err error) *Error {
	return &Error{Code: CodeStore, Message: "Error while storing the schema in the _schemas topic.", Cause: err}
}

// ErrUnavailable is wrapped by the errors of a registry that cannot
// answer: an external registry that is unreachable, answers 5xx, or
// refuses kgate's credentials. The client is not at fault.
var ErrUnavailable = errors.New("the schema registry is unavailable")
