package cmd

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/okvault/okv/proxy"
	"github.com/okvault/okv/vault"
)

// The fixture ledger of TestUsageCosts, and its costs computed by hand
// from okv's table (US $ per million tokens):
//
//	o3 (OpenAI) until 2025-06-09: input 10, output 40; from 2025-06-10: 2, 8
//	  06-09 1000 in + 500 out          = (1000×10 + 500×40)/1e6   = 0.030
//	  06-10 1000 in (400 cached) + 500  = (600×2 + 400×0.5 + 500×8)/1e6 = 0.0054
//	claude-3-5-haiku: input 0.80, cache read 0.08, cache write 1.00, output 4
//	  06-11 10000 in (6000 read, 2000 written) + 1000 out
//	        = (2000×0.80 + 6000×0.08 + 2000×1.00 + 1000×4)/1e6 = 0.00808
//	gpt-4o-mini with cost_usd 0.5 recorded by the proxy: 0.5, whatever the
//	  table says now
//	gpt-9-secret: no known price (unpriced), and a refused request of it
//	  with no tokens, which cost nothing
//	dev's gpt-4o-mini request: not prod's
var fixtureLedger = []string{
	`{"time":"2025-06-09T10:00:00Z","profile":"prod","provider":"openai","method":"POST","path":"/v1/chat/completions","model":"o3","status":200,"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500,"latency_ms":10}`,
	`{"time":"2025-06-10T10:00:00Z","profile":"prod","provider":"openai","method":"POST","path":"/v1/chat/completions","model":"o3-2025-04-16","status":200,"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500,"cache_read_tokens":400,"latency_ms":10}`,
	`{"time":"2025-06-11T10:00:00Z","profile":"prod","provider":"anthropic","method":"POST","path":"/v1/messages","model":"claude-3-5-haiku-20241022","status":200,"prompt_tokens":10000,"completion_tokens":1000,"total_tokens":11000,"cache_read_tokens":6000,"cache_creation_tokens":2000,"latency_ms":10}`,
	`{"time":"2025-06-11T11:00:00Z","profile":"prod","provider":"openai","method":"POST","path":"/v1/chat/completions","model":"gpt-4o-mini","status":200,"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,"latency_ms":10,"cost_usd":0.5,"price_date":"2025-06-01"}`,
	`{"time":"2025-06-11T12:00:00Z","profile":"prod","provider":"openai","method":"POST","path":"/v1/chat/completions","model":"gpt-9-secret","status":200,"prompt_tokens":300,"completion_tokens":100,"total_tokens":400,"latency_ms":10}`,
	`{"time":"2025-06-11T12:30:00Z","profile":"prod","provider":"openai","method":"POST","path":"/v1/chat/completions","model":"gpt-9-secret","status":429,"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"latency_ms":0,"refused":"rate_limit_exceeded"}`,
	`{"time":"2025-06-11T13:00:00Z","profile":"dev","provider":"openai","method":"POST","path":"/v1/chat/completions","model":"gpt-4o-mini","status":200,"prompt_tokens":1000,"completion_tokens":1000,"total_tokens":2000,"latency_ms":10}`,
}

