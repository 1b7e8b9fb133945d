package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestForwardsWithRealKeyNotToken(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) {
		c.Credentials = map[string]string{"OPENAI_ORG_ID": "org-profile", "OPENAI_PROJECT_ID": "proj_profile"}
	})
	r := h.req("POST", "/v1/chat/completions?x=1", chatBody)
	r.Header.Set("OpenAI-Organization", "org-client")
	r.Header.Set("OpenAI-Project", "proj_client")
	r.Header.Set("X-Custom", "kept")
	r.Header.Set("X-Sneaky", "token="+h.token)
	r.Header.Set("Cookie", "a=b")
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.Header.Set("Accept-Encoding", "br")
	resp, body := h.do(r)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"chat.completion"`)) {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	seen := h.up.requests()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d requests", len(seen))
	}
	s := seen[0]
	if got := s.Header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("upstream Authorization %q", got)
	}
	if s.Method != "POST" || s.Path != "/v1/chat/completions" || s.RawQuery != "x=1" || string(s.Body) != chatBody {
		t.Errorf("upstream got %s %s?%s %q", s.Method, s.Path, s.RawQuery, s.Body)
	}
	if got := s.Header.Get("Openai-Organization"); got != "org-profile" {
		t.Errorf("OpenAI-Organization %q", got)
	}
	if got := s.Header.Get("Openai-Project"); got != "proj_profile" {
		t.Errorf("OpenAI-Project %q", got)
	}
	if s.Header.Get("X-Custom") != "kept" {
		t.Errorf("X-Custom not forwarded")
	}
	for _, k := range []string{"X-Sneaky", "Cookie", "X-Forwarded-For", "Forwarded"} {
		if v := s.Header.Values(k); len(v) > 0 {
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	if s.Header.Get("Accept-Encoding") == "br" {
		t.Errorf("client's Accept-Encoding forwarded")
	}
	assertNoToken(t, h, seen)

	recs := h.ledger.wait(1)
	rec := recs[0]
	if rec.Status != 200 || rec.Model != "gpt-4o-mini" || rec.PromptTokens != 11 || rec.CompletionTokens != 7 ||
		rec.TotalTokens != 18 || rec.Streamed || rec.Profile != "dev" || rec.Method != "POST" ||
		rec.Path != "/v1/chat/completions" || rec.Refused != "" {
		t.Errorf("record %+v", rec)
	}
}

func assertNoToken(t *testing.T, h *harness, seen []seenReq) {
	t.Helper()
	for _, s := range seen {
		for k, vs := range s.Header {
			for _, v := range vs {
				if strings.Contains(v, h.token) {
					t.Errorf("token reached upstream in header %s", k)
				}
			}
		}
		if strings.Contains(s.Path+s.RawQuery, h.token) {
			t.Errorf("token reached upstream in URL")
		}
	}
}

func TestOrgProjectRemovedWhenUnset(t *testing.T) {
	h := newHarness(t, nil, nil)
	r := h.req("GET", "/v1/models", "")
	r.Header.Set("OpenAI-Organization", "org-client")
	r.Header.Set("OpenAI-Project", "proj_client")
	if resp, _ := h.do(r); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	s := h.up.requests()[0]
	if v := s.Header.Values("Openai-Organization"); len(v) > 0 {
		t.Errorf("OpenAI-Organization %q forwarded", v)
	}
	if v := s.Header.Values("Openai-Project"); len(v) > 0 {
		t.Errorf("OpenAI-Project %q forwarded", v)
	}
	if s.Header.Get("Authorization") != "Bearer "+testKey {
		t.Errorf("real key missing")
	}
}

func TestBadTokenRefused(t *testing.T) {
	h := newHarness(t, nil, nil)
	cases := map[string]string{
		"missing":      "",
		"wrong":        "Bearer okv-wrongwrongwrongwrongwrongwrongwrongwrong",
		"prefix":       "Bearer " + h.token[:len(h.token)-1],
		"longer":       "Bearer " + h.token + "x",
		"basic":        "Basic " + h.token,
		"real key":     "Bearer " + testKey,
		"bare token":   h.token,
		"empty bearer": "Bearer ",
	}
	for name, auth := range cases {
		t.Run(name, func(t *testing.T) {
			r := h.req("POST", "/v1/chat/completions", chatBody)
			r.Header.Del("Authorization")
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			resp, body := h.do(r)
			wantError(t, resp, body, 401, "invalid_request_error", "invalid_api_key")
		})
	}
	if n := len(h.up.requests()); n != 0 {
		t.Errorf("upstream saw %d requests", n)
	}
	recs := h.ledger.wait(len(cases))
	for _, rec := range recs {
		if rec.Status != 401 || rec.Refused != "invalid_api_key" {
			t.Errorf("record %+v", rec)
		}
	}
	// The scheme is case-insensitive.
	r := h.req("GET", "/v1/models", "")
	r.Header.Set("Authorization", "bearer "+h.token)
	if resp, _ := h.do(r); resp.StatusCode != 200 {
		t.Errorf("lower-case bearer: status %d", resp.StatusCode)
	}
}

func TestHostHeader(t *testing.T) {
	h := newHarness(t, nil, nil)
	other := "1"
	if h.port == "1" {
		other = "2"
	}
	cases := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:" + h.port, true},
		{"localhost:" + h.port, true},
		{"LocalHost:" + h.port, true},
		{"[::1]:" + h.port, true},
		{"127.0.0.2:" + h.port, true},
		{"evil.example:" + h.port, false},
		{"localhost.evil.example:" + h.port, false},
		{"127.0.0.1.nip.io:" + h.port, false},
		{"127.0.0.1:" + other, false},
		{"localhost", false},
		{"192.0.2.1:" + h.port, false},
		{"[fe80::1%25lo]:" + h.port, false},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			r := h.req("GET", "/v1/models", "")
			r.Host = c.host
			resp, body := h.do(r)
			if c.ok {
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				return
			}
			wantError(t, resp, body, 401, "invalid_request_error", "invalid_host")
		})
	}
	for _, s := range h.up.requests() {
		if s.Path != "/v1/models" {
			t.Errorf("upstream got %s", s.Path)
		}
	}
}

// serveDirect calls ServeHTTP without a server, as the proxy listening on
// 127.0.0.1:port would see the request.
func serveDirect(p *Proxy, port uint16, r *http.Request) *httptest.ResponseRecorder {
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	p.listen.Store(&ap)
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	return w
}

func TestNonLoopbackClientRefused(t *testing.T) {
	up := newUpstream(t, nil)
	tok, _ := NewToken()
	ledger := newMemLedger()
	mk := func(allow ...netip.Prefix) *Proxy {
		p, err := New(Config{Upstream: up.url(t, ""), APIKey: testKey, Token: tok, Allow: allow, Ledger: ledger})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	req := func(remote string) *http.Request {
		r := httptest.NewRequest("GET", "/v1/models", nil)
		r.Host = "127.0.0.1:8765"
		r.RemoteAddr = remote
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	p := mk()
	for _, remote := range []string{"192.0.2.7:5555", "[2001:db8::1]:443", "10.0.0.1:1", "garbage", ""} {
		w := serveDirect(p, 8765, req(remote))
		resp := w.Result()
		wantError(t, resp, w.Body.Bytes(), 403, "invalid_request_error", "client_not_allowed")
	}
	for _, remote := range []string{"127.0.0.1:5555", "[::1]:5555", "[::ffff:127.0.0.1]:5555"} {
		if w := serveDirect(p, 8765, req(remote)); w.Code != 200 {
			t.Errorf("%s: status %d %s", remote, w.Code, w.Body)
		}
	}
	p = mk(netip.MustParsePrefix("192.0.2.0/24"))
	if w := serveDirect(p, 8765, req("192.0.2.7:5555")); w.Code != 200 {
		t.Errorf("allowed network: status %d %s", w.Code, w.Body)
	}
	if w := serveDirect(p, 8765, req("198.51.100.1:5555")); w.Code != 403 {
		t.Errorf("other network: status %d", w.Code)
	}
	if n := len(up.requests()); n != 4 {
		t.Errorf("upstream saw %d requests, want 4", n)
	}
}

func TestRejectsForeignTargets(t *testing.T) {
	h := newHarness(t, nil, nil)
	raw := func(reqLine string) string {
		c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "%s\r\nHost: 127.0.0.1:%s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", reqLine, h.port, h.token)
		b, _ := io.ReadAll(c)
		return string(b)
	}
	for line, status := range map[string]string{
		"GET http://evil.example/v1/models HTTP/1.1":             "400",
		"GET http://127.0.0.1:" + h.port + "/v1/models HTTP/1.1": "400",
		"CONNECT evil.example:443 HTTP/1.1":                      "405",
		"OPTIONS * HTTP/1.1":                                     "200", // answered by net/http itself, never forwarded
		"TRACE /v1/models HTTP/1.1":                              "405",
	} {
		got := raw(line)
		if !strings.HasPrefix(got, "HTTP/1.1 "+status) {
			t.Errorf("%s: got %.60q, want %s", line, got, status)
		}
	}
	// The same through ServeHTTP.
	r := httptest.NewRequest("GET", "http://evil.example/v1/models", nil)
	r.Header.Set("Authorization", "Bearer "+h.token)
	w := serveDirect(h.p, 1, r)
	wantError(t, w.Result(), w.Body.Bytes(), 400, "invalid_request_error", "invalid_request_uri")
	if n := len(h.up.requests()); n != 0 {
		t.Errorf("upstream saw %d requests", n)
	}
}

func TestPathMapping(t *testing.T) {
	for _, c := range []struct{ upPath, client, want string }{
		{"", "/v1/models", "/v1/models"},
		{"/", "/v1/chat/completions", "/v1/chat/completions"},
		{"/v1", "/v1/models", "/v1/models"},
		{"/v1/", "/v1/models", "/v1/models"},
		{"/openai", "/v1/models", "/openai/v1/models"},
		{"/openai/v1", "/v1/files/file-1/content", "/openai/v1/files/file-1/content"},
	} {
		h := newHarness(t, nil, nil)
		hp, err := New(Config{Upstream: h.up.url(t, c.upPath), APIKey: testKey, Token: h.token})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", c.client+"?limit=2", nil)
		r.Host = "localhost:9"
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("Authorization", "Bearer "+h.token)
		if w := serveDirect(hp, 9, r); w.Code != 200 {
			t.Fatalf("%+v: status %d", c, w.Code)
		}
		s := h.up.requests()[0]
		if s.Path != c.want || s.RawQuery != "limit=2" {
			t.Errorf("%+v: upstream got %s?%s", c, s.Path, s.RawQuery)
		}
		if s.Host != strings.TrimPrefix(h.up.srv.URL, "http://") {
			t.Errorf("upstream Host %q", s.Host)
		}
	}
}

func TestBadPaths(t *testing.T) {
	h := newHarness(t, nil, nil)
	for path, want := range map[string]int{
		"/v2/models":                404,
		"/":                         404,
		"/v1x":                      404,
		"/v1/../admin":              400,
		"/v1/a/../../etc":           400,
		"/v1//models":               400,
		"/v1/./models":              400,
		"/v1/%2e%2e/admin":          400,
		"/v1/models?k=" + "x":       200,
		"/v1/models/":               200,
		"/v1/x/" + h.token:          400,
		"/v1/models?key=" + h.token: 400,
		"/v1/models?key=%6Fkv-" + strings.TrimPrefix(h.token, "okv-"): 400,
	} {
		c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", path, h.port, h.token)
		b, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(b), fmt.Sprintf("HTTP/1.1 %d", want)) {
			t.Errorf("%s: got %.40q, want %d", path, b, want)
		}
	}
	assertNoToken(t, h, h.up.requests())
	// The token never lands in the ledger either.
	for _, rec := range h.ledger.wait(13) {
		if strings.Contains(rec.Path, h.token) {
			t.Errorf("token in recorded path %q", rec.Path)
		}
	}
}

func TestModelsAllowed(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) {
		c.Limits.Models = []string{"gpt-4o-mini", "gpt-5*"}
	})
	resp, body := h.post("/v1/chat/completions", `{"model":"gpt-4o","messages":[]}`)
	wantError(t, resp, body, 403, "invalid_request_error", "model_not_allowed")

	for _, ok := range []string{"gpt-4o-mini", "gpt-5-nano"} {
		if resp, body := h.post("/v1/chat/completions", `{"model":"`+ok+`","messages":[]}`); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", ok, resp.StatusCode, body)
		}
	}
	// Bodies whose model cannot be checked unambiguously.
	for _, b := range []string{
		`{"model":"gpt-4o-mini","model":"o1-pro"}`,
		`{"model":"gpt-4o-mini"`,
		`{"model":"gpt-4o-mini"} {"model":"o1-pro"}`,
		`[{"model":"o1-pro"}]`,
		`{"model":5}`,
	} {
		resp, body := h.post("/v1/chat/completions", b)
		wantError(t, resp, body, 400, "invalid_request_error", "invalid_body")
	}
	// An escaped key is still "model".
	resp, body = h.post("/v1/chat/completions", `{"mod\u0065l":"o1-pro"}`)
	wantError(t, resp, body, 403, "invalid_request_error", "model_not_allowed")
	// JSON sent with another content type is still checked.
	r := h.req("POST", "/v1/chat/completions", ` {"model":"o1-pro"}`)
	r.Header.Set("Content-Type", "text/plain")
	resp, body = h.do(r)
	wantError(t, resp, body, 403, "invalid_request_error", "model_not_allowed")
	// The query's model.
	resp, body = h.do(h.req("GET", "/v1/realtime?model=o1-pro", ""))
	wantError(t, resp, body, 403, "invalid_request_error", "model_not_allowed")
	resp, body = h.do(h.req("GET", "/v1/realtime?mod%65l=o1-pro", ""))
	wantError(t, resp, body, 403, "invalid_request_error", "model_not_allowed")
	// Multipart forms (audio transcriptions).
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "a.wav")
	fw.Write([]byte("RIFF...."))
	mw.WriteField("model", "whisper-1")
	mw.Close()
	r = h.req("POST", "/v1/audio/transcriptions", mp.String())
	r.Header.Set("Content-Type", mw.FormDataContentType())
	resp, body = h.do(r)
	wantError(t, resp, body, 403, "invalid_request_error", "model_not_allowed")
	// Url-encoded forms.
	r = h.req("POST", "/v1/x", "model=o1-pro")
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body = h.do(r)
	wantError(t, resp, body, 403, "invalid_request_error", "model_not_allowed")
	// Parts another parser could read a model from where Go reads none: a
	// Content-Disposition Go cannot parse, a quoted-printable part.
	for _, part := range []string{
		"Content-Disposition: form-data; name=\"model\"; x\r\n\r\no1-pro",
		"Content-Disposition: form-data; name=\"model\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\no1=2Dpro",
	} {
		r = h.req("POST", "/v1/audio/transcriptions", "--b\r\n"+part+"\r\n--b--\r\n")
		r.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		resp, body = h.do(r)
		wantError(t, resp, body, 400, "invalid_request_error", "invalid_body")
	}
	// Query strings url.Query would drop a pair of.
	for _, q := range []string{"x=1;model=o1-pro", "model=o1%zzpro"} {
		resp, body = h.do(h.req("GET", "/v1/realtime?"+q, ""))
		wantError(t, resp, body, 400, "invalid_request_error", "invalid_query")
	}

	for _, s := range h.up.requests() {
		if !bytes.Contains(s.Body, []byte(`"gpt-4o-mini"`)) && !bytes.Contains(s.Body, []byte(`"gpt-5-nano"`)) {
			t.Errorf("upstream got a refused body %q", s.Body)
		}
	}
	if n := len(h.up.requests()); n != 2 {
		t.Errorf("upstream saw %d requests, want 2", n)
	}
	recs := h.ledger.wait(1)
	if recs[0].Status != 403 || recs[0].Model != "gpt-4o" || recs[0].Refused != "model_not_allowed" {
		t.Errorf("record %+v", recs[0])
	}
}

func TestEndpointsAllowed(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) {
		c.Limits.Endpoints = []string{"/v1/chat/completions", "embeddings"}
	})
	for path, want := range map[string]int{
		"/v1/chat/completions":   200,
		"/v1/embeddings":         200,
		"/v1/chat/completions/x": 200,
		"/v1/chat/completionsX":  403,
		"/v1/images/generations": 403,
		"/v1/chat":               403,
		"/v1/files":              403,
	} {
		resp, body := h.post(path, chatBody)
		if want == 403 {
			wantError(t, resp, body, 403, "invalid_request_error", "endpoint_not_allowed")
		} else if resp.StatusCode != want {
			t.Errorf("%s: status %d", path, resp.StatusCode)
		}
	}
	if n := len(h.up.requests()); n != 3 {
		t.Errorf("upstream saw %d requests, want 3", n)
	}
}

func TestRPM(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.Limits.RPM = 2 })
	for i := 0; i < 2; i++ {
		if resp, _ := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := h.post("/v1/chat/completions", chatBody)
	wantError(t, resp, body, 429, "requests", "rate_limit_exceeded")
	if ra := resp.Header.Get("Retry-After"); ra != "60" {
		t.Errorf("retry-after %q, want 60", ra)
	}
	if sr := resp.Header.Get("X-Should-Retry"); sr != "" {
		t.Errorf("a rate refusal says x-should-retry %q: SDKs would not wait and retry", sr)
	}
	h.clock.Advance(30 * time.Second)
	resp, body = h.post("/v1/chat/completions", chatBody)
	wantError(t, resp, body, 429, "requests", "rate_limit_exceeded")
	if ra := resp.Header.Get("Retry-After"); ra != "30" {
		t.Errorf("retry-after %q, want 30", ra)
	}
	if ms := resp.Header.Get("Retry-After-Ms"); ms != "30000" {
		t.Errorf("retry-after-ms %q", ms)
	}
	h.clock.Advance(30 * time.Second)
	if resp, _ := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("after the window: %d", resp.StatusCode)
	}
	if n := len(h.up.requests()); n != 3 {
		t.Errorf("upstream saw %d", n)
	}
}

func TestTPM(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) { chatJSON(w, 10, 5) },
		func(c *Config) { c.Limits.TPM = 10 })
	if resp, _ := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	h.ledger.wait(1) // its tokens are counted once it is recorded
	h.clock.Advance(20 * time.Second)
	resp, body := h.post("/v1/chat/completions", chatBody)
	wantError(t, resp, body, 429, "tokens", "rate_limit_exceeded")
	if ra := resp.Header.Get("Retry-After"); ra != "40" {
		t.Errorf("retry-after %q, want 40", ra)
	}
	h.clock.Advance(40 * time.Second)
	if resp, _ := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("after the window: %d", resp.StatusCode)
	}
}

func TestDailyBudget(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) { chatJSON(w, 10, 5) },
		func(c *Config) {
			c.Limits.DailyTokens = 100
			c.TokensUsedToday = 90
		})
	if resp, _ := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	h.ledger.wait(1)
	resp, body := h.post("/v1/chat/completions", chatBody)
	wantError(t, resp, body, 429, "insufficient_quota", "insufficient_quota")
	// SDKs must not retry, nor sleep until the budget resets.
	if ra, ms, sr := resp.Header.Get("Retry-After"), resp.Header.Get("Retry-After-Ms"), resp.Header.Get("X-Should-Retry"); ra != "" || ms != "" || sr != "false" {
		t.Errorf("retry-after %q, retry-after-ms %q, x-should-retry %q", ra, ms, sr)
	}
	h.clock.Advance(12 * time.Hour)
	if resp, _ := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("next day: %d", resp.StatusCode)
	}
	if n := len(h.up.requests()); n != 2 {
		t.Errorf("upstream saw %d", n)
	}
}

func TestBodyTooLarge(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.Limits.MaxBody = 1024 })
	big := `{"model":"gpt-4o-mini","input":"` + strings.Repeat("a", 2048) + `"}`
	resp, body := h.post("/v1/embeddings", big)
	wantError(t, resp, body, 413, "invalid_request_error", "request_too_large")

	// No Content-Length: JSON is read, and refused past the limit.
	r := h.req("POST", "/v1/embeddings", "")
	r.Body = io.NopCloser(strings.NewReader(big))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/json")
	resp, body = h.do(r)
	wantError(t, resp, body, 413, "invalid_request_error", "request_too_large")
	if n := len(h.up.requests()); n != 0 {
		t.Errorf("upstream saw %d requests", n)
	}

	// A streamed (opaque) body is cut at the limit.
	r = h.req("POST", "/v1/files", "")
	r.Body = io.NopCloser(strings.NewReader(strings.Repeat("b", 4096)))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/octet-stream")
	resp, body = h.do(r)
	wantError(t, resp, body, 413, "invalid_request_error", "request_too_large")
	for _, s := range h.up.requests() {
		if len(s.Body) > 1024 {
			t.Errorf("upstream got %d bytes", len(s.Body))
		}
	}
	// Within the limit, streamed bodies pass whole.
	r = h.req("POST", "/v1/files", "")
	r.Body = io.NopCloser(strings.NewReader(strings.Repeat("c", 1024)))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/octet-stream")
	if resp, _ := h.do(r); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Found by its bytes, not as the last recorded: the cut request above
	// may reach the recording upstream's log after this one.
	whole := false
	for _, s := range h.up.requests() {
		if string(s.Body) == strings.Repeat("c", 1024) {
			whole = true
		}
	}
	if !whole {
		t.Errorf("the upstream never got the 1024-byte streamed body whole")
	}
}

// sseChunk is a chat.completion.chunk event.
func sseChunk(content string) string {
	return `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"` +
		content + `"}}],"usage":null}` + "\n\n"
}

