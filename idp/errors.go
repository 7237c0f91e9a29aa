package idp

import (
	"errors"
	"fmt"

	"github.com/keyward/keyward/store"
)

// Error codes. They are stable: the ui layer and its tests key on them, and they may appear in
// JSON bodies and the audit log's result column.
const (
	CodeInvalidRequest     = "invalid_request"
	CodeRegistrationClosed = "registration_closed"
	CodeInviteInvalid      = "invite_invalid"
	CodeEmailTaken         = "email_taken"
	CodeCeremonyExpired    = "ceremony_expired"
	CodeVerificationFailed = "verification_failed"
	CodeCredentialExists   = "credential_exists"
	CodeAccountDisabled    = "account_disabled"
	CodeCloneSuspected     = "clone_suspected"
	CodeForbidden          = "forbidden"
	CodeUnavailable        = "unavailable"
)

// Error is a domain error whose Code, Status and Message may reach the client. Status is the
// HTTP status the ui layer answers with; Message is written for people and reveals nothing
// internal. Err is the cause, for logs only.
//
// Any error from this package that is not an *Error is an internal failure: the ui layer answers
// 500 with a fixed text and logs it.
type Error struct {
	Code    string
	Status  int
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("idp: %s: %v", e.Code, e.Err)
	}
	return "idp: " + e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, idp.ErrCeremonyExpired) match any *Error with the same code,
// whatever its message or cause.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// WithMessage returns a copy of e with another public message.
func (e *Error) WithMessage(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// Wrap returns a copy of e that carries cause for the logs.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// Sentinels, one per code, each with its default public message. Compare with errors.Is; derive
// a specific instance with WithMessage or Wrap (they copy, the sentinels never change).
var (
	ErrInvalidRequest     = &Error{Code: CodeInvalidRequest, Status: 400, Message: "The request is not valid."}
	ErrRegistrationClosed = &Error{Code: CodeRegistrationClosed, Status: 403, Message: "Sign-up is closed on this server."}
	ErrInviteInvalid      = &Error{Code: CodeInviteInvalid, Status: 403, Message: "This invitation is not valid or has expired."}
	ErrEmailTaken         = &Error{Code: CodeEmailTaken, Status: 409, Message: "An account with this email address already exists."}
	ErrCeremonyExpired    = &Error{Code: CodeCeremonyExpired, Status: 400, Message: "This request has expired. Please start again."}
	// ErrVerificationFailed is deliberately vague: a bad signature, an unknown credential, a
	// wrong origin and an unknown account must look the same (WebAuthn §14.6.2).
	ErrVerificationFailed = &Error{Code: CodeVerificationFailed, Status: 400, Message: "The passkey could not be verified."}
	ErrCredentialExists   = &Error{Code: CodeCredentialExists, Status: 409, Message: "This passkey is already registered."}
	ErrAccountDisabled    = &Error{Code: CodeAccountDisabled, Status: 403, Message: "This account is disabled."}
	ErrCloneSuspected     = &Error{Code: CodeCloneSuspected, Status: 400, Message: "This passkey was refused because it may have been copied. Use another passkey or contact an administrator."}
	ErrForbidden          = &Error{Code: CodeForbidden, Status: 403, Message: "You are not allowed to do this."}
	ErrUnavailable        = &Error{Code: CodeUnavailable, Status: 503, Message: "The service is temporarily unavailable. Please try again shortly."}
)

// CodeOf returns the code of the *Error in err's chain, or "" for an internal error.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// storeError translates a store failure at the boundary: a busy or unreachable database is
// worth a retry (503), anything else is internal and stays a plain wrapped error.
func storeError(op string, err error) error {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) {
		return ErrUnavailable.Wrap(fmt.Errorf("%s: %w", op, err))
	}
	return fmt.Errorf("idp: %s: %w", op, err)
}
