package prices

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t.Add(12 * time.Hour)
}

func TestBuiltinTable(t *testing.T) {
	tb, err := ParseTable(builtinJSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"openai", "anthropic", "gemini"} {
		pp := tb.Providers[name]
		if pp == nil || !strings.HasPrefix(pp.Source, "https://") || pp.Checked == "" {
			t.Errorf("provider %s: want a source URL and a checked day, got %+v", name, pp)
		}
	}
	if Builtin() == nil {
		t.Fatal("no builtin table")
	}
}

func TestLookup(t *testing.T) {
	tb := Builtin()
	now := day("2026-12-01")
	cases := []struct {
		provider, model string
		at              time.Time
		want            Price
		ok              bool
	}{
		{"openai", "gpt-4o-mini", now, Price{Input: 0.15, Output: 0.60, CachedInput: 0.075}, true},
		// Dated snapshots are their family.
		{"openai", "gpt-4o-mini-2024-07-18", now, Price{Input: 0.15, Output: 0.60, CachedInput: 0.075}, true},
		{"", "gpt-4o-mini", now, Price{Input: 0.15, Output: 0.60, CachedInput: 0.075}, true}, // legacy records: openai
		{"anthropic", "claude-3-5-haiku-20241022", now, Price{Input: 0.80, Output: 4, CachedInput: 0.08, CacheWrite: 1}, true},
		{"anthropic", "claude-3-5-haiku-latest", now, Price{Input: 0.80, Output: 4, CachedInput: 0.08, CacheWrite: 1}, true},
		{"anthropic", "claude-sonnet-4-20250514", now, Price{Input: 3, Output: 15, CachedInput: 0.30, CacheWrite: 3.75}, true},
		{"anthropic", "claude-sonnet-4-0", now, Price{Input: 3, Output: 15, CachedInput: 0.30, CacheWrite: 3.75}, true},
		{"gemini", "models/gemini-2.0-flash", now, Price{Input: 0.10, Output: 0.40, CachedInput: 0.025}, true},
		{"gemini", "gemini-2.0-flash-001", now, Price{Input: 0.10, Output: 0.40, CachedInput: 0.025}, true},
		// The longest match: a snapshot with a price of its own.
		{"openai", "gpt-4o-2024-05-13", now, Price{Input: 5, Output: 15}, true},
		{"openai", "gpt-4o-2024-08-06", now, Price{Input: 2.5, Output: 10, CachedInput: 1.25}, true},
		// History: o3's price fell on 2025-06-10.
		{"openai", "o3", day("2025-06-09"), Price{Input: 10, Output: 40, CachedInput: 2.5}, true},
		{"openai", "o3-2025-04-16", day("2025-06-10"), Price{Input: 2, Output: 8, CachedInput: 0.5}, true},
		{"openai", "o3", day("2025-01-01"), Price{}, false}, // before it had a price
		// Unknown: never a guess from a neighbour.
		{"openai", "gpt-4o-mini-transcribe", now, Price{}, false},
		{"openai", "gpt-4-0613", now, Price{}, false},
		{"openai", "claude-3-5-haiku", now, Price{}, false}, // another provider's model
		{"groq", "llama-3.1-8b-instant", now, Price{}, false},
		{"openai", "", now, Price{}, false},
	}
	for _, c := range cases {
		got, ok := tb.Lookup(c.provider, c.model, c.at)
		got.Checked = ""
		if ok != c.ok || got != c.want {
			t.Errorf("Lookup(%q, %q, %s) = %+v, %v; want %+v, %v", c.provider, c.model, c.at.Format(time.DateOnly), got, ok, c.want, c.ok)
		}
	}
	if p, _ := tb.Lookup("openai", "gpt-4o", now); p.Checked != "2026-12-01" {
		t.Errorf("Checked = %q, want the provider's checked day", p.Checked)
	}
}

