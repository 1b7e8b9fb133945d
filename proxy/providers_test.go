package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The answers below are in each provider's documented shapes: Anthropic's
// Messages API (message_start / message_delta events), Gemini's
// GenerateContentResponse with usageMetadata, Azure OpenAI's chat
// completions. The upstream is a loopback fake: the real APIs cannot be
// reached here.

const anthropicStream = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022","content":[],"usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":30,"output_tokens":1}}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}` + "\n\n" +
	"event: message_delta\n" +
	`data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}` + "\n\n" +
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

func TestAnthropicProvider(t *testing.T) {
	stream := false
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if stream {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, anthropicStream)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg_1","type":"message","usage":{"input_tokens":5,"output_tokens":3,"cache_read_input_tokens":2}}`)
	}, func(c *Config) {
		c.Provider = Anthropic
		c.Limits.Models = []string{"claude-3-5-haiku*"}
	})
	send := func(key, body string) (*http.Response, []byte) {
		r := h.req("POST", "/v1/messages", body)
		r.Header.Del("Authorization")
		r.Header.Set("X-Api-Key", key)
		r.Header.Set("Anthropic-Version", "2023-06-01")
		return h.do(r)
	}
	if resp, body := send(h.token, `{"model":"claude-3-5-haiku-20241022","max_tokens":5,"messages":[]}`); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s := h.up.requests()[0]
	if s.Header.Get("X-Api-Key") != testKey || s.Header.Get("Anthropic-Version") != "2023-06-01" || s.Header.Get("Authorization") != "" {
		t.Errorf("upstream headers %v", s.Header)
	}
	if rec := h.ledger.wait(1)[0]; rec.Provider != "anthropic" || rec.PromptTokens != 7 || rec.CompletionTokens != 3 || rec.TotalTokens != 10 || rec.CacheReadTokens != 2 {
		t.Errorf("record %+v", rec)
	}
	stream = true
	if resp, body := send(h.token, `{"model":"claude-3-5-haiku-20241022","stream":true}`); resp.StatusCode != 200 || !strings.Contains(string(body), "message_stop") {
		t.Fatalf("stream: %d %s", resp.StatusCode, body)
	}
	if rec := h.ledger.wait(2)[1]; rec.PromptTokens != 142 || rec.CompletionTokens != 7 || rec.TotalTokens != 149 ||
		rec.CacheReadTokens != 30 || rec.CacheCreationTokens != 100 || !rec.Streamed {
		t.Errorf("streamed record %+v", rec)
	}
	resp, body := send(h.token, `{"model":"claude-opus-4"}`)
	if resp.StatusCode != 403 || !strings.Contains(string(body), `{"type":"error","error":{"type":"permission_error"`) {
		t.Errorf("forbidden model: %d %s", resp.StatusCode, body)
	}
	resp, body = send("sk-ant-wrong", `{"model":"claude-3-5-haiku-1"}`)
	if resp.StatusCode != 401 || !strings.Contains(string(body), `"authentication_error"`) || !strings.Contains(string(body), "ANTHROPIC_API_KEY") {
		t.Errorf("wrong token: %d %s", resp.StatusCode, body)
	}
	if n := len(h.up.requests()); n != 2 {
		t.Errorf("upstream saw %d requests, want 2", n)
	}
	if got := Anthropic.BaseURL("http://127.0.0.1:1"); got != "http://127.0.0.1:1" {
		t.Errorf("child base URL %q", got)
	}
}

