package vault_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/okvault/okv/limits"
	"github.com/okvault/okv/vault"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	good := map[string]time.Duration{
		"90d":      90 * day,
		"1d":       day,
		"0d":       0,
		" 7d ":     7 * day,
		"12h":      12 * time.Hour,
		"1h30m":    90 * time.Minute,
		"36h":      36 * time.Hour,
		"90s":      90 * time.Second,
		"2562047h": 2562047 * time.Hour,
	}
	for in, want := range good {
		got, err := vault.ParseDuration(in)
		if err != nil || time.Duration(got) != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, time.Duration(got), err, want)
		}
	}
	bad := []string{"", "d", "-1d", "1.5d", "abc", "-5h", "90 d", "d90", "90days", "1w",
		"106752d", "9999999999999d", "99999999999999999999d", "3000000h"}
	for _, in := range bad {
		got, err := vault.ParseDuration(in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, time.Duration(got))
			continue
		}
		if !strings.Contains(err.Error(), "90d") {
			t.Errorf("ParseDuration(%q) error does not show the accepted form: %v", in, err)
		}
	}
	// Whole days print as days and parse back.
	for _, d := range []vault.Duration{vault.Days(90), vault.Days(1), vault.Duration(36 * time.Hour), vault.Duration(90 * time.Minute)} {
		back, err := vault.ParseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("%v does not round-trip: %v, %v", time.Duration(d), time.Duration(back), err)
		}
	}
	if s := vault.Days(90).String(); s != "90d" {
		t.Errorf("Days(90) prints %q", s)
	}
}

// TestConfigPolicyRoundTrip: per-profile policy, max_age included,
// survives config.toml, and max_age defaults to 90 days.
func TestConfigPolicyRoundTrip(t *testing.T) {
	v, _ := fileVault(t)
	p := &vault.Policy{Confirm: true, Proxy: true, MaxAge: vault.Days(30), Limits: limits.Limits{RPM: 60, Models: []string{"gpt-4o-mini"}, DailyTokens: 100000}}
	if err := v.CreateProfile("prod", p); err != nil {
		t.Fatal(err)
	}
	v2, err := vault.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	got := v2.Config.Policy("prod")
	if !got.Confirm || !got.Proxy || got.EffectiveMaxAge() != 30*24*time.Hour || got.RPM != 60 || len(got.Models) != 1 || got.DailyTokens != 100000 {
		t.Errorf("policy after reopening: %+v", got)
	}
	if d := v2.Config.Policy("dev").EffectiveMaxAge(); d != 90*24*time.Hour {
		t.Errorf("default max age %v", d)
	}
	data, _ := os.ReadFile(filepath.Join(v.Dir, "config.toml"))
	if !strings.Contains(string(data), `max_age = "30d"`) {
		t.Errorf("config.toml does not say max_age = \"30d\":\n%s", data)
	}
	// The embedded limits stay flat keys of the profile's table.
	for _, want := range []string{"rpm = 60", `models = ["gpt-4o-mini"]`, "daily_tokens = 100000"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("config.toml lacks %s:\n%s", want, data)
		}
	}
}