func usageEnv(t *testing.T) *testEnv {
	e := newTestEnv(t)
	e.now = time.Date(2025, 6, 12, 12, 0, 0, 0, time.UTC)
	e.ok("", "profile", "create", "prod")
	if err := os.WriteFile(filepath.Join(e.dir, proxy.MonthFile(e.now)), []byte(strings.Join(fixtureLedger, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

type costRow struct {
	cost     float64
	unpriced []string
}

func usageCosts(t *testing.T, e *testEnv, args ...string) map[string]costRow {
	t.Helper()
	out, _ := e.ok("", append([]string{"usage", "--json"}, args...)...)
	got := map[string]costRow{}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var s proxy.Summary
		if err := dec.Decode(&s); err != nil {
			t.Fatal(err)
		}
		got[s.Key] = costRow{s.CostUSD, s.UnpricedModels}
	}
	return got
}

func sameCosts(t *testing.T, what string, got, want map[string]costRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: rows %v, want %v", what, got, want)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || math.Abs(g.cost-w.cost) > 1e-9 || strings.Join(g.unpriced, ",") != strings.Join(w.unpriced, ",") {
			t.Errorf("%s: %s = %+v, want %+v", what, k, g, w)
		}
	}
}

func TestUsageCosts(t *testing.T) {
	e := usageEnv(t)
	unpriced := []string{"openai/gpt-9-secret"}
	sameCosts(t, "by model", usageCosts(t, e, "-p", "prod", "--since", "7d", "--by", "model"), map[string]costRow{
		"o3":                        {0.030, nil},
		"o3-2025-04-16":             {0.0054, nil},
		"claude-3-5-haiku-20241022": {0.00808, nil},
		"gpt-4o-mini":               {0.5, nil},
		"gpt-9-secret":              {0, unpriced},
	})
	sameCosts(t, "by day", usageCosts(t, e, "-p", "prod", "--since", "7d", "--by", "day"), map[string]costRow{
		"2025-06-09": {0.030, nil},
		"2025-06-10": {0.0054, nil},
		"2025-06-11": {0.00808 + 0.5, unpriced},
	})
	sameCosts(t, "by provider", usageCosts(t, e, "-p", "prod", "--since", "7d", "--by", "provider"), map[string]costRow{
		"openai":    {0.030 + 0.0054 + 0.5, unpriced},
		"anthropic": {0.00808, nil},
	})
	// Every profile: dev's 1000 + 1000 tokens of gpt-4o-mini at 0.15 and 0.60.
	sameCosts(t, "all profiles", usageCosts(t, e, "--since", "7d", "--by", "model"), map[string]costRow{
		"o3":                        {0.030, nil},
		"o3-2025-04-16":             {0.0054, nil},
		"claude-3-5-haiku-20241022": {0.00808, nil},
		"gpt-4o-mini":               {0.5 + 0.00075, nil},
		"gpt-9-secret":              {0, unpriced},
	})

	// The table: a cost column, "+ unpriced" where some tokens have no
	// price, a total, and a note naming the unpriced model.
	out, errs := e.ok("", "usage", "-p", "prod", "--since", "7d", "--by", "model")
	for _, want := range []string{"COST USD", "$0.0300", "$0.5000", "$0.008080", "unpriced", "TOTAL"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage table lacks %q:\n%s", want, out)
		}
	}
	var total string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "TOTAL") {
			total = l
		}
	}
	// 0.030 + 0.0054 + 0.00808 + 0.5 = 0.54348
	if !strings.Contains(total, "$0.5435 + unpriced") {
		t.Errorf("total line %q, want $0.5435 + unpriced", total)
	}
	if strings.Contains(out, "$0.00 ") && strings.Contains(out, "gpt-9-secret") {
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "gpt-9-secret") && !strings.Contains(l, "unpriced") {
				t.Errorf("an unpriced model is shown without saying so: %q", l)
			}
		}
	}
	if !strings.Contains(errs, "no known price for openai/gpt-9-secret (400 tokens in 1 request)") || !strings.Contains(errs, "okv price set openai/gpt-9-secret") {
		t.Errorf("stderr does not name the unpriced model:\n%s", errs)
	}

	// An override prices the unknown model, and re-prices records that
	// carry no cost; a recorded cost stays.
	e.ok("", "price", "set", "openai/gpt-9-secret", "input=1", "output=10")
	e.ok("", "price", "set", "openai/o3", "input=100", "output=100")
	sameCosts(t, "overridden", usageCosts(t, e, "-p", "prod", "--since", "7d", "--by", "model"), map[string]costRow{
		"o3":                        {(1000*100 + 500*100) / 1e6, nil},
		"o3-2025-04-16":             {(1000*100 + 500*100) / 1e6, nil},
		"claude-3-5-haiku-20241022": {0.00808, nil},
		"gpt-4o-mini":               {0.5, nil},
		"gpt-9-secret":              {(300*1 + 100*10) / 1e6, nil},
	})
}

