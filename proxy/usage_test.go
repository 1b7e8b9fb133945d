package proxy

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/okvault/okv/prices"
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

// TestRecordCost checks that a record carries its cost at the price
// Config.Prices gives for the request's provider, model and time, and no
// cost (not $0) for a model without a price.
func TestRecordCost(t *testing.T) {
	var asked []string
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) { chatJSON(w, 1000, 200) }, func(c *Config) {
		c.Prices = func(provider, model string, at time.Time) (prices.Price, bool) {
			asked = append(asked, provider+"/"+model+"@"+at.Format(time.DateOnly))
			if model != "gpt-4o-mini" {
				return prices.Price{}, false
			}
			return prices.Price{Input: 0.15, Output: 0.60, Checked: "2026-11-01"}, true
		}
	})
	h.post("/v1/chat/completions", `{"model":"gpt-4o-mini"}`)
	h.post("/v1/chat/completions", `{"model":"unpriced"}`)
	recs := h.ledger.wait(2)
	if recs[0].CostUSD == nil || math.Abs(*recs[0].CostUSD-(1000*0.15+200*0.60)/1e6) > 1e-12 || recs[0].PriceDate != "2026-11-01" {
		t.Errorf("priced record: cost %v, date %q", recs[0].CostUSD, recs[0].PriceDate)
	}
	if recs[1].CostUSD != nil || recs[1].PriceDate != "" {
		t.Errorf("unpriced record has cost %v, date %q", *recs[1].CostUSD, recs[1].PriceDate)
	}
	if want := "openai/gpt-4o-mini@2026-03-14"; len(asked) == 0 || asked[0] != want {
		t.Errorf("prices asked %v, want first %s", asked, want)
	}
	b, _ := json.Marshal(recs[1])
	if strings.Contains(string(b), "cost_usd") {
		t.Errorf("unpriced record written as %s", b)
	}
}

// OpenAI reports the prompt tokens read from its cache inside the usage
// (chat completions: prompt_tokens_details, responses: input_tokens_details);
// they are priced at the cached-input price.
func TestOpenAICachedTokens(t *testing.T) {
	for doc, want := range map[string]Tokens{
		`{"usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920}}}`:       {Prompt: 2006, Completion: 300, Total: 2306, CacheRead: 1920},
		`{"response":{"usage":{"input_tokens":1500,"output_tokens":20,"total_tokens":1520,"input_tokens_details":{"cached_tokens":1024}}}}`: {Prompt: 1500, Completion: 20, Total: 1520, CacheRead: 1024},
		// Never more cached than prompt tokens.
		`{"usage":{"prompt_tokens":10,"completion_tokens":1,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":99}}}`: {Prompt: 10, Completion: 1, Total: 11, CacheRead: 10},
	} {
		var got Tokens
		if !openAIUsage([]byte(doc), &got) || got != want {
			t.Errorf("openAIUsage(%s) = %+v, want %+v", doc, got, want)
		}
	}
}
