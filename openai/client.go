package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is the OpenAI API's origin.
const DefaultBaseURL = "https://api.openai.com"

// DefaultTimeout bounds one request when the caller's context does not.
const DefaultTimeout = 30 * time.Second

// defaultHTTP never follows redirects: a key is sent to the configured
// origin and nowhere else.
var defaultHTTP = &http.Client{
	Timeout:       DefaultTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// maxResponse bounds how much of a response is read.
const maxResponse = 4 << 20

// Secret is a key value received from the API. It formats as "[redacted]"
// so that printing a struct holding one never reveals it; use string(s)
// to get the value.
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return "[redacted]" }

// Client talks to one OpenAI API origin with one key.
type Client struct {
	// BaseURL is the API origin, optionally with a path prefix (a prefix
	// ending in "/v1" absorbs the "/v1" of the API paths). Empty means
	// DefaultBaseURL. Plain http is allowed for loopback hosts only, so a
	// key never crosses a network unencrypted.
	BaseURL string
	// Key is sent as "Authorization: Bearer"; it never appears in errors.
	Key string
	// HTTP is the client to use; nil means one with DefaultTimeout.
	HTTP *http.Client
}

// Verify checks that key works against the API at baseURL by listing
// models (GET /v1/models), the cheapest authenticated call. It returns nil
// on 200, else an *APIError or *NetworkError.
func Verify(ctx context.Context, baseURL, key string) error {
	return (&Client{BaseURL: baseURL, Key: key}).Verify(ctx)
}

// Verify checks the client's key with GET /v1/models.
func (c *Client) Verify(ctx context.Context) error {
	var out struct {
		Object string `json:"object"`
	}
	return c.do(ctx, http.MethodGet, "/v1/models", nil, nil, &out)
}

// BaseURLError: a base URL okv will not send a key to.
type BaseURLError struct {
	URL    string // redacted of any userinfo
	Reason string
}

func (e *BaseURLError) Error() string {
	return fmt.Sprintf("invalid API base URL %q: %s", e.URL, e.Reason)
}

// ParseBaseURL checks a base URL: https (or http to a loopback host), a
// host, no query, fragment or credentials.
func ParseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &BaseURLError{URL: clipText(raw, 100), Reason: "not a URL"}
	}
	bad := func(reason string) (*url.URL, error) {
		return nil, &BaseURLError{URL: u.Redacted(), Reason: reason}
	}
	switch {
	case u.Host == "":
		return bad("want scheme://host[:port][/path]")
	case u.User != nil:
		return bad("credentials in the URL are not allowed")
	case u.RawQuery != "" || u.Fragment != "":
		return bad("a query or fragment is not allowed")
	case u.Scheme == "https":
	case u.Scheme == "http":
		if !isLoopback(u.Hostname()) {
			return bad("plain http is allowed for loopback addresses only: a key must not cross the network unencrypted")
		}
	default:
		return bad("the scheme must be https")
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// endpoint joins the base URL and an API path ("/v1/…").
func (c *Client) endpoint(path string, query url.Values) (*url.URL, error) {
	base, err := ParseBaseURL(c.BaseURL)
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(base.Path, "/")
	if strings.HasSuffix(prefix, "/v1") && strings.HasPrefix(path, "/v1/") {
		prefix = strings.TrimSuffix(prefix, "/v1")
	}
	u := *base
	u.Path = prefix + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	return &u, nil
}

// do sends one request and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u, err := c.endpoint(path, query)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "okv")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return networkError(u.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return networkError(u.Host, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.apiError(u, method, path, resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &APIError{Host: u.Host, Method: method, Path: path, Status: resp.StatusCode,
			Message: "the answer is not the JSON the OpenAI API sends (" + describeJSON(err) + ")"}
	}
	return nil
}

// apiError builds an *APIError from an error answer in OpenAI's shape
// {"error": {"message", "type", "param", "code"}}.
func (c *Client) apiError(u *url.URL, method, path string, resp *http.Response, data []byte) *APIError {
	e := &APIError{Host: u.Host, Method: method, Path: path, Status: resp.StatusCode}
	var body struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"` // a string, a number or null
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil {
		e.Message = scrub(body.Error.Message, c.Key)
		e.Type = clipText(body.Error.Type, 60)
		switch code := body.Error.Code.(type) {
		case string:
			e.Code = clipText(code, 60)
		case float64:
			e.Code = strconv.FormatFloat(code, 'f', -1, 64)
		}
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	if s := resp.Header.Get("Retry-After-Ms"); s != "" && e.RetryAfter == 0 {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Millisecond
		}
	}
	return e
}

// describeJSON keeps the kind of a JSON error but never quotes the input:
// an answer may hold a key.
func describeJSON(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return "malformed JSON"
}