func TestPriceSetUnsetLs(t *testing.T) {
	e := newTestEnv(t)
	e.now = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	out, _ := e.ok("", "price", "ls")
	if !strings.Contains(out, "gpt-4o-mini") || !strings.Contains(out, "built-in") || !strings.Contains(out, "https://openai.com/api/pricing/") {
		t.Fatalf("price ls:\n%s", out)
	}
	_, errs := e.ok("", "price", "set", "openai/gpt-4o-mini", "input=0.2", "output=0.8", "cached_input=0.1")
	if !strings.Contains(errs, "price of openai/gpt-4o-mini set") {
		t.Errorf("set: %s", errs)
	}
	path := filepath.Join(e.dir, "prices.json")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("prices.json: %v %v", fi, err)
	}
	out, _ = e.ok("", "price", "ls", "--json")
	var sawOverride, sawOverridden bool
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r struct {
			Provider, Model, Source, Checked string
			Input, Output                    float64
			Override, Overridden             bool
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		if r.Provider == "openai" && r.Model == "gpt-4o-mini" {
			if r.Override {
				sawOverride = r.Input == 0.2 && r.Output == 0.8 && r.Source == "set" && r.Checked == "2026-11-30"
			} else {
				sawOverridden = r.Overridden && r.Source == "built-in"
			}
		}
	}
	if !sawOverride || !sawOverridden {
		t.Errorf("price ls --json does not show the override with its day and the built-in price it replaces:\n%s", out)
	}
	out, _ = e.ok("", "price", "ls")
	if !strings.Contains(out, "override (set)") || !strings.Contains(out, "2026-11-30") || !strings.Contains(out, "built-in, overridden") {
		t.Errorf("price ls:\n%s", out)
	}

	// Refusals change nothing.
	before, _ := os.ReadFile(path)
	for _, args := range [][]string{
		{"price", "set", "openai/gpt-4o-mini", "input=0.2"},
		{"price", "set", "openai/gpt-4o-mini", "input=abc", "output=1"},
		{"price", "set", "openai/gpt-4o-mini", "input=-1", "output=1"},
		{"price", "set", "openai/gpt-4o-mini", "inpt=1", "output=1"},
		{"price", "set", "gpt-4o-mini", "input=1", "output=1"},
		{"price", "set", "openai/gpt-4o-mini", "input=1e9", "output=1"},
	} {
		_, errs := e.fail(exitUsage, "", args...)
		if !strings.HasPrefix(errs, "okv: error: ") {
			t.Errorf("okv %v: %s", args, errs)
		}
	}
	_, errs = e.fail(exitError, "", "price", "unset", "openai/gpt-4.1")
	if !strings.Contains(errs, "you set no price for openai/gpt-4.1") {
		t.Errorf("unset of no override: %s", errs)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused price command changed prices.json")
	}

	_, errs = e.ok("", "price", "unset", "openai/gpt-4o-mini")
	if !strings.Contains(errs, "okv's own price applies again") {
		t.Errorf("unset: %s", errs)
	}
	out, _ = e.ok("", "price", "ls")
	if strings.Contains(out, "override") {
		t.Errorf("override still listed:\n%s", out)
	}
}

