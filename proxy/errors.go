package proxy

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
)

// apiError is a refusal, written in OpenAI's error shape.
type apiError struct {
	status     int
	typ        string
	code       string
	msg        string
	retryAfter time.Duration // > 0: sets retry-after and retry-after-ms
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) write(w http.ResponseWriter) {
	d := errorDetail{Message: "okv proxy: " + e.msg, Type: e.typ}
	if e.code != "" {
		c := e.code
		d.Code = &c
	}
	b, _ := json.Marshal(errorBody{Error: d})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if e.retryAfter > 0 {
		secs := int64(math.Ceil(e.retryAfter.Seconds()))
		if secs < 1 {
			secs = 1
		}
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		ms := e.retryAfter.Milliseconds()
		if ms < 1 {
			ms = 1
		}
		h.Set("Retry-After-Ms", strconv.FormatInt(ms, 10))
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(append(b, '\n'))
}

func errInvalidRequest(status int, code, msg string) *apiError {
	return &apiError{status: status, typ: "invalid_request_error", code: code, msg: msg}
}
