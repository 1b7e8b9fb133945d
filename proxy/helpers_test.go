package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "sk-proj-REALKEY0123456789abcdefT3BlbkFJrealkey"

// seenReq is what the fake upstream received.
type seenReq struct {
	Method, Path, RawQuery, Host string
	Header                       http.Header
	Body                         []byte
}

// upstream is an in-process fake OpenAI that records what it receives.
type upstream struct {
	srv     *httptest.Server
	mu      sync.Mutex
	seen    []seenReq
	handler http.HandlerFunc
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{handler: h}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, seenReq{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Host: r.Host, Header: r.Header.Clone(), Body: body})
		u.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if u.handler != nil {
			u.handler(w, r)
			return
		}
		chatJSON(w, 11, 7)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []seenReq {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenReq(nil), u.seen...)
}

func (u *upstream) url(t *testing.T, p string) *url.URL {
	t.Helper()
	v, err := url.Parse(u.srv.URL + p)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// chatJSON answers like a non-streamed chat completion.
func chatJSON(w http.ResponseWriter, prompt, completion int) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":`+itoa(prompt)+`,"completion_tokens":`+itoa(completion)+
		`,"total_tokens":`+itoa(prompt+completion)+`}}`)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// memLedger keeps records in memory; wait blocks until n have arrived.
type memLedger struct {
	mu   sync.Mutex
	recs []Record
	cond *sync.Cond
}

func newMemLedger() *memLedger {
	l := &memLedger{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *memLedger) Append(r Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
	l.cond.Broadcast()
	return nil
}

func (l *memLedger) wait(n int) []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.recs) < n {
		l.cond.Wait()
	}
	return append([]Record(nil), l.recs...)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a proxy served on a loopback listener in front of a fake
// upstream.
type harness struct {
	t      *testing.T
	p      *Proxy
	up     *upstream
	ledger *memLedger
	token  string
	base   string // http://127.0.0.1:PORT
	port   string
	client *http.Client
	clock  *clock
}

func newHarness(t *testing.T, h http.HandlerFunc, mod func(*Config)) *harness {
	t.Helper()
	up := newUpstream(t, h)
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	hs := &harness{t: t, up: up, ledger: newMemLedger(), token: tok, clock: newClock()}
	cfg := Config{
		Profile:  "dev",
		Upstream: up.url(t, ""),
		APIKey:   testKey,
		Token:    tok,
		Ledger:   hs.ledger,
		Now:      hs.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(l) }()
	tr := &http.Transport{DisableCompression: true}
	hs.p = p
	hs.base = "http://" + l.Addr().String()
	_, hs.port, _ = net.SplitHostPort(l.Addr().String())
	hs.client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = p.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return hs
}

// req builds a request to the proxy carrying the token.
func (h *harness) req(method, path, body string) *http.Request {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+h.token)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// do sends r and returns the response with its body read.
func (h *harness) do(r *http.Request) (*http.Response, []byte) {
	h.t.Helper()
	resp, err := h.client.Do(r)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, b
}

func (h *harness) post(path, body string) (*http.Response, []byte) {
	h.t.Helper()
	return h.do(h.req("POST", path, body))
}

// wantError checks an OpenAI-shaped error answer.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, typ, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if !bytes.Contains(body, []byte(`"param":null`)) {
		t.Errorf("error body lacks param: %s", body)
	}
	if e.Error.Message == "" || e.Error.Type != typ {
		t.Errorf("error %+v, want type %q", e.Error, typ)
	}
	got := ""
	if e.Error.Code != nil {
		got = *e.Error.Code
	}
	if got != code {
		t.Errorf("error code %q, want %q", got, code)
	}
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`
