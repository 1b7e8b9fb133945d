package proxy

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"testing"
)

// batchUpload is a Batch API input file upload as OpenAI documents it
// (POST /v1/files, multipart: purpose=batch and a JSONL file of
// {"custom_id","method","url","body"} lines).
func batchUpload(t *testing.T, h *harness, lines string) *http.Request {
	t.Helper()
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("purpose", "batch")
	fw, _ := mw.CreateFormFile("file", "batch.jsonl")
	fw.Write([]byte(lines))
	mw.Close()
	r := h.req("POST", "/v1/files", mp.String())
	r.Header.Set("Content-Type", mw.FormDataContentType())
	return r
}

const (
	batchLineMini = `{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}}`
	batchLine4o   = `{"custom_id":"r2","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}`
)

// Every way the API lets a request run a model the profile forbids, in
// the shapes of OpenAI's API reference, is refused before the upstream.
func TestModelBypassesRefused(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.Limits.Models = []string{"gpt-4o-mini"} })
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"image without model (dall-e-2 by default)", "POST", "/v1/images/generations", `{"prompt":"a cat"}`, 400, "model_required"},
		{"model null", "POST", "/v1/chat/completions", `{"model":null,"messages":[]}`, 400, "invalid_body"},
		{"run with the assistant's model", "POST", "/v1/threads/thread_1/runs", `{"assistant_id":"asst_1"}`, 400, "model_required"},
		{"thread and run", "POST", "/v1/threads/runs", `{"assistant_id":"asst_1","thread":{"messages":[]}}`, 400, "model_required"},
		{"stored prompt", "POST", "/v1/responses", `{"prompt":{"id":"pmpt_1","version":"2"},"input":"hi"}`, 400, "model_required"},
		{"tool model", "POST", "/v1/responses", `{"model":"gpt-4o-mini","input":"a cat","tools":[{"type":"image_generation","model":"gpt-image-1"}]}`, 403, "model_not_allowed"},
		{"key in another case", "POST", "/v1/chat/completions", `{"Model":"gpt-4o","messages":[]}`, 400, "invalid_body"},
		{"key in another case beside model", "POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","MODEL":"gpt-4o","messages":[]}`, 400, "invalid_body"},
		{"realtime WebSocket without model", "GET", "/v1/realtime", ``, 400, "model_required"},
		{"batch create", "POST", "/v1/batches", `{"input_file_id":"file-1","endpoint":"/v1/chat/completions","completion_window":"24h"}`, 403, "endpoint_not_allowed"},
		{"batch list", "GET", "/v1/batches", ``, 403, "endpoint_not_allowed"},
		{"moderation default model", "POST", "/v1/moderations", `{"input":"x"}`, 400, "model_required"},
	} {
		r := h.req(c.method, c.path, c.body)
		if c.name == "realtime WebSocket without model" {
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			r.Header.Set("Sec-WebSocket-Version", "13")
			r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		resp, body := h.do(r)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d; %s", c.name, resp.StatusCode, c.status, body)
			continue
		}
		wantError(t, resp, body, c.status, "invalid_request_error", c.code)
	}
	// A batch file naming a forbidden model on any line.
	resp, body := h.do(batchUpload(t, h, batchLineMini+"\n"+batchLine4o+"\n"))
	wantError(t, resp, body, 403, "invalid_request_error", "model_not_allowed")
	resp, body = h.do(batchUpload(t, h, batchLineMini+"\n"+`{"custom_id":"r3","method":"POST","url":"/v1/images/generations","body":{"prompt":"x"}}`+"\n"))
	wantError(t, resp, body, 400, "invalid_request_error", "invalid_body")
	if n := len(h.up.requests()); n != 0 {
		t.Fatalf("upstream received %d refused requests: %+v", n, h.up.requests())
	}

	// What passes: allowed models at every level, model-free endpoints,
	// a batch file of allowed lines, other uploads.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/models", ""},
		{"GET", "/v1/models/gpt-4o", ""},
		{"GET", "/v1/files", ""},
		{"GET", "/v1/files/file-1/content", ""},
		{"DELETE", "/v1/files/file-1", ""},
		{"GET", "/v1/responses/resp_1", ""},
		{"POST", "/v1/responses", `{"model":"gpt-4o-mini","input":"x","tools":[{"type":"web_search"}]}`},
		{"POST", "/v1/threads/thread_1/runs", `{"assistant_id":"asst_1","model":"gpt-4o-mini"}`},
	} {
		if resp, body := h.do(h.req(c.method, c.path, c.body)); resp.StatusCode != 200 {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}
	if resp, body := h.do(batchUpload(t, h, batchLineMini+"\n"+batchLineMini+"\n")); resp.StatusCode != 200 {
		t.Errorf("batch upload of allowed lines: %d %s", resp.StatusCode, body)
	}
	if n := len(h.up.requests()); n != 9 {
		t.Errorf("upstream received %d requests, want 9", n)
	}
}

// The Batch API passes a models restriction only when endpoints names it.
func TestBatchesNamedInEndpoints(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) {
		c.Limits.Models = []string{"gpt-4o-mini"}
		c.Limits.Endpoints = []string{"/v1/files", "/v1/batches"}
	})
	if resp, body := h.post("/v1/batches", `{"input_file_id":"file-1","endpoint":"/v1/chat/completions","completion_window":"24h"}`); resp.StatusCode != 400 {
		// Named, it still names no model: refused as model-less.
		t.Errorf("batches: %d %s", resp.StatusCode, body)
	}
	h2 := newHarness(t, nil, func(c *Config) { c.Limits.Endpoints = []string{"/v1"} })
	resp, body := h2.post("/v1/batches", `{"input_file_id":"file-1"}`)
	if resp.StatusCode != 200 {
		t.Errorf("no models restriction: %d %s", resp.StatusCode, body)
	}
}

// Endpoints that mint a credential usable without the proxy are refused
// under any limit unless endpoints names them.
func TestMintingEndpointsRefused(t *testing.T) {
	secrets := []struct{ path, body string }{
		{"/v1/realtime/client_secrets", `{"session":{"type":"realtime","model":"gpt-4o-mini"}}`},
		{"/v1/realtime/sessions", `{"model":"gpt-4o-mini"}`},
		{"/v1/realtime/transcription_sessions", `{"input_audio_format":"pcm16"}`},
		{"/v1/realtime/calls", `{"sdp":"v=0","session":{"type":"realtime","model":"gpt-realtime"}}`},
	}
	for _, lim := range []Limits{{RPM: 100}, {DailyTokens: 1 << 30}, {Models: []string{"gpt-4o-mini"}}, {MaxBody: 1 << 20}, {Endpoints: []string{"/v1"}}} {
		h := newHarness(t, nil, func(c *Config) { c.Limits = lim })
		for _, s := range secrets {
			resp, body := h.post(s.path, s.body)
			wantError(t, resp, body, 403, "invalid_request_error", "endpoint_not_allowed")
		}
		if n := len(h.up.requests()); n != 0 {
			t.Errorf("%+v: upstream received %d", lim, n)
		}
	}
	// Named, client_secrets is allowed, its session's model checked.
	h := newHarness(t, nil, func(c *Config) {
		c.Limits.Models = []string{"gpt-4o-mini"}
		c.Limits.Endpoints = []string{"/v1/realtime/client_secrets"}
	})
	if resp, body := h.post(secrets[0].path, secrets[0].body); resp.StatusCode != 200 {
		t.Errorf("named: %d %s", resp.StatusCode, body)
	}
	resp, body := h.post(secrets[0].path, `{"session":{"type":"realtime","model":"gpt-realtime"}}`)
	wantError(t, resp, body, 403, "invalid_request_error", "model_not_allowed")
	// Without any limit, nothing is refused.
	h = newHarness(t, nil, nil)
	if resp, _ := h.post(secrets[0].path, secrets[0].body); resp.StatusCode != 200 {
		t.Errorf("no limits: %d", resp.StatusCode)
	}
}

// bodyMembers splits a request's body once: the same body again gives
// the same members without a second split, another body (even of the
// same length) its own, and a request without the proxy's state a
// fresh split.
func TestBodyMembersOncePerBody(t *testing.T) {
	st := &reqState{}
	r, _ := http.NewRequest("POST", "/v1/chat/completions", nil)
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	a := []byte(`{"model":"gpt-4o-mini","stream":true}`)
	ms, _, err := bodyMembers(r, a)
	if err != nil || len(ms) != 2 || ms[0].key != "model" {
		t.Fatalf("members %+v, %v", ms, err)
	}
	again, _, _ := bodyMembers(r, a)
	if &again[0] != &ms[0] {
		t.Error("the same body was split twice")
	}
	b := []byte(`{"MODEL":"gpt-4o-mini","stream":true}`) // same length, another array
	other, _, _ := bodyMembers(r, b)
	if &other[0] == &ms[0] || other[0].key != "MODEL" {
		t.Errorf("another body got the first one's members: %+v", other)
	}
	bad := []byte(`{"model":"x"`)
	if _, _, err := bodyMembers(r, bad); err == nil {
		t.Error("a broken body split without error")
	}
	plain, _ := http.NewRequest("POST", "/v1/chat/completions", nil)
	if ms, _, err := bodyMembers(plain, a); err != nil || len(ms) != 2 {
		t.Errorf("without state: %+v, %v", ms, err)
	}
}