func TestStreamingChunkByChunk(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, sseChunk("first"))
		w.(http.Flusher).Flush()
		<-release // the test has read the first chunk
		io.WriteString(w, sseChunk("second"))
		io.WriteString(w, `data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":21,"completion_tokens":4,"total_tokens":25}}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}, nil)
	r := h.req("POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}`)
	resp, err := h.client.Do(r)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	close(release)
	if err != nil || !strings.Contains(line, `"first"`) {
		t.Fatalf("first line %q, %v", line, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rest), `"second"`) || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("rest %q", rest)
	}
	rec := h.ledger.wait(1)[0]
	if !rec.Streamed || rec.PromptTokens != 21 || rec.CompletionTokens != 4 || rec.TotalTokens != 25 || rec.Status != 200 {
		t.Errorf("record %+v", rec)
	}
}

func TestResponsesAPIStreamUsage(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		io.WriteString(w, "event: response.created\r\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\r\n\r\n")
		io.WriteString(w, "event: response.output_text.delta\r\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\r\n\r\n")
		io.WriteString(w, "event: response.completed\r\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":30,\"output_tokens\":12,\"total_tokens\":42}}}\r\n\r\n")
	}, nil)
	if resp, _ := h.post("/v1/responses", `{"model":"gpt-5","stream":true,"input":"x"}`); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	rec := h.ledger.wait(1)[0]
	if rec.PromptTokens != 30 || rec.CompletionTokens != 12 || rec.TotalTokens != 42 || rec.Model != "gpt-5" {
		t.Errorf("record %+v", rec)
	}
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func TestGzipUpstream(t *testing.T) {
	const js = `{"object":"list","data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}`
	handler := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip") // even when not asked for
		w.Write(gzipped(js))
	}
	// Default transport: it asks for gzip itself and decodes.
	h := newHarness(t, handler, nil)
	resp, body := h.post("/v1/embeddings", `{"model":"text-embedding-3-small","input":"x"}`)
	if resp.StatusCode != 200 || string(body) != js || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("status %d encoding %q body %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
	}
	if rec := h.ledger.wait(1)[0]; rec.PromptTokens != 8 || rec.TotalTokens != 8 {
		t.Errorf("record %+v", rec)
	}
	// A transport that does not decode: the proxy decodes, so the body
	// is scrubbed and counted, and passes decoded.
	h = newHarness(t, handler, func(c *Config) { c.Transport = &http.Transport{DisableCompression: true} })
	resp, body = h.post("/v1/embeddings", `{"model":"text-embedding-3-small","input":"x"}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || string(body) != js {
		t.Fatalf("status %d encoding %q body %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
	}
	if rec := h.ledger.wait(1)[0]; rec.PromptTokens != 8 || rec.TotalTokens != 8 {
		t.Errorf("record %+v", rec)
	}
	if ae := h.up.requests()[0].Header.Get("Accept-Encoding"); ae != "" {
		t.Errorf("upstream got Accept-Encoding %q", ae)
	}
}

func TestLargeJSONResponseUsage(t *testing.T) {
	big := `{"object":"list","data":[{"embedding":[` + strings.Repeat("0.0123456,", 300000) + `0]}],"model":"m","usage":{"prompt_tokens":5,"total_tokens":5}}`
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, big)
	}, nil)
	resp, body := h.post("/v1/embeddings", `{"model":"m","input":"x"}`)
	if resp.StatusCode != 200 || len(body) != len(big) {
		t.Fatalf("status %d len %d", resp.StatusCode, len(body))
	}
	if rec := h.ledger.wait(1)[0]; rec.PromptTokens != 5 || rec.TotalTokens != 5 {
		t.Errorf("record %+v", rec)
	}
}

func TestClientCancelReachesUpstream(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		t.Run(fmt.Sprint("streaming=", streaming), func(t *testing.T) {
			started := make(chan struct{})
			canceled := make(chan struct{})
			h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
				if streaming {
					w.Header().Set("Content-Type", "text/event-stream")
					io.WriteString(w, sseChunk("x"))
					w.(http.Flusher).Flush()
				}
				close(started)
				<-r.Context().Done()
				close(canceled)
			}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := h.req("POST", "/v1/chat/completions", chatBody).WithContext(ctx)
			errc := make(chan error, 1)
			gotFirst := make(chan struct{})
			go func() {
				resp, err := h.client.Do(r)
				if err == nil {
					_, err = bufio.NewReader(resp.Body).ReadString('\n')
					close(gotFirst)
					if err == nil {
						_, err = io.ReadAll(resp.Body)
					}
					resp.Body.Close()
				}
				errc <- err
			}()
			<-started
			if streaming {
				<-gotFirst // the client is reading the stream
			}
			cancel()
			<-canceled // the upstream saw its request canceled
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("client error %v", err)
			}
			rec := h.ledger.wait(1)[0]
			if want := map[bool]int{false: 499, true: 200}[streaming]; rec.Status != want {
				t.Errorf("record status %d, want %d", rec.Status, want)
			}
		})
	}
}

func TestUpstreamDown(t *testing.T) {
	var h *harness
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		h = newHarness(t, nil, func(c *Config) { c.Upstream = &url.URL{Scheme: "http", Host: addr} })
		// The kernel may hand the freed port to this test's own proxy or
		// fake upstream, started just after: then the "down" upstream
		// answers (401 or 200). Pick another port.
		_, port, _ := net.SplitHostPort(addr)
		if port != h.port && h.up.url(t, "").Port() != port {
			break
		}
	}
	resp, body := h.post("/v1/chat/completions", chatBody)
	wantError(t, resp, body, 502, "server_error", "upstream_unreachable")
	if bytes.Contains(body, []byte(testKey)) || bytes.Contains(body, []byte(h.token)) {
		t.Errorf("secret in error body")
	}
	if rec := h.ledger.wait(1)[0]; rec.Status != 502 {
		t.Errorf("record %+v", rec)
	}
}

func TestNewValidates(t *testing.T) {
	tok, _ := NewToken()
	bad := map[string]Config{
		"no token":        {APIKey: testKey},
		"token is key":    {APIKey: tok, Token: tok},
		"key with CRLF":   {APIKey: "sk-a\r\nX: y", Token: tok},
		"ftp upstream":    {Token: tok, Upstream: &url.URL{Scheme: "ftp", Host: "x"}},
		"upstream query":  {Token: tok, Upstream: &url.URL{Scheme: "https", Host: "x", RawQuery: "a=b"}},
		"upstream user":   {Token: tok, Upstream: &url.URL{Scheme: "https", Host: "x", User: url.UserPassword("u", "p")}},
		"negative limits": {Token: tok, Limits: Limits{RPM: -1}},
	}
	for name, c := range bad {
		p, err := New(c)
		if err == nil {
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), "sk-a") || strings.Contains(err.Error(), tok) {
			t.Errorf("%s: error holds a secret: %v", name, err)
		}
		_ = p
	}
	p, err := New(Config{Token: tok, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if p.upstream.String() != DefaultUpstream || p.limits.Body() != DefaultMaxBody {
		t.Errorf("defaults: %s %d", p.upstream, p.limits.Body())
	}
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, "okv-") || len(tok) != 47 || seen[tok] {
			t.Fatalf("token %q", tok)
		}
		if url.PathEscape(tok) != tok || url.QueryEscape(tok) != tok {
			t.Fatalf("token %q is not URL-safe", tok)
		}
		seen[tok] = true
	}
}

func TestShutdown(t *testing.T) {
	h := newHarness(t, nil, nil)
	if resp, _ := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	if err := h.p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.Do(h.req("GET", "/v1/models", "")); err == nil {
		t.Errorf("request after Shutdown succeeded")
	}
}

// TestHostCheckedOnEveryRequest: on one kept-alive connection, a Host
// accepted before does not let a foreign one through after it.
func TestHostCheckedOnEveryRequest(t *testing.T) {
	h := newHarness(t, nil, nil)
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i, host := range []string{"127.0.0.1:" + h.port, "evil.example:" + h.port, "127.0.0.1:" + h.port, "localhost:" + h.port, ""} {
		fmt.Fprintf(c, "GET /v1/models HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", host, h.token)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		want := 200
		if host == "" || strings.HasPrefix(host, "evil") {
			want = 401
		}
		if resp.StatusCode != want {
			t.Fatalf("request %d with Host %q: status %d, want %d", i, host, resp.StatusCode, want)
		}
	}
}

// TestConnectionReuseStartsClean: requests on one kept-alive connection
// are served one after another; none may inherit another's
// body, model, token counts or answer buffer.
func TestConnectionReuseStartsClean(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/chat/completions":
			var n int
			fmt.Sscan(r.URL.Query().Get("n"), &n)
			chatJSON(w, n, n+1)
		default:
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "plain")
		}
	}, nil)
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(method, target, body string) {
		t.Helper()
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nAuthorization: Bearer %s\r\n", method, target, h.port, h.token)
		if body != "" {
			fmt.Fprintf(c, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
		}
		fmt.Fprintf(c, "\r\n%s", body)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: status %d", method, target, resp.StatusCode)
		}
	}
	send("POST", "/v1/chat/completions?n=3", chatBody)
	send("POST", "/v1/chat/completions?n=5", `{"model":"gpt-4o","messages":[]}`)
	send("GET", "/v1/files/x/content", "")

	recs := h.ledger.wait(3)
	want := []struct {
		model         string
		prompt, total int64
	}{{"gpt-4o-mini", 3, 7}, {"gpt-4o", 5, 11}, {"", 0, 0}}
	for i, w := range want {
		if r := recs[i]; r.Model != w.model || r.PromptTokens != w.prompt || r.TotalTokens != w.total {
			t.Errorf("record %d: model %q, prompt %d, total %d tokens; want %q, %d, %d",
				i, r.Model, r.PromptTokens, r.TotalTokens, w.model, w.prompt, w.total)
		}
	}
	seen := h.up.requests()
	if len(seen) != 3 {
		t.Fatalf("upstream saw %d requests, want 3", len(seen))
	}
	if string(seen[1].Body) != `{"model":"gpt-4o","messages":[]}` || len(seen[2].Body) != 0 {
		t.Errorf("upstream bodies %q and %q: a request carried another's", seen[1].Body, seen[2].Body)
	}
}
