package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"syscall"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/passkeyclient"
)

// stepError names the step of an operation that failed (authorize, token, id_token, …).
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func at(step string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{step: step, err: err}
}

// httpError is a non-2xx answer to one of the load generator's own requests.
type httpError struct {
	Status int
	Code   string // the OAuth "error" field, when there is one
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d %s", e.Status, e.Code) }

// checkError is a response that arrived but is wrong (state or nonce mismatch, no token, …).
type checkError string

func (e checkError) Error() string { return string(e) }

// kindOf puts an error into a small, fixed set of kinds ("token: HTTP 503
// temporarily_unavailable", "authorize: timeout") so that a run that fails ten thousand times
// prints a few lines, not ten thousand.
func kindOf(err error) string {
	prefix, inner := "", err
	var se *stepError
	if errors.As(err, &se) {
		prefix, inner = se.step+": ", se.err
	}
	var (
		pe *passkeyclient.Error
		he *httpError
		re *oauth2.RetrieveError
		ce checkError
	)
	switch {
	case errors.As(err, &pe):
		return prefix + fmt.Sprintf("HTTP %d %s", pe.Status, pe.Code)
	case errors.As(err, &he):
		return prefix + he.Error()
	case errors.As(err, &re):
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return prefix + fmt.Sprintf("HTTP %d %s", status, re.ErrorCode)
	case errors.As(err, &ce):
		return prefix + string(ce)
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return prefix + "timeout"
	case errors.Is(err, context.Canceled):
		return prefix + "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return prefix + "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return prefix + "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return prefix + "no free local port (EADDRNOTAVAIL)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return prefix + "connection closed"
	case errors.Is(err, passkeyclient.ErrNoCallback):
		return prefix + sanitize(inner.Error())
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return prefix + "network error"
	}
	return prefix + "other"
}

var queryPart = regexp.MustCompile(`\?[^\s"']*`)

// sanitize drops query strings, which carry codes, state and interaction ids, and bounds the
// length, so an example message is safe to print and to paste into an issue.
func sanitize(s string) string {
	s = queryPart.ReplaceAllString(s, "?…")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