func TestRedact(t *testing.T) {
	exact := map[string]string{
		"":                 "…",
		"short":            "…",
		"sk-0123456789ab":  "…", // 15 bytes
		"0123456789abcdef": "…cdef",
		"sk-proj-" + strings.Repeat("A", 40) + "Ab3d":    "sk-proj-…Ab3d",
		"sk-svcacct-" + strings.Repeat("B", 40) + "wxyz": "sk-svcacct-…wxyz",
		"sk-admin-" + strings.Repeat("C", 40) + "1234":   "sk-admin-…1234",
		"sk-" + strings.Repeat("D", 40) + "9876":         "sk-…9876",
		"ghp_" + strings.Repeat("E", 36):                 "…EEEE",
	}
	for in, want := range exact {
		if got := vault.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	// Property: only a known key prefix and the last 4 characters are ever
	// shown, values under 16 bytes are fully hidden, and more of a value
	// stays hidden than is shown.
	prefixes := []string{"", "sk-", "sk-proj-", "sk-svcacct-", "sk-admin-", "sk-x-", "org-"}
	for _, p := range prefixes {
		for n := 0; n <= 64; n++ {
			v := p + strings.Repeat("q", max(n-4, 0)) + "WXYZ"[:min(n, 4)]
			got := vault.Redact(v)
			if len(v) < 16 && got != "…" {
				t.Errorf("Redact(%q) = %q: a short value must be fully hidden", v, got)
			}
			shown := strings.ReplaceAll(got, "…", "")
			if got == "…" {
				continue
			}
			known := ""
			for _, kp := range []string{"sk-proj-", "sk-svcacct-", "sk-admin-", "sk-"} {
				if strings.HasPrefix(v, kp) {
					known = kp
					break
				}
			}
			if want := known + "…" + v[len(v)-4:]; got != want {
				t.Errorf("Redact(%q) = %q, want %q", v, got, want)
			}
			if hidden := len(v) - len(shown); hidden <= len(shown) {
				t.Errorf("Redact(%q) = %q shows %d of %d bytes", v, got, len(shown), len(v))
			}
		}
	}
}

func TestSecretHistory(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) }
	d := vault.NewDocument("dev")
	replaced, err := d.SetSecret("K", []byte("v0"), at(0))
	if err != nil || replaced {
		t.Fatalf("first SetSecret: replaced=%v err=%v", replaced, err)
	}
	// Setting the same value changes nothing.
	if replaced, err := d.SetSecret("K", []byte("v0"), at(1)); err != nil || !replaced {
		t.Fatalf("same value: %v %v", replaced, err)
	}
	if s := d.Secrets["K"]; len(s.History) != 0 || !s.RotatedAt.Equal(at(0)) {
		t.Errorf("setting the same value touched the secret: %+v", s)
	}
	// Rotate refuses the same value and keeps the document as it was.
	if err := d.Rotate("K", []byte("v0"), at(2)); !errors.Is(err, vault.ErrSameValue) {
		t.Errorf("Rotate to the same value: %v, want ErrSameValue", err)
	}
	if s := d.Secrets["K"]; len(s.History) != 0 || !s.RotatedAt.Equal(at(0)) {
		t.Errorf("refused Rotate changed the secret: %+v", s)
	}
	if err := d.Rotate("MISSING", []byte("x"), at(2)); !errors.As(err, new(*vault.SecretNotFoundError)) {
		t.Errorf("Rotate of a missing secret: %v", err)
	}
	if err := d.Rollback("K", at(2)); !errors.Is(err, vault.ErrNoHistory) {
		t.Errorf("Rollback without history: %v, want ErrNoHistory", err)
	}

	// Eight rotations: the history keeps the 5 most recent old values,
	// oldest first.
	for i := 1; i <= 8; i++ {
		if err := d.Rotate("K", []byte(fmt.Sprintf("v%d", i)), at(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	s := d.Secrets["K"]
	if s.Value != "v8" || !s.CreatedAt.Equal(at(0)) || !s.RotatedAt.Equal(at(18)) {
		t.Errorf("after rotations: value %q created %v rotated %v", s.Value, s.CreatedAt, s.RotatedAt)
	}
	if got := historyValues(s); got != "v3 v4 v5 v6 v7" {
		t.Errorf("history %q, want the 5 most recent old values", got)
	}
	if !s.History[4].RetiredAt.Equal(at(18)) {
		t.Errorf("v7 retired at %v", s.History[4].RetiredAt)
	}

	// Rollback restores the previous value and retires the current one,
	// so a second rollback undoes the first.
	if err := d.Rollback("K", at(20)); err != nil {
		t.Fatal(err)
	}
	if s.Value != "v7" || historyValues(s) != "v3 v4 v5 v6 v8" || !s.RotatedAt.Equal(at(20)) {
		t.Errorf("after rollback: %q, history %q", s.Value, historyValues(s))
	}
	if err := d.Rollback("K", at(21)); err != nil {
		t.Fatal(err)
	}
	if s.Value != "v8" || historyValues(s) != "v3 v4 v5 v6 v7" {
		t.Errorf("after second rollback: %q, history %q", s.Value, historyValues(s))
	}

	if err := d.RemoveSecret("K", at(22)); err != nil || d.Secrets["K"] != nil {
		t.Errorf("RemoveSecret: %v", err)
	}
	if err := d.RemoveSecret("K", at(23)); !errors.As(err, new(*vault.SecretNotFoundError)) {
		t.Errorf("RemoveSecret of a missing secret: %v", err)
	}
	// A removed secret is restored by Rollback as it was: value, age,
	// history.
	if err := d.Rollback("K", at(24)); err != nil {
		t.Fatal(err)
	}
	if r := d.Secrets["K"]; r == nil || r.Value != "v8" || historyValues(r) != "v3 v4 v5 v6 v7" || !r.RemovedAt.IsZero() || len(d.Removed) != 0 {
		t.Errorf("after rolling back a removal: %+v, removed %v", r, d.Removed)
	}
	// Set again after a removal: the removed value is the previous one.
	d.RemoveSecret("K", at(25))
	if _, err := d.SetSecret("K", []byte("v9"), at(26)); err != nil {
		t.Fatal(err)
	}
	if r := d.Secrets["K"]; r.Value != "v9" || historyValues(r) != "v4 v5 v6 v7 v8" || len(d.Removed) != 0 {
		t.Errorf("set after a removal: %q, history %q", r.Value, historyValues(r))
	}
	if err := d.Rollback("K", at(27)); err != nil || d.Secrets["K"].Value != "v8" {
		t.Errorf("rollback after set after removal: %v", err)
	}
}

// TestRemovedSecretPersists: a removed secret survives encryption, stays
// out of the profile's secrets, and rolls back.
func TestRemovedSecretPersists(t *testing.T) {
	v, id := fileVault(t)
	set := func(d *vault.Document) error {
		_, err := d.SetSecret("OPENAI_API_KEY", []byte("sk-removed-0123456789"), v.Now())
		return err
	}
	if err := v.Update("dev", ids(id), set); err != nil {
		t.Fatal(err)
	}
	if err := v.Update("dev", ids(id), func(d *vault.Document) error { return d.RemoveSecret("OPENAI_API_KEY", v.Now()) }); err != nil {
		t.Fatal(err)
	}
	d, err := v.Load("dev", ids(id))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Secrets) != 0 || d.Removed["OPENAI_API_KEY"] == nil || d.Removed["OPENAI_API_KEY"].RemovedAt.IsZero() {
		t.Fatalf("after rm: secrets %v, removed %v", d.Names(), d.Removed)
	}
	if err := v.Update("dev", ids(id), func(d *vault.Document) error { return d.Rollback("OPENAI_API_KEY", v.Now()) }); err != nil {
		t.Fatal(err)
	}
	d, _ = v.Load("dev", ids(id))
	if s := d.Secrets["OPENAI_API_KEY"]; s == nil || s.Value != "sk-removed-0123456789" {
		t.Fatalf("after rollback: %+v", d.Secrets)
	}
}

// TestSecretHistoryPersists: history and rollback survive encryption.
func TestSecretHistoryPersists(t *testing.T) {
	v, id := fileVault(t)
	for i := range 7 {
		err := v.Update("dev", ids(id), func(d *vault.Document) error {
			if i == 0 {
				_, err := d.SetSecret("OPENAI_API_KEY", []byte("sk-value-0"), v.Now())
				return err
			}
			return d.Rotate("OPENAI_API_KEY", []byte(fmt.Sprintf("sk-value-%d", i)), v.Now())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Update("dev", ids(id), func(d *vault.Document) error { return d.Rollback("OPENAI_API_KEY", v.Now()) }); err != nil {
		t.Fatal(err)
	}
	doc, err := v.Load("dev", ids(id))
	if err != nil {
		t.Fatal(err)
	}
	s := doc.Secrets["OPENAI_API_KEY"]
	if s.Value != "sk-value-5" || historyValues(s) != "sk-value-1 sk-value-2 sk-value-3 sk-value-4 sk-value-6" {
		t.Errorf("after reload: %q, history %q", s.Value, historyValues(s))
	}
}

func historyValues(s *vault.Secret) string {
	var out []string
	for _, h := range s.History {
		out = append(out, h.Value)
	}
	return strings.Join(out, " ")
}

func TestTrimValue(t *testing.T) {
	cases := map[string]string{
		"v\n": "v", "v\r\n": "v", "v": "v", "v\n\n": "v\n", "v\r": "v\r", "\n": "", "a\nb\n": "a\nb",
	}
	for in, want := range cases {
		if got := string(vault.TrimValue([]byte(in))); got != want {
			t.Errorf("TrimValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveProfile(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "project", "src", "deep")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if r, err := vault.ResolveProfile("", func(string) string { return "" }, root, nil); err == nil {
		t.Skipf("%s above the temp folder would interfere", r.Source)
	}
	cfg := &vault.Config{DefaultProfile: "dev"}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	resolve := func(flag string) (vault.Resolution, error) {
		return vault.ResolveProfile(flag, getenv, sub, cfg)
	}
	expect := func(flag, name, source string) {
		t.Helper()
		r, err := resolve(flag)
		if err != nil || r.Name != name || r.Source != source {
			t.Errorf("ResolveProfile(%q) = %+v, %v; want %s from %s", flag, r, err, name, source)
		}
	}

	expect("", "dev", "default_profile")

	far := filepath.Join(root, ".okv-profile")
	os.WriteFile(far, []byte("far\n"), 0o600)
	expect("", "far", far)

	near := filepath.Join(root, "project", ".okv-profile")
	os.WriteFile(near, []byte("  near  \nignored second line\n"), 0o600)
	expect("", "near", near) // the nearest parent wins

	here := filepath.Join(sub, ".okv-profile")
	os.WriteFile(here, []byte("here"), 0o600)
	expect("", "here", here)

	env["OKV_PROFILE"] = "fromenv"
	expect("", "fromenv", "OKV_PROFILE")

	expect("flagged", "flagged", "--profile")

	// Invalid names are refused, saying where they came from.
	if _, err := resolve("Bad"); err == nil || !strings.Contains(err.Error(), "--profile") {
		t.Errorf("invalid flag: %v", err)
	}
	env["OKV_PROFILE"] = "../etc"
	if _, err := resolve(""); err == nil || !strings.Contains(err.Error(), "OKV_PROFILE") {
		t.Errorf("invalid OKV_PROFILE: %v", err)
	}
	delete(env, "OKV_PROFILE")
	os.WriteFile(here, []byte("../x\n"), 0o600)
	if _, err := resolve(""); err == nil || !strings.Contains(err.Error(), here) {
		t.Errorf("invalid .okv-profile: %v", err)
	}

	// No pin and no default: an error, not a guess.
	for _, p := range []string{here, near, far} {
		os.Remove(p)
	}
	cfg.DefaultProfile = ""
	if r, err := resolve(""); err == nil {
		t.Errorf("no profile anywhere resolved to %+v", r)
	}

	// okv use --here writes a pin that resolves.
	if err := vault.WriteProfilePin(sub, "pinned"); err != nil {
		t.Fatal(err)
	}
	expect("", "pinned", here)
	if err := vault.WriteProfilePin(sub, "Nope"); err == nil {
		t.Error("WriteProfilePin accepted an invalid name")
	}
}

// TestUnsetEveryKey: every settable key, once set to a non-default value,
// goes back to its default with Unset (a key Unset forgot would be an
// error, not a silent no-op).
func TestUnsetEveryKey(t *testing.T) {
	values := map[string]string{"confirm": "true", "proxy": "true", "max_age": "30d", "upstream": "https://gw.example.com",
		"rpm": "5", "tpm": "5", "models": "gpt-4o", "endpoints": "/v1/models", "max_body": "1k", "daily_tokens": "9",
		"daily_usd": "5", "monthly_usd": "50.5", "warn_usd": "4", "max_output_tokens": "2k"}
	for _, name := range vault.PolicyKeyNames() {
		v, ok := values[name]
		if !ok {
			t.Errorf("no test value for policy key %s", name)
			continue
		}
		var p vault.Policy
		if err := p.Set([]string{name + "=" + v}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fmt.Sprint(p) == fmt.Sprint(vault.Policy{}) {
			t.Fatalf("%s=%s changed nothing", name, v)
		}
		if err := p.Unset([]string{name}); err != nil {
			t.Fatalf("unset %s: %v", name, err)
		}
		if fmt.Sprint(p) != fmt.Sprint(vault.Policy{}) {
			t.Errorf("unset %s left %+v", name, p)
		}
	}
}

// TestDollarBudgetKeys: daily_usd, monthly_usd and warn_usd take finite
// amounts ≥ 0, per profile and per provider; a bad value is refused with
// the key named and nothing changed; the profile's dollar budgets hold
// for every provider (the lower of the two wins); a raised or removed
// dollar budget in config.toml is weaker than the pin.
func TestDollarBudgetKeys(t *testing.T) {
	var p vault.Policy
	if err := p.Set([]string{"daily_usd=5", "monthly_usd=$120.50", "anthropic.daily_usd=2", "gemini.daily_usd=9", "max_output_tokens=4k"}); err != nil {
		t.Fatal(err)
	}
	if p.DailyUSD != 5 || p.MonthlyUSD != 120.5 || p.MaxOutputTokens != 4000 {
		t.Fatalf("policy %+v", p.Limits)
	}
	if got := p.ProviderPolicy("anthropic").DailyUSD; got != 2 {
		t.Errorf("anthropic daily_usd %v, want its own 2", got)
	}
	if got := p.ProviderPolicy("gemini"); got.DailyUSD != 5 || got.MonthlyUSD != 120.5 {
		t.Errorf("gemini %+v, want the profile's lower 5 and its 120.5", got.Limits)
	}
	if got := p.ProviderPolicy("groq").DailyUSD; got != 5 {
		t.Errorf("groq daily_usd %v, want the profile's 5", got)
	}
	before := fmt.Sprint(p)
	for _, bad := range []string{"daily_usd=abc", "monthly_usd=-1", "warn_usd=NaN", "daily_usd=Inf", "anthropic.daily_usd=1e400", "daily_usd="} {
		err := p.Set([]string{"rpm=7", bad})
		key, _, _ := strings.Cut(bad, "=")
		if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "dollar amount") {
			t.Errorf("%s: %v", bad, err)
		}
		if fmt.Sprint(p) != before {
			t.Fatalf("%s changed the policy", bad)
		}
	}
	shown := map[string]string{}
	for _, kv := range p.Values() {
		shown[kv[0]] = kv[1]
	}
	if shown["daily_usd"] != "5" || shown["monthly_usd"] != "120.5" || shown["anthropic.daily_usd"] != "2" || shown["max_output_tokens"] != "4000" {
		t.Errorf("policy show %v", shown)
	}
}
