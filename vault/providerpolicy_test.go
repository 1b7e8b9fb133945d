package vault

import (
	"strings"
	"testing"
)

func TestProviderPolicy(t *testing.T) {
	var p Policy
	if err := p.Set([]string{"anthropic.models=claude-3-5-haiku*", "anthropic.rpm=10", "openai.rpm=60", "gemini.upstream=http://127.0.0.1:9/"}); err != nil {
		t.Fatal(err)
	}
	if p.RPM != 60 || p.Providers["anthropic"].RPM != 10 || p.Providers["anthropic"].Models[0] != "claude-3-5-haiku*" ||
		p.Providers["gemini"].Upstream != "http://127.0.0.1:9" {
		t.Fatalf("policy %+v %+v", p, p.Providers)
	}
	if got := p.ProviderPolicy("openai"); got.RPM != 60 {
		t.Errorf("openai's policy %+v", got)
	}
	vals := map[string]string{}
	for _, kv := range p.Values() {
		vals[kv[0]] = kv[1]
	}
	if vals["anthropic.rpm"] != "10" || vals["anthropic.models"] != "claude-3-5-haiku*" || vals["rpm"] != "60" {
		t.Errorf("values %v", vals)
	}
	// Nothing applied when one assignment is bad.
	before := *p.Providers["anthropic"]
	for _, bad := range []string{"anthropic.rpm=-1", "Anthropic.rpm=1", "anthropic.colour=red", "corp.key_var=lower", "corp.upstream=http://example.com"} {
		if err := p.Set([]string{"anthropic.rpm=99", bad}); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	if p.Providers["anthropic"].RPM != before.RPM {
		t.Errorf("a failed Set changed the policy: %+v", p.Providers["anthropic"])
	}
	// A pin that differs: a wider models list or another upstream is weaker.
	pinned := PinOf(p)
	cfg := p
	if err := cfg.Set([]string{"anthropic.models=claude-*", "gemini.upstream=https://evil.example"}); err != nil {
		t.Fatal(err)
	}
	diffs := diffPins(PinOf(cfg), pinned)
	if len(diffs) != 2 || !diffs[0].Weaker || !diffs[1].Weaker || diffs[0].Key != "anthropic.models" || diffs[1].Key != "gemini.upstream" {
		t.Fatalf("diffs %+v", diffs)
	}
	e := &PolicyMismatchError{Profile: "dev", Diffs: diffs}
	if cmd := e.PolicyCommand(); !strings.Contains(cmd, "anthropic.models=claude-*") || !strings.Contains(cmd, "gemini.upstream=https://evil.example") {
		t.Errorf("command %q", cmd)
	}
	if len(diffPins(PinOf(p), pinned)) != 0 || p.withPin(pinned).Providers["anthropic"].RPM != 10 {
		t.Error("the pin does not round-trip")
	}
	if err := p.Unset([]string{"anthropic.models", "anthropic.rpm", "gemini.upstream"}); err != nil {
		t.Fatal(err)
	}
	if len(p.Providers) != 0 {
		t.Errorf("after unset: %+v", p.Providers)
	}
	if _, err := ProviderUpstream("", "gemini", "", nil); err == nil {
		t.Error("no upstream accepted")
	}
	if u, err := ProviderUpstream("", "gemini", "https://generativelanguage.googleapis.com", func(k string) string {
		if k == "OKV_GEMINI_BASE_URL" {
			return "http://127.0.0.1:5"
		}
		return ""
	}); err != nil || u != "http://127.0.0.1:5" {
		t.Errorf("env upstream %q %v", u, err)
	}
	if _, err := ProviderUpstream("http://example.com", "gemini", "", nil); err == nil {
		t.Error("plain http off loopback accepted")
	}
}

// Dollar budgets are pinned like every limit: a config.toml that raises
// or drops one (per profile or per provider) differs from the pin, as
// weaker; a lower one differs, as stronger.
func TestDollarBudgetsPinned(t *testing.T) {
	var p Policy
	if err := p.Set([]string{"daily_usd=5", "monthly_usd=50", "warn_usd=4", "max_output_tokens=1000", "anthropic.monthly_usd=20"}); err != nil {
		t.Fatal(err)
	}
	pinned := PinOf(p)
	for _, c := range []struct {
		set    []string
		key    string
		weaker bool
	}{
		{[]string{"daily_usd=6"}, "daily_usd", true},
		{[]string{"daily_usd=0"}, "daily_usd", true},
		{[]string{"daily_usd=4.5"}, "daily_usd", false},
		{[]string{"monthly_usd=500"}, "monthly_usd", true},
		{[]string{"warn_usd=0"}, "warn_usd", true},
		{[]string{"max_output_tokens=0"}, "max_output_tokens", true},
		{[]string{"anthropic.monthly_usd=21"}, "anthropic.monthly_usd", true},
		{[]string{"anthropic.monthly_usd="}, "anthropic.monthly_usd", true},
	} {
		cfg := p
		cfg.Providers = cloneProviders(p.Providers)
		if err := cfg.Set(c.set); err != nil {
			t.Fatalf("%v: %v", c.set, err)
		}
		diffs := diffPins(PinOf(cfg), pinned)
		if len(diffs) != 1 || diffs[0].Key != c.key || diffs[0].Weaker != c.weaker {
			t.Errorf("%v: diffs %+v, want %s weaker=%v", c.set, diffs, c.key, c.weaker)
		}
	}
	if d := diffPins(PinOf(p), pinned); len(d) != 0 {
		t.Errorf("the pin does not round-trip: %+v", d)
	}
}
