package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// cannedTransport answers every request with the same chat completion,
// without a network: BenchmarkServe measures the proxy's own work.
type cannedTransport struct{}

const cannedCompletion = `{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"gpt-4o-mini",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":19,"completion_tokens":21,"total_tokens":40}}`

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Request: r,
		Header:        http.Header{"Content-Type": {"application/json"}, "Content-Length": {"229"}},
		ContentLength: int64(len(cannedCompletion)), Body: io.NopCloser(strings.NewReader(cannedCompletion))}, nil
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

type nopLedger struct{}

func (nopLedger) Append(Record) error { return nil }

// BenchmarkServe is one chat completion through the checks, the header
// rewriting, the usage parsing and the record, with no network; prompt4k
// with a 4 KB prompt, to hold against BenchmarkJSONModels.
func BenchmarkServe(b *testing.B) {
	b.Run("short", func(b *testing.B) {
		benchServe(b, []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]}`))
	})
	b.Run("prompt4k", func(b *testing.B) { benchServe(b, prompt4k) })
	b.Run("stream4k", func(b *testing.B) { benchServe(b, stream4k) })
}

var prompt4k = []byte(`{"messages":[{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 340) + `"}],"model":"gpt-4o-mini","stream":false}`)

// stream4k is prompt4k streamed, asking for the usage chunk.
var stream4k = []byte(`{"messages":[{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 340) + `"}],"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true}}`)

func benchServe(b *testing.B, body []byte) {
	tok, _ := NewToken()
	p, err := New(Config{Profile: "bench", APIKey: testKey, Token: tok, Transport: cannedTransport{}, Ledger: nopLedger{}})
	if err != nil {
		b.Fatal(err)
	}
	ap := netip.MustParseAddrPort("127.0.0.1:8787")
	p.listen.Store(&ap)
	b.ReportAllocs()
	for b.Loop() {
		r, _ := http.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(body))
		r.Host = "127.0.0.1:8787"
		r.RemoteAddr = "127.0.0.1:40000"
		r.RequestURI = "/v1/chat/completions"
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		p.ServeHTTP(&discardWriter{h: http.Header{}}, r)
	}
	p.Wait()
}

// BenchmarkJSONModels is the model check of a chat request with a 4 KB
// prompt (encoding/json's tokenizer): compare with BenchmarkServe.
func BenchmarkJSONModels(b *testing.B) {
	b.SetBytes(int64(len(prompt4k)))
	for b.Loop() {
		if m, err := jsonModels(prompt4k); err != nil || len(m) != 1 {
			b.Fatal(m, err)
		}
	}
}

// BenchmarkOpenAIJSONModels is OpenAI's model check (top level, tools,
// session) of the same request.
func BenchmarkOpenAIJSONModels(b *testing.B) {
	b.SetBytes(int64(len(prompt4k)))
	for b.Loop() {
		if m, err := openAIJSONModels(prompt4k); err != nil || len(m) != 1 {
			b.Fatal(m, err)
		}
	}
}

// jsonModelsTokenRaw is the model check as okv had it before
// objectMembers: each value decoded into a json.RawMessage (scanned
// twice, copied). Kept to measure against in the same run.
func jsonModelsTokenRaw(b []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errNotObject
	}
	var models []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errNotObject
		}
		key, _ := t.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, errNotObject
		}
		if key == "model" {
			var m string
			if json.Unmarshal(val, &m) != nil {
				return nil, errModelNotText
			}
			models = append(models, m)
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errNotObject
	}
	return models, nil
}

func BenchmarkJSONModelsTokenRaw(b *testing.B) {
	b.SetBytes(int64(len(prompt4k)))
	for b.Loop() {
		if m, err := jsonModelsTokenRaw(prompt4k); err != nil || len(m) != 1 {
			b.Fatal(m, err)
		}
	}
}