// A project vault's folder holds no prices okv reads: overrides come from
// the personal vault only, also when OKV_HOME points at a project vault
// (a cloned repository's .okv/ with a prices.json of its own).
func TestPricesOnlyFromPersonalVault(t *testing.T) {
	e := newTestEnv(t)
	// PersonalDir falls back to os.UserConfigDir()/okv for a project
	// OKV_HOME: a private, empty one here, never the user's.
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	member, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(t.TempDir(), "repo", vault.ProjectDirName)
	if _, err := vault.InitProject(proj, member.Recipient().String(), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "prices.json"), []byte(`{"okv_prices":1,"prices":{"openai/gpt-4o-mini":{"input":0,"output":0,"checked":"2026-01-01"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, home := range []string{e.dir, proj} {
		env := map[string]string{"OKV_HOME": home, "HOME": e.env["HOME"]}
		a := &App{Getenv: func(k string) string { return env[k] }, Now: e.clock,
			Getwd: func() (string, error) { return filepath.Dir(proj), nil }}
		f, err := a.priceFunc()
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := f("openai", "gpt-4o-mini", e.now); !ok || p.Input != 0.15 {
			t.Errorf("OKV_HOME=%s: price %+v %v, want the table's", home, p, ok)
		}
	}
}

func TestPriceImport(t *testing.T) {
	e := newTestEnv(t)
	e.now = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	e.ok("", "price", "set", "openai/gpt-4o", "input=3", "output=12")
	_, errs := e.ok("", "price", "import", "../prices/testdata/litellm.json")
	if !strings.Contains(errs, "imported 5 prices from ../prices/testdata/litellm.json (skipped 3: 2 of providers okv does not proxy, 1 without a per-token price)") {
		t.Errorf("import: %s", errs)
	}
	a := &App{Getenv: func(k string) string { return e.env[k] }, Now: e.clock}
	f, err := a.priceFunc()
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := f("together", "meta-llama/llama-3-8b-chat-hf", e.now); !ok || p.Input != 0.2 || p.Checked != "2026-11-30" {
		t.Errorf("imported price: %+v %v", p, ok)
	}
	if p, _ := f("openai", "gpt-4o", e.now); p.Input != 3 {
		t.Errorf("an import dropped an earlier override: %+v", p)
	}
	out, _ := e.ok("", "price", "ls")
	if !strings.Contains(out, "override (import ../prices/testdata/litellm.json)") {
		t.Errorf("ls:\n%s", out)
	}

	// A malformed file is refused, naming line, column and field; the
	// stored prices stay byte for byte.
	path := filepath.Join(e.dir, "prices.json")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "prices.json")
	os.WriteFile(bad, []byte("{\n  \"gpt-4o\": {\n    \"litellm_provider\": \"openai\",\n    \"input_cost_per_token\": 1e-6,\n    \"output_cost_per_token\": \"abc\"\n  }\n}\n"), 0o600)
	_, errs = e.fail(exitError, "", "price", "import", bad)
	if !strings.Contains(errs, "okv: error: "+bad+`:5:30: "output_cost_per_token" of "gpt-4o" is "abc", not a number`) ||
		!strings.Contains(errs, "okv: hint: nothing was imported: your prices are unchanged") {
		t.Errorf("malformed import:\n%s", errs)
	}
	os.WriteFile(bad, []byte("{\"gpt-4o\": {\"input_cost_per_token\": 1e-6,,}}"), 0o600)
	_, errs = e.fail(exitError, "", "price", "import", bad)
	if !strings.Contains(errs, bad+":1:") {
		t.Errorf("malformed JSON:\n%s", errs)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused import changed prices.json")
	}
}

// Prices drive dollar budgets: changing them unlocks the personal vault
// first, so a child holding only the proxy's token cannot lower them.
func TestPriceChangesUnlock(t *testing.T) {
	e := newTestEnv(t)
	e.ok("", "price", "set", "openai/gpt-4o-mini", "input=1", "output=2")
	path := filepath.Join(e.dir, "prices.json")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	saved := map[string]string{}
	for k, v := range e.kc {
		saved[k] = v
		delete(e.kc, k) // the identity is out of reach: the vault cannot be unlocked
	}
	lib := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(lib, []byte(`{"gpt-4o": {"input_cost_per_token": 0, "output_cost_per_token": 0, "litellm_provider": "openai"}}`), 0o600)
	for _, args := range [][]string{
		{"price", "set", "openai/gpt-4o-mini", "input=0", "output=0"},
		{"price", "unset", "openai/gpt-4o-mini"},
		{"price", "import", lib},
	} {
		if _, _, code := e.run("", args...); code == 0 {
			t.Errorf("okv %v succeeded without unlocking the vault", args)
		}
	}
	// An identity file of a fresh key "unlocks" too, but opens nothing of
	// this vault: refused as well.
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "other.txt")
	if err := os.WriteFile(idFile, []byte(other.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--identity", idFile, "price", "set", "openai/gpt-4o-mini", "input=0", "output=0"},
		{"--identity", idFile, "price", "import", lib},
	} {
		if _, _, code := e.run("", args...); code == 0 {
			t.Errorf("okv %v succeeded with an identity that does not open the vault", args)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("prices.json changed without an unlock")
	}
	for k, v := range saved {
		e.kc[k] = v
	}
	e.ok("", "price", "unset", "openai/gpt-4o-mini")
}

// A prices.json okv cannot read stops what would count with it (a proxy,
// okv usage) with the file named, rather than pricing without it.
func TestBrokenPricesFile(t *testing.T) {
	e := newTestEnv(t)
	path := filepath.Join(e.dir, "prices.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	_, errs := e.fail(exitError, "", "usage")
	if !strings.Contains(errs, path) || !strings.Contains(errs, "okv: hint: fix or remove "+path) {
		t.Errorf("usage with a broken prices.json:\n%s", errs)
	}
	_, errs = e.fail(exitError, "", "price", "ls")
	if !strings.Contains(errs, path) {
		t.Errorf("price ls with a broken prices.json:\n%s", errs)
	}
	// Others may not write it.
	os.WriteFile(path, []byte(`{"okv_prices":1,"prices":{}}`), 0o600)
	os.Chmod(path, 0o666)
	_, errs = e.fail(exitError, "", "usage")
	if !strings.Contains(errs, "chmod 600") {
		t.Errorf("usage with a world-writable prices.json:\n%s", errs)
	}
}

func TestPriceCompletion(t *testing.T) {
	e := newTestEnv(t)
	e.ok("", "price", "set", "groq/llama-3.1-8b-instant", "input=0.05", "output=0.08")
	out, _ := e.ok("", "__complete", "price", "set", "")
	if !strings.Contains(out, "openai/gpt-4o-mini\n") || !strings.Contains(out, "groq/llama-3.1-8b-instant\n") {
		t.Errorf("price set completion:\n%s", out)
	}
	out, _ = e.ok("", "__complete", "price", "unset", "")
	if strings.Contains(out, "openai/gpt-4o-mini") || !strings.Contains(out, "groq/llama-3.1-8b-instant\n") {
		t.Errorf("price unset completion (overrides only):\n%s", out)
	}
	out, _ = e.ok("", "__complete", "price", "set", "openai/gpt-4o", "")
	if !strings.Contains(out, "input=\n") || !strings.Contains(out, "cache_write=\n") {
		t.Errorf("price set KEY= completion:\n%s", out)
	}
}
