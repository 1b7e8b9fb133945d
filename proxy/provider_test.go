package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// testProvider is a provider shaped unlike OpenAI (its key in x-api-key
// without a prefix, usage split over two events, its own error shape),
// declared in one place as a new provider would be: the proxy needs no
// other change to serve it.
var testProvider = &Provider{
	Name:            "test",
	DefaultUpstream: "https://api.example.com",
	BasePath:        "/v1",
	KeyHeader:       "X-Api-Key",
	KeyVar:          "TEST_API_KEY",
	BaseURLVar:      "TEST_BASE_URL",
	Credentials:     []Credential{{Secret: "TEST_WORKSPACE", Header: "Test-Workspace"}},
	Models: func(r *http.Request, body []byte) ([]string, error) {
		if body == nil {
			return nil, nil
		}
		return jsonModels(body)
	},
	Usage: func(doc []byte, t *Tokens) bool {
		var v struct {
			Usage *struct {
				In  int64 `json:"input_tokens"`
				Out int64 `json:"output_tokens"`
			} `json:"usage"`
		}
		if json.Unmarshal(doc, &v) != nil || v.Usage == nil {
			return false
		}
		t.Prompt += v.Usage.In // counts add up over the stream
		t.Completion += v.Usage.Out
		t.Total = t.Prompt + t.Completion
		return true
	},
	ErrorBody: func(e *Refusal) []byte {
		b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": e.Code, "message": e.Msg}})
		return b
	},
}

func TestProviderSeam(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}\n\n"+
			"event: message_delta\ndata: {\"usage\":{\"output_tokens\":9}}\n\n")
	}, func(c *Config) {
		c.Provider = testProvider
		c.Credentials = map[string]string{"TEST_WORKSPACE": "ws-1"}
		c.Limits.Models = []string{"small-*"}
	})
	send := func(key, body string) (*http.Response, []byte) {
		r := h.req("POST", "/v1/messages", body)
		r.Header.Del("Authorization")
		r.Header.Set("X-Api-Key", key)
		r.Header.Set("Test-Workspace", "ws-client")
		return h.do(r)
	}
	resp, body := send(h.token, `{"model":"small-1","messages":[]}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "message_delta") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	seen := h.up.requests()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d requests", len(seen))
	}
	if s := seen[0]; s.Header.Get("X-Api-Key") != testKey || s.Header.Get("Test-Workspace") != "ws-1" || s.Header.Get("Authorization") != "" {
		t.Errorf("upstream headers %v", s.Header)
	}
	if rec := h.ledger.wait(1)[0]; rec.Model != "small-1" || rec.PromptTokens != 5 || rec.CompletionTokens != 10 || rec.TotalTokens != 15 || !rec.Streamed {
		t.Errorf("record %+v", rec)
	}
	// Refusals come in the provider's own shape.
	resp, body = send(h.token, `{"model":"large-1"}`)
	if resp.StatusCode != 403 || !strings.Contains(string(body), `"type":"model_not_allowed"`) {
		t.Errorf("forbidden model: %d %s", resp.StatusCode, body)
	}
	resp, body = send("okv-wrong", `{"model":"small-1"}`)
	if resp.StatusCode != 401 || !strings.Contains(string(body), `"type":"error"`) || !strings.Contains(string(body), "TEST_API_KEY") {
		t.Errorf("wrong token: %d %s", resp.StatusCode, body)
	}
	// The OpenAI header carries nothing for this provider.
	r := h.req("POST", "/v1/messages", `{"model":"small-1"}`)
	if resp, _ := h.do(r); resp.StatusCode != 401 {
		t.Errorf("token in Authorization: status %d, want 401", resp.StatusCode)
	}
	if n := len(h.up.requests()); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}
	if got := testProvider.Secrets(); strings.Join(got, ",") != "TEST_API_KEY,TEST_WORKSPACE" {
		t.Errorf("Secrets() = %q", got)
	}
}

// Anthropic's and Gemini's error shapes carry the refusal's message and
// code (they have no code field) and the status's type, so an SDK shows
// why okv refused.
func TestProviderErrorShapes(t *testing.T) {
	e := &Refusal{Status: http.StatusTooManyRequests, Code: "budget_spent", Msg: "profile dev spent its budget"}
	const msg = "okv proxy: profile dev spent its budget (budget_spent)"
	var a struct {
		Type  string
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(anthropicError(e), &a); err != nil {
		t.Fatal(err)
	}
	if a.Type != "error" || a.Error.Type != "rate_limit_error" || a.Error.Message != msg {
		t.Errorf("anthropic error: %+v", a)
	}
	var g struct {
		Error struct {
			Code            int
			Message, Status string
		}
	}
	if err := json.Unmarshal(geminiError(e), &g); err != nil {
		t.Fatal(err)
	}
	if g.Error.Code != 429 || g.Error.Status != "RESOURCE_EXHAUSTED" || g.Error.Message != msg {
		t.Errorf("gemini error: %+v", g)
	}
}