func TestCandidates(t *testing.T) {
	for model, want := range map[string][]string{
		"gpt-4o-mini":                    {"gpt-4o-mini"},
		"GPT-4o-Mini-2024-07-18":         {"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		"claude-3-5-haiku-20241022":      {"claude-3-5-haiku-20241022", "claude-3-5-haiku"},
		"claude-3-5-haiku@20241022":      {"claude-3-5-haiku@20241022", "claude-3-5-haiku"},
		"claude-3-5-haiku-latest":        {"claude-3-5-haiku-latest", "claude-3-5-haiku"},
		"models/gemini-2.0-flash-001":    {"gemini-2.0-flash-001", "gemini-2.0-flash"},
		"gpt-4-0613":                     {"gpt-4-0613"},
		"gemini-2.5-flash-preview-05-20": {"gemini-2.5-flash-preview-05-20"},
		"o3-2025-04-16":                  {"o3-2025-04-16", "o3"},
		"-latest":                        {"-latest"},
		"":                               nil,
	} {
		if got := Candidates(model); !reflect.DeepEqual(got, want) {
			t.Errorf("Candidates(%q) = %q, want %q", model, got, want)
		}
	}
}

func TestOverridesWin(t *testing.T) {
	tb := Builtin()
	o := Overrides{
		"openai/gpt-4o-mini":        {Price: Price{Input: 1, Output: 2, Checked: "2026-11-30"}, Source: "set"},
		"groq/llama-3.1-8b-instant": {Price: Price{Input: 0.05, Output: 0.08, Checked: "2026-11-30"}, Source: "set"},
		"openai/gpt-4o":             {Price: Price{Input: 9, Output: 9, Checked: "2026-11-30"}},
	}
	f := tb.Func(o)
	now := day("2026-12-01")
	if p, ok := f("openai", "gpt-4o-mini-2024-07-18", now); !ok || p.Input != 1 || p.Checked != "2026-11-30" {
		t.Errorf("override of a family: %+v %v", p, ok)
	}
	if p, ok := f("groq", "llama-3.1-8b-instant", now); !ok || p.Output != 0.08 {
		t.Errorf("override of an unknown model: %+v %v", p, ok)
	}
	// The table's own price of a snapshot is a longer match than an
	// override of its family.
	if p, _ := f("openai", "gpt-4o-2024-05-13", now); p.Input != 5 {
		t.Errorf("snapshot: %+v", p)
	}
	if _, ok := f("openai", "gpt-unknown", now); ok {
		t.Error("unknown model priced")
	}
	list := tb.List(o, now)
	var sawOverridden, sawOverride bool
	for _, l := range list {
		if l.Provider == "openai" && l.Model == "gpt-4o-mini" {
			if l.Override {
				sawOverride = l.Source == "set" && l.Checked == "2026-11-30"
			} else {
				sawOverridden = l.Overridden
			}
		}
	}
	if !sawOverridden || !sawOverride {
		t.Errorf("List does not show the built-in price as overridden and the override: %+v", list)
	}
}

func TestOverridesRoundTrip(t *testing.T) {
	o := Overrides{"openai/gpt-4o-mini": {Price: Price{Input: 0.15, Output: 0.6, CachedInput: 0.075, Checked: "2026-12-01"}, Source: "set"}}
	b, err := MarshalOverrides(o)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseOverrides(b)
	if err != nil || !reflect.DeepEqual(back, o) {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	for _, bad := range []string{`{"okv_prices":1,"prices":{"gpt-4o":{"input":1}}}`, `{"okv_prices":1,"prices":{"openai/x":{"input":-1}}}`, `[]`, `{"okv_prices":2}`} {
		if _, err := ParseOverrides([]byte(bad)); err == nil {
			t.Errorf("ParseOverrides(%s) accepted", bad)
		}
	}
}

func TestParseKey(t *testing.T) {
	for s, want := range map[string][2]string{
		"openai/gpt-4o-mini":         {"openai", "gpt-4o-mini"},
		"openrouter/openai/gpt-4o":   {"openrouter", "openai/gpt-4o"},
		"anthropic/Claude-3-5-Haiku": {"anthropic", "claude-3-5-haiku"},
	} {
		p, m, err := ParseKey(s)
		if err != nil || p != want[0] || m != want[1] {
			t.Errorf("ParseKey(%q) = %q %q %v", s, p, m, err)
		}
	}
	for _, s := range []string{"gpt-4o", "/gpt-4o", "OpenAI/gpt-4o", "openai/", "openai/a b"} {
		if _, _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
}

func TestParseLiteLLM(t *testing.T) {
	data, err := os.ReadFile("testdata/litellm.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseLiteLLM("litellm.json", data, "2026-12-01", "import litellm.json")
	if err != nil {
		t.Fatal(err)
	}
	want := Overrides{
		"openai/gpt-4o-mini":                     {Price: Price{Input: 0.15, Output: 0.6, CachedInput: 0.075, Checked: "2026-12-01"}, Source: "import litellm.json"},
		"openai/text-embedding-3-small":          {Price: Price{Input: 0.02, Checked: "2026-12-01"}, Source: "import litellm.json"},
		"anthropic/claude-3-5-haiku-20241022":    {Price: Price{Input: 0.8, Output: 4, CachedInput: 0.08, CacheWrite: 1, Checked: "2026-12-01"}, Source: "import litellm.json"},
		"gemini/gemini-2.0-flash":                {Price: Price{Input: 0.1, Output: 0.4, CachedInput: 0.025, Checked: "2026-12-01"}, Source: "import litellm.json"},
		"together/meta-llama/llama-3-8b-chat-hf": {Price: Price{Input: 0.2, Output: 0.2, Checked: "2026-12-01"}, Source: "import litellm.json"},
	}
	if !reflect.DeepEqual(got.Prices, want) {
		t.Errorf("imported:\n%+v\nwant:\n%+v", got.Prices, want)
	}
	if got.OtherProvider != 2 || got.NoTokenPrice != 1 {
		t.Errorf("skipped %d other provider, %d no token price; want 2, 1", got.OtherProvider, got.NoTokenPrice)
	}
}

func TestParseLiteLLMMalformed(t *testing.T) {
	cases := []struct{ data, want string }{
		{"{\n  \"gpt-4o\": {\n    \"litellm_provider\": \"openai\",\n    \"input_cost_per_token\": \"abc\"\n  }\n}\n",
			`p.json:4:29: "input_cost_per_token" of "gpt-4o" is "abc", not a number`},
		{"{\"a\": {\"litellm_provider\": \"openai\", \"output_cost_per_token\": -1e-6, \"input_cost_per_token\": 1e-6}}",
			`p.json:1:63: "output_cost_per_token" of "a" is -1e-6, not a price ≥ 0`},
		{"{\"a\": {\"litellm_provider\": 7, \"input_cost_per_token\": 1e-6}}",
			`p.json:1:28: "litellm_provider" of "a" is 7, not a string`},
		{"{\n\"a\": [1]\n}", `p.json:2:6: the entry of "a" is not an object`},
		{"[]", `p.json:1:2: want an object keyed by model name`},
		{"{\n\"a\": {\"input_cost_per_token\": 1e-6,}\n}", `p.json:2:`},
		{"{\"a\": {}", `p.json:1:`},
		{"", `p.json:1:1: not JSON`},
		{"{} {}", `more after the object`},
	}
	for _, c := range cases {
		_, err := ParseLiteLLM("p.json", []byte(c.data), "2026-12-01", "import")
		var ie *ImportError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseLiteLLM(%q) = %v; want an ImportError with %q", c.data, err, c.want)
		}
	}
}

// BenchmarkPriceLookup is the proxy's cost of pricing one request
// (Proxy.price on every request that used tokens).
func BenchmarkPriceLookup(b *testing.B) {
	f := Builtin().Func(Overrides{"groq/llama-3.1-8b-instant": {Price: Price{Input: 0.05, Output: 0.08}}})
	now := time.Now()
	for _, m := range []string{"gpt-4o-mini", "gpt-4o-mini-2024-07-18", "claude-3-5-haiku-20241022", "unknown-model"} {
		b.Run(m, func(b *testing.B) {
			for b.Loop() {
				f("openai", m, now)
			}
		})
	}
}
