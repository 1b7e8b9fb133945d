package proxy

import (
	"math"
	"net/http"
	"strconv"
)

// refuse writes e in the provider's error shape.
func (p *Proxy) refuse(w http.ResponseWriter, e *Refusal) {
	b := append(p.pv.ErrorBody(e), '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if e.RetryAfter > 0 {
		secs := max(int64(math.Ceil(e.RetryAfter.Seconds())), 1)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		h.Set("Retry-After-Ms", strconv.FormatInt(max(e.RetryAfter.Milliseconds(), 1), 10))
	}
	if e.NoRetry {
		h.Set("X-Should-Retry", "false")
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

func errInvalidRequest(status int, code, msg string) *Refusal {
	return &Refusal{Status: status, Type: "invalid_request_error", Code: code, Msg: msg}
}
