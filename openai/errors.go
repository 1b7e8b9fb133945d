package openai

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kinds of API errors, for errors.Is.
var (
	// ErrUnauthorized: 401, the key is wrong, revoked or deleted.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: 403, the key is valid but may not do this (a
	// restricted key, a key that is not an admin key, a region or IP rule).
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited: 429 other than insufficient_quota.
	ErrRateLimited = errors.New("rate limited")
	// ErrQuotaExceeded: 429 insufficient_quota, the account's credit or
	// budget is used up.
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrNotFound: 404, no such project, service account or endpoint.
	ErrNotFound = errors.New("not found")
	// ErrServer: 5xx.
	ErrServer = errors.New("server error")
)

// APIError is a non-2xx answer from the API.
type APIError struct {
	Host       string // the API's host, never a key
	Method     string
	Path       string // request path without the query
	Status     int
	Type       string // OpenAI error type, if any
	Code       string // OpenAI error code, if any ("invalid_api_key")
	Message    string // the server's message, scrubbed of key-shaped strings
	RetryAfter time.Duration
}

func (e *APIError) kind() error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return ErrUnauthorized
	case e.Status == http.StatusForbidden:
		return ErrForbidden
	case e.Status == http.StatusTooManyRequests && (e.Code == "insufficient_quota" || e.Type == "insufficient_quota"):
		return ErrQuotaExceeded
	case e.Status == http.StatusTooManyRequests:
		return ErrRateLimited
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	case e.Status >= 500:
		return ErrServer
	}
	return nil
}

// Is matches the error kinds above.
func (e *APIError) Is(target error) bool { k := e.kind(); return k != nil && target == k }

func (e *APIError) Error() string {
	status := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		status += ", " + e.Code
	}
	var what string
	switch e.kind() {
	case ErrUnauthorized:
		what = fmt.Sprintf("%s rejected the key (%s)", e.Host, status)
	case ErrForbidden:
		what = fmt.Sprintf("%s refused the request: the key may not do this (%s)", e.Host, status)
	case ErrQuotaExceeded:
		what = fmt.Sprintf("%s accepted the key, but its account has no quota left (%s)", e.Host, status)
	case ErrRateLimited:
		what = fmt.Sprintf("%s rate-limited the request (%s)", e.Host, status)
		if e.RetryAfter > 0 {
			what += fmt.Sprintf("; retry after %s", e.RetryAfter)
		}
	case ErrNotFound:
		what = fmt.Sprintf("%s found no %s (%s)", e.Host, e.Path, status)
	case ErrServer:
		what = fmt.Sprintf("%s failed to answer %s %s (%s)", e.Host, e.Method, e.Path, status)
	default:
		what = fmt.Sprintf("%s answered %s %s with %s", e.Host, e.Method, e.Path, status)
	}
	if e.Message != "" {
		what += ": " + e.Message
	}
	return what
}

// NetworkError: the request did not get an HTTP answer.
type NetworkError struct {
	Host   string
	Reason string // short, human: "connection refused", "timed out"
	Err    error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("could not reach %s: %s", e.Host, e.Reason)
}
func (e *NetworkError) Unwrap() error { return e.Err }

// networkError classifies a transport failure. err comes from
// http.Client.Do, whose *url.Error names the URL; URLs okv builds never
// hold a key, but the reason is rebuilt from the cause anyway.
func networkError(host string, err error) *NetworkError {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	var (
		dns   *net.DNSError
		netE  net.Error
		uaErr x509.UnknownAuthorityError
		hnErr x509.HostnameError
		ciErr x509.CertificateInvalidError
	)
	reason := "network error"
	switch {
	case errors.Is(err, context.Canceled):
		reason = "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		reason = "timed out"
	case errors.As(err, &dns):
		reason = "cannot resolve " + dns.Name
		if dns.IsNotFound {
			reason += " (no such host)"
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		reason = "connection reset"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		reason = "network unreachable"
	case errors.As(err, &uaErr), errors.As(err, &hnErr), errors.As(err, &ciErr):
		reason = "TLS certificate not trusted (" + clipText(cause.Error(), 120) + ")"
	case errors.As(err, &netE) && netE.Timeout():
		reason = "timed out"
	case cause != nil:
		reason = clipText(cause.Error(), 160)
	}
	return &NetworkError{Host: host, Reason: reason, Err: err}
}

// keyShaped matches OpenAI-style secrets (sk-…, sk-proj-…, sk-admin-…) and
// bearer tokens a server might echo.
// Compiled on first use: okv's start-up should not pay for it.
var keyShaped = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\b(sk|rk|sess|key)-[A-Za-z0-9_\-\*\.]{6,}`)
})

// scrub removes the exact key and anything key-shaped from a server
// message, and keeps it short.
func scrub(msg, key string) string {
	if key != "" && len(key) >= 4 {
		msg = strings.ReplaceAll(msg, key, "[key]")
	}
	msg = keyShaped().ReplaceAllStringFunc(msg, func(s string) string {
		i := strings.IndexByte(s, '-')
		return s[:i+1] + "…"
	})
	return clipText(strings.TrimSpace(msg), 240)
}

func clipText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}
