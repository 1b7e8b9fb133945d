package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
)

// fakellms
//
// Starts loopback fakes of the Anthropic, Gemini, Azure OpenAI and Groq
// APIs for this script (the live APIs cannot be reached here) and sets
// $FAKE_ANTHROPIC, $FAKE_GEMINI, $FAKE_AZURE and $FAKE_GROQ to their base
// URLs. Each answers in its provider's documented shapes: Anthropic's
// Messages API (a Message with usage, or the message_start … message_stop
// event stream) and GET /v1/models; Gemini's generateContent and
// streamGenerateContent?alt=sse (GenerateContentResponse with
// usageMetadata) and GET /v1beta/models; Azure OpenAI's
// /openai/deployments/NAME/chat/completions?api-version= and
// GET /openai/models; Groq's OpenAI-compatible /openai/v1/chat/completions
// and /openai/v1/models. A key that does not start like a real one
// ("sk-ant-", "AIza", "azure-", "gsk_") gets the provider's 401. Every
// request is appended to $WORK/llm-upstream.log as
// "PROVIDER METHOD PATH key=<the key header>".
func cmdFakeLLMs(ts *testscript.TestScript, neg bool, args []string) {
	logPath := ts.MkAbs("llm-upstream.log")
	var mu sync.Mutex
	record := func(provider, key string, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintf(f, "%s %s %s key=%s auth=%s\n", provider, r.Method, r.URL.Path, key, r.Header.Get("Authorization"))
			f.Close()
		}
	}
	start := func(env string, h http.Handler) {
		srv := httptest.NewServer(h)
		ts.Defer(srv.Close)
		ts.Setenv(env, srv.URL)
	}
	decode := func(r *http.Request) (v struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}) {
		json.NewDecoder(r.Body).Decode(&v)
		return v
	}

	// Anthropic: x-api-key, errors {"type":"error","error":{...}}.
	anth := http.NewServeMux()
	anthAuth := func(w http.ResponseWriter, r *http.Request) bool {
		key := r.Header.Get("X-Api-Key")
		record("anthropic", key, r)
		if !strings.HasPrefix(key, "sk-ant-") || r.Header.Get("Anthropic-Version") == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			fmt.Fprint(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
			return false
		}
		return true
	}
	anth.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		if anthAuth(w, r) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"data":[{"type":"model","id":"claude-3-5-haiku-20241022","display_name":"Claude Haiku 3.5","created_at":"2024-10-22T00:00:00Z"}],"has_more":false,"first_id":"claude-3-5-haiku-20241022","last_id":"claude-3-5-haiku-20241022"}`)
		}
	})
	anth.HandleFunc("POST /v1/messages", func(w http.ResponseWriter, r *http.Request) {
		if !anthAuth(w, r) {
			return
		}
		req := decode(r)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"msg_01","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"Hi from Claude"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":20,"output_tokens":5}}`, req.Model)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		ev := func(name, data string) { fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data); fl.Flush() }
		ev("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_02","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":7,"cache_creation_input_tokens":3,"cache_read_input_tokens":0,"output_tokens":1}}}`, req.Model))
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		for _, s := range []string{"one", " two"} {
			ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%q}}`, s))
		}
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}`)
		ev("message_stop", `{"type":"message_stop"}`)
	})
	start("FAKE_ANTHROPIC", anth)

	// Gemini: x-goog-api-key, errors {"error":{"code","message","status"}}.
	gem := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Goog-Api-Key")
		record("gemini", key, r)
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasPrefix(key, "AIza") {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}`)
			return
		}
		switch {
		case r.Method == "GET" && r.URL.Path == "/v1beta/models":
			fmt.Fprint(w, `{"models":[{"name":"models/gemini-2.0-flash","displayName":"Gemini 2.0 Flash"}]}`)
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, ":generateContent"):
			fmt.Fprint(w, `{"candidates":[{"content":{"parts":[{"text":"Hi from Gemini"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":6,"candidatesTokenCount":4,"totalTokenCount":10},"modelVersion":"gemini-2.0-flash"}`)
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, ":streamGenerateContent") && r.URL.Query().Get("alt") == "sse":
			w.Header().Set("Content-Type", "text/event-stream")
			fl := w.(http.Flusher)
			fmt.Fprint(w, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"one\"}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":1,\"totalTokenCount\":6}}\r\n\r\n")
			fl.Flush()
			fmt.Fprint(w, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" two\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":3,\"totalTokenCount\":8}}\r\n\r\n")
			fl.Flush()
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`)
		}
	})
	start("FAKE_GEMINI", gem)

	// Azure OpenAI: api-key, OpenAI's chat shape, api-version required.
	az := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Api-Key")
		record("azure", key, r)
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasPrefix(key, "azure-") {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}`)
			return
		}
		if r.URL.Query().Get("api-version") == "" {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":{"code":"404","message":"Resource not found"}}`)
			return
		}
		switch {
		case r.Method == "GET" && r.URL.Path == "/openai/models":
			fmt.Fprint(w, `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"}]}`)
		case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/openai/deployments/") && strings.HasSuffix(r.URL.Path, "/chat/completions"):
			dep := strings.Split(r.URL.Path, "/")[3]
			fmt.Fprintf(w, `{"id":"chatcmpl-az","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"Hi from Azure"},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":3,"total_tokens":11}}`, dep)
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":{"code":"404","message":"Resource not found"}}`)
		}
	})
	start("FAKE_AZURE", az)

	// Groq: OpenAI-compatible under /openai/v1, Authorization: Bearer.
	groq := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		record("groq", key, r)
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasPrefix(key, "gsk_") {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":{"message":"Invalid API Key","type":"invalid_request_error","code":"invalid_api_key"}}`)
			return
		}
		switch {
		case r.Method == "GET" && r.URL.Path == "/openai/v1/models":
			fmt.Fprint(w, `{"object":"list","data":[{"id":"llama-3.1-8b-instant","object":"model"}]}`)
		case r.Method == "POST" && r.URL.Path == "/openai/v1/chat/completions":
			req := decode(r)
			fmt.Fprintf(w, `{"id":"chatcmpl-groq","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"Hi from Groq"},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}`, req.Model)
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":{"message":"Unknown request URL","type":"invalid_request_error","code":"unknown_url"}}`)
		}
	})
	start("FAKE_GROQ", groq)
}
