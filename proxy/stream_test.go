package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// openAIChatStream is a streamed chat completion as OpenAI documents it
// (API reference, "The chat completion chunk object", and
// stream_options.include_usage: "an additional chunk will be streamed
// before the data: [DONE] message. The usage field on this chunk shows
// the token usage statistics for the entire request, and the choices
// field will always be an empty array. All other chunks will also include
// a usage field, but with a null value").
func openAIChatStream(includeUsage bool) string {
	chunk := func(body string) string {
		if includeUsage {
			body += `,"usage":null`
		}
		return `data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini","system_fingerprint":"fp_1",` + body + "}\n\n"
	}
	s := chunk(`"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`) +
		chunk(`"choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]`) +
		chunk(`"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]`)
	if includeUsage {
		s += `data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":4000,"completion_tokens":1000,"total_tokens":5000}}` + "\n\n"
	}
	return s + "data: [DONE]\n\n"
}

// chatStreamUpstream answers a streamed chat completion in OpenAI's
// shape, with the usage chunk exactly when the request asked for it.
func chatStreamUpstream(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Stream        bool `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	_ = json.Unmarshal(body, &req)
	if !req.Stream {
		chatJSON(w, 11, 7)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	io.WriteString(w, openAIChatStream(req.StreamOptions != nil && req.StreamOptions.IncludeUsage))
}

func TestStreamUsageAskedAndDropped(t *testing.T) {
	h := newHarness(t, chatStreamUpstream, nil)
	for i, c := range []struct {
		body, sent string // the client's body, and what the upstream must receive
		usage      bool   // the client asked for the usage chunk
	}{
		{`{"model":"gpt-4o-mini","stream":true,"messages":[]}`,
			`{"model":"gpt-4o-mini","stream":true,"messages":[],"stream_options":{"include_usage":true}}`, false},
		{`{"model":"gpt-4o-mini","stream":true,"stream_options":null,"messages":[]}`,
			`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, false},
		{`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":false},"messages":[]}`,
			`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, false},
		{`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_obfuscation":false},"messages":[]}`,
			`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true},"messages":[]}`, false},
		{`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
			`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, true},
	} {
		resp, got := h.post("/v1/chat/completions", c.body)
		if resp.StatusCode != 200 {
			t.Fatalf("%d: status %d %s", i, resp.StatusCode, got)
		}
		seen := h.up.requests()
		if s := string(seen[len(seen)-1].Body); s != c.sent {
			t.Errorf("%d: upstream received %s, want %s", i, s, c.sent)
		}
		if want := openAIChatStream(c.usage); string(got) != want {
			t.Errorf("%d: client got\n%s\nwant (byte for byte)\n%s", i, got, want)
		}
		rec := h.ledger.wait(i + 1)[i]
		if !rec.Streamed || rec.PromptTokens != 4000 || rec.CompletionTokens != 1000 || rec.TotalTokens != 5000 {
			t.Errorf("%d: record %+v", i, rec)
		}
	}
	// Not streamed: forwarded as it came.
	body := `{"model":"gpt-4o-mini","stream":false,"messages":[]}`
	if resp, _ := h.post("/v1/chat/completions", body); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	if seen := h.up.requests(); string(seen[len(seen)-1].Body) != body {
		t.Errorf("upstream received %s", seen[len(seen)-1].Body)
	}
}

// openAIResponsesStream is a streamed Responses API answer as OpenAI
// documents it: usage in the response.completed event's response object.
const openAIResponsesStream = "event: response.created\n" +
	`data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","usage":null}}` + "\n\n" +
	"event: response.output_text.delta\n" +
	`data: {"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}` + "\n\n" +
	"event: response.completed\n" +
	`data: {"type":"response.completed","sequence_number":2,"response":{"id":"resp_1","object":"response","status":"completed","usage":{"input_tokens":3000,"input_tokens_details":{"cached_tokens":0},"output_tokens":2000,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":5000}}}` + "\n\n"

func TestResponsesStreamCountedUnchanged(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, openAIResponsesStream)
	}, nil)
	body := `{"model":"gpt-4o-mini","stream":true,"input":"hi"}`
	resp, got := h.post("/v1/responses", body)
	if resp.StatusCode != 200 || string(got) != openAIResponsesStream {
		t.Fatalf("status %d, client got %s", resp.StatusCode, got)
	}
	if s := string(h.up.requests()[0].Body); s != body {
		t.Errorf("upstream received %s", s)
	}
	if rec := h.ledger.wait(1)[0]; rec.TotalTokens != 5000 || rec.PromptTokens != 3000 {
		t.Errorf("record %+v", rec)
	}
}

// A streamed legacy completion is asked for usage too.
func TestCompletionsStreamUsage(t *testing.T) {
	h := newHarness(t, chatStreamUpstream, nil)
	resp, got := h.post("/v1/completions", `{"model":"gpt-3.5-turbo-instruct","stream":true,"prompt":"x"}`)
	if resp.StatusCode != 200 || strings.Contains(string(got), `"usage"`) {
		t.Fatalf("status %d, client got %s", resp.StatusCode, got)
	}
	if rec := h.ledger.wait(1)[0]; rec.TotalTokens != 5000 {
		t.Errorf("record %+v", rec)
	}
}

// The upstream's stream cut anywhere (here byte by byte, flushed): the
// filter holds each event until its blank line, and the client still gets
// exactly the stream it asked for.
func TestStreamUsageByteByByte(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		s := strings.ReplaceAll(openAIChatStream(true), "\n\n", "\r\n\r\n")
		for i := range len(s) {
			io.WriteString(w, s[i:i+1])
			w.(http.Flusher).Flush()
		}
	}, nil)
	resp, got := h.post("/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[]}`)
	want := strings.ReplaceAll(openAIChatStream(false), "\n\n", "\r\n\r\n")
	if resp.StatusCode != 200 || string(got) != want {
		t.Fatalf("status %d, client got\n%q\nwant\n%q", resp.StatusCode, got, want)
	}
	if rec := h.ledger.wait(1)[0]; rec.TotalTokens != 5000 {
		t.Errorf("record %+v", rec)
	}
}