func TestGeminiProvider(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, ":streamGenerateContent") {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":1,\"totalTokenCount\":5}}\r\n\r\n"+
				"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"b\"}]}}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":6,\"thoughtsTokenCount\":2,\"totalTokenCount\":12}}\r\n\r\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"candidates":[],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":3,"totalTokenCount":12,"cachedContentTokenCount":4}}`)
	}, func(c *Config) {
		c.Provider = Gemini
		c.Limits.Models = []string{"gemini-2.0-flash*"}
	})
	send := func(key, path, body string) (*http.Response, []byte) {
		r := h.req("POST", path, body)
		r.Header.Del("Authorization")
		r.Header.Set("X-Goog-Api-Key", key)
		return h.do(r)
	}
	if resp, body := send(h.token, "/v1beta/models/gemini-2.0-flash:generateContent", `{"contents":[]}`); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if s := h.up.requests()[0]; s.Header.Get("X-Goog-Api-Key") != testKey || s.Path != "/v1beta/models/gemini-2.0-flash:generateContent" {
		t.Errorf("upstream saw %s %v", s.Path, s.Header)
	}
	if rec := h.ledger.wait(1)[0]; rec.Provider != "gemini" || rec.Model != "gemini-2.0-flash" || rec.PromptTokens != 9 || rec.CompletionTokens != 3 || rec.TotalTokens != 12 || rec.CacheReadTokens != 4 {
		t.Errorf("record %+v", rec)
	}
	if resp, body := send(h.token, "/v1beta/models/gemini-2.0-flash-lite:streamGenerateContent?alt=sse", `{"contents":[]}`); resp.StatusCode != 200 {
		t.Fatalf("stream: %d %s", resp.StatusCode, body)
	}
	if rec := h.ledger.wait(2)[1]; rec.PromptTokens != 4 || rec.CompletionTokens != 8 || rec.TotalTokens != 12 {
		t.Errorf("streamed record %+v", rec)
	}
	resp, body := send(h.token, "/v1beta/models/gemini-2.5-pro:generateContent", `{"contents":[]}`)
	if resp.StatusCode != 403 || !strings.Contains(string(body), `"status":"PERMISSION_DENIED"`) || !strings.Contains(string(body), `"code":403`) {
		t.Errorf("forbidden model: %d %s", resp.StatusCode, body)
	}
	// The token as ?key= is refused, never forwarded.
	r := h.req("POST", "/v1beta/models/gemini-2.0-flash:generateContent?key="+h.token, `{}`)
	r.Header.Del("Authorization")
	r.Header.Set("X-Goog-Api-Key", h.token)
	if resp, _ := h.do(r); resp.StatusCode != 400 {
		t.Errorf("token in ?key=: status %d", resp.StatusCode)
	}
	if resp, body := send("AIza-wrong", "/v1beta/models/gemini-2.0-flash:generateContent", `{}`); resp.StatusCode != 401 || !strings.Contains(string(body), "UNAUTHENTICATED") {
		t.Errorf("wrong token: %d %s", resp.StatusCode, body)
	}
	if n := len(h.up.requests()); n != 2 {
		t.Errorf("upstream saw %d requests, want 2", n)
	}
}

func TestAzureProvider(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) { chatJSON(w, 3, 4) }, func(c *Config) {
		c.Provider = AzureOpenAI
		c.Limits.Models = []string{"gpt-4o-mini"}
	})
	send := func(key, path string) (*http.Response, []byte) {
		r := h.req("POST", path, `{"model":"gpt-4o-mini","messages":[]}`)
		r.Header.Del("Authorization")
		r.Header.Set("Api-Key", key)
		return h.do(r)
	}
	if resp, body := send(h.token, "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if s := h.up.requests()[0]; s.Header.Get("Api-Key") != testKey || s.RawQuery != "api-version=2024-10-21" {
		t.Errorf("upstream saw %s %v", s.Path, s.Header)
	}
	if rec := h.ledger.wait(1)[0]; rec.Provider != "azure" || rec.Model != "gpt-4o-mini" || rec.TotalTokens != 7 {
		t.Errorf("record %+v", rec)
	}
	// The deployment in the path is checked, whatever the body says.
	if resp, body := send(h.token, "/openai/deployments/gpt-4o/chat/completions?api-version=1"); resp.StatusCode != 403 || !strings.Contains(string(body), "model_not_allowed") {
		t.Errorf("other deployment: %d %s", resp.StatusCode, body)
	}
}

func TestCompatibleProviders(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) { chatJSON(w, 2, 2) }, func(c *Config) {
		c.Provider = Groq
	})
	r := h.req("POST", "/openai/v1/chat/completions", `{"model":"llama-3.1-8b-instant","messages":[]}`)
	if resp, body := h.do(r); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if s := h.up.requests()[0]; s.Header.Get("Authorization") != "Bearer "+testKey || s.Path != "/openai/v1/chat/completions" {
		t.Errorf("upstream saw %s %v", s.Path, s.Header)
	}
	if rec := h.ledger.wait(1)[0]; rec.Provider != "groq" || rec.TotalTokens != 4 {
		t.Errorf("record %+v", rec)
	}
	if got := Groq.BaseURL("http://h"); got != "http://h" {
		t.Errorf("groq child URL %q", got)
	}
	if got := OpenRouter.BaseURL("http://h"); got != "http://h/api/v1" {
		t.Errorf("openrouter child URL %q", got)
	}
	for _, bad := range [][4]string{
		{"Bad", "https://x.example/v1", "K", "U"},
		{"ok", "ftp://x.example", "K", "U"},
		{"ok", "https://x.example/v1", "not a var", "U"},
		{"ok", "https://x.example/v1?q=1", "K", "U"},
	} {
		if _, err := Compatible(bad[0], bad[1], bad[2], bad[3], false); err == nil {
			t.Errorf("Compatible(%q) accepted", bad)
		}
	}
	seen := map[string]bool{}
	for _, p := range Builtin() {
		if seen[p.Name] || seen[p.KeyVar] {
			t.Errorf("provider %s: name or key variable twice", p.Name)
		}
		seen[p.Name], seen[p.KeyVar] = true, true
	}
}
