package proxy

import (
	"encoding/json"
	"strings"
	"testing"
)

func feedSSE(chunks ...string) (Tokens, bool) {
	s := sseUsage{usage: openAIUsage}
	for _, c := range chunks {
		s.Write([]byte(c))
	}
	return s.result()
}

func TestSSEUsage(t *testing.T) {
	cases := []struct {
		name   string
		stream string
		want   Tokens
		found  bool
	}{
		{"chat include_usage",
			"data: {\"choices\":[{\"delta\":{}}],\"usage\":null}\n\n" +
				"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}\n\n" +
				"data: [DONE]\n\n",
			Tokens{Prompt: 9, Completion: 3, Total: 12}, true},
		{"no usage", "data: {\"choices\":[]}\n\ndata: [DONE]\n\n", Tokens{}, false},
		{"crlf and comments",
			": keep-alive\r\n\r\nevent: response.completed\r\ndata: {\"response\":{\"usage\":{\"input_tokens\":4,\"output_tokens\":6}}}\r\n\r\n",
			Tokens{Prompt: 4, Completion: 6, Total: 10}, true},
		{"bare cr", "data: {\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}}\r\r", Tokens{Prompt: 1, Completion: 0, Total: 1}, true},
		{"multi-line data", "data: {\"usage\":\ndata: {\"prompt_tokens\":2,\"completion_tokens\":2}}\n\n", Tokens{Prompt: 2, Completion: 2, Total: 4}, true},
		{"no space after colon", "data:{\"usage\":{\"total_tokens\":5}}\n\n", Tokens{Prompt: 0, Completion: 0, Total: 5}, true},
		{"last wins",
			"data: {\"usage\":{\"total_tokens\":5}}\n\ndata: {\"usage\":{\"total_tokens\":7}}\n\n",
			Tokens{Prompt: 0, Completion: 0, Total: 7}, true},
		{"no final blank line", "data: {\"usage\":{\"total_tokens\":5}}", Tokens{Prompt: 0, Completion: 0, Total: 5}, true},
		{"other field named usage", "event: {\"usage\":{\"total_tokens\":5}}\n\n", Tokens{}, false},
	}
	for _, c := range cases {
		got, found := feedSSE(c.stream)
		if got != c.want || found != c.found {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, got, found, c.want, c.found)
		}
		// Byte by byte gives the same.
		var parts []string
		for i := 0; i < len(c.stream); i++ {
			parts = append(parts, c.stream[i:i+1])
		}
		if got2, found2 := feedSSE(parts...); got2 != got || found2 != found {
			t.Errorf("%s byte by byte: %+v %v", c.name, got2, found2)
		}
	}
}

func TestSSEOversizedEventSkipped(t *testing.T) {
	big := "data: {\"x\":\"" + strings.Repeat("a", maxEventBytes) + "\",\"usage\":{\"total_tokens\":99}}\n\n"
	got, found := feedSSE(big, "data: {\"usage\":{\"total_tokens\":3}}\n\n")
	if !found || got.Total != 3 {
		t.Errorf("%+v %v", got, found)
	}
}

func TestJSONUsage(t *testing.T) {
	j := &jsonUsage{usage: openAIUsage}
	j.Write([]byte(`{"usage":{"prompt_tokens":1,`))
	j.Write([]byte(`"completion_tokens":2,"total_tokens":3}}`))
	if got, ok := j.result(); !ok || got != (Tokens{Prompt: 1, Completion: 2, Total: 3}) {
		t.Errorf("%+v %v", got, ok)
	}
	j = &jsonUsage{usage: openAIUsage}
	j.Write([]byte(`{"error":{"message":"x"}}`))
	if _, ok := j.result(); ok {
		t.Errorf("usage found in an error")
	}
}

// FuzzSSEUsage checks that the stream parser never panics and that how the
// stream is cut into chunks does not change what it finds.
func FuzzSSEUsage(f *testing.F) {
	f.Add([]byte("data: {\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}\n\ndata: [DONE]\n\n"), uint16(7))
	f.Add([]byte("event: response.completed\r\ndata: {\"response\":{\"usage\":{\"input_tokens\":4}}}\r\n\r\n"), uint16(1))
	f.Add([]byte(": c\rdata:{\"usage\":\rdata:{}}\r\r"), uint16(3))
	f.Add([]byte("data: {\"usage\":{\"total_tokens\":-5}}\n\n"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, step uint16) {
		whole, wf := feedSSE(string(data))
		n := int(step%64) + 1
		s := sseUsage{usage: openAIUsage}
		for i := 0; i < len(data); i += n {
			s.Write(data[i:min(i+n, len(data))])
		}
		got, gf := s.result()
		if got != whole || gf != wf {
			t.Fatalf("chunked by %d: %+v %v; whole: %+v %v", n, got, gf, whole, wf)
		}
		if got.Prompt < 0 || got.Completion < 0 || got.Total < 0 {
			t.Fatalf("negative tokens %+v", got)
		}
	})
}

// FuzzJSONModels holds the model check to encoding/json's own reading of
// the body: what it accepts is a JSON object whose "model" member (the
// only one of that exact name) is the model it returns.
func FuzzJSONModels(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-4o-mini","messages":[]}`))
	f.Add([]byte(`{"model":null}`))
	f.Add([]byte(`{"model":"a","model":"b"}`))
	f.Add([]byte(`{"mod\u0065l":"x","Model":"y"} `))
	f.Add([]byte(`[{"model":"x"}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		models, err := jsonModels(b)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if e := json.Unmarshal(b, &m); e != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", b, e)
		}
		raw, ok := m["model"]
		if !ok || string(raw) == "null" {
			if len(models) != 0 {
				t.Fatalf("%q: models %q without a model member", b, models)
			}
			return
		}
		var want string
		if json.Unmarshal(raw, &want) != nil || len(models) != 1 || models[0] != want {
			t.Fatalf("%q: models %q, encoding/json reads %s", b, models, raw)
		}
	})
}
