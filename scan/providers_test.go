package scan_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/okvault/okv/scan"
)

// Random-looking test values of every provider's key shape; none is a
// real key.
var providerKeys = []struct{ name, key, rule string }{
	{"ANTHROPIC_API_KEY", "sk-ant-api03-" + strings.Repeat("Qw7e-_x9", 11) + "Ab1cD" + "AA", scan.RuleAnthropicKey},
	{"ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-" + strings.Repeat("Zx8cV_n2", 11) + "Ab1cD" + "AA", scan.RuleAnthropicAdminKey},
	{"GEMINI_API_KEY", "AIzaSyD" + strings.Repeat("k3_M-q8", 4) + "Xa0Z", scan.RuleGoogleAPIKey},
	{"GROQ_API_KEY", "gsk_" + strings.Repeat("Gq4Wz8Rt", 6) + "Ab1c", scan.RuleGroqKey},
	{"XAI_API_KEY", "xai-" + strings.Repeat("Xq7Rt2Lm", 10), scan.RuleXAIKey},
	{"OPENROUTER_API_KEY", "sk-or-v1-" + strings.Repeat("0a1b2c3d", 8), scan.RuleOpenRouterKey},
	{"HF_TOKEN", "hf_" + strings.Repeat("aBcDeFgHiJkLmNoPq", 2), scan.RuleHuggingFaceToken},
	{"OPENAI_API_KEY", "sk-None-" + strings.Repeat("Ab3d-_7K", 9) + "Ab" + "T3BlbkFJ" + strings.Repeat("x9Yz_-2Q", 9) + "Xy", scan.RuleOpenAIKey},
}

// TestProviderShapes: each provider's key is found by its shape rule in
// plain and JSON-escaped form (not in the vault), and in plain, escaped
// and base64 form as the vault's exact value (in the vault).
func TestProviderShapes(t *testing.T) {
	for _, pk := range providerKeys {
		if got := scan.ProviderKeyRule([]byte(pk.key)); got != pk.rule {
			t.Errorf("%s: ProviderKeyRule = %q, want %q", pk.name, got, pk.rule)
		}
	}
	dir := t.TempDir()
	var plain, escaped, b64 strings.Builder
	var vault []scan.Known
	for i, pk := range providerKeys {
		fmt.Fprintf(&plain, "%s=%s\n", pk.name, pk.key)
		fmt.Fprintf(&escaped, "{\"k%d\": \"%s\"}\n", i, strings.ReplaceAll(pk.key, "_", `\u005f`))
		fmt.Fprintf(&b64, "b%d: %s\n", i, base64.StdEncoding.EncodeToString([]byte(pk.key)))
		vault = append(vault, scan.Known{Profile: "dev", Name: pk.name, Value: pk.key})
	}
	write(t, dir, "a.env", plain.String())
	write(t, dir, "b.json", escaped.String())
	write(t, dir, "c.yaml", b64.String())

	// Shapes only: the vault holds something else.
	res := scanDir(t, scan.Options{Paths: []string{dir}, Known: []scan.Known{{Profile: "dev", Name: "X", Value: "unrelated-value-0123456789"}}})
	var want []string
	for i, pk := range providerKeys {
		want = append(want, fmt.Sprintf("a.env:%d:%d %s", i+1, len(pk.name)+2, pk.rule))
	}
	for i, pk := range providerKeys {
		want = append(want, fmt.Sprintf("b.json:%d:%d %s", i+1, len(fmt.Sprintf("{\"k%d\": \"", i))+1, pk.rule))
	}
	equal(t, got(t, dir, res), want)

	// Exact values: every form.
	res = scanDir(t, scan.Options{Paths: []string{dir}, Known: vault})
	n := map[string]int{}
	for _, f := range res.Findings {
		if f.Rule == scan.RuleVaultValue {
			n[f.Encoding]++
		}
	}
	// b.json's lines without "_" hold the value unescaped: plain too.
	if n["plain"] != len(providerKeys)+2 || n["base64"] != len(providerKeys) || n["json-escaped"] != 6 {
		t.Errorf("vault-value findings by encoding %v", n)
	}
}

// TestProviderLookAlikes: near misses of each shape are not keys.
func TestProviderLookAlikes(t *testing.T) {
	for _, s := range []string{
		"sk-ant-api03-" + strings.Repeat("a", 90) + "AB",   // no AA end
		"sk-ant-api03-short" + "AA",                        // too short
		"AIza" + strings.Repeat("b", 34),                   // 34 after AIza
		"AIza" + strings.Repeat("b", 36),                   // 36
		"xAIza" + strings.Repeat("b", 35),                  // glued
		"gsk_" + strings.Repeat("c", 51),                   // 51
		"gsk_" + strings.Repeat("c", 50) + "_d",            // underscore
		"xai-" + strings.Repeat("d", 79),                   // 79
		"sk-or-v1-" + strings.Repeat("E", 64),              // upper-case hex
		"hf_" + strings.Repeat("e", 33) + "1",              // a digit
		"sha256:" + strings.Repeat("0123456789abcdef", 4),  // a hash
		"550e8400-e29b-41d4-a716-446655440000",             // a UUID
		"integrity sha512-" + strings.Repeat("Qw7e+/", 14), // a lockfile
	} {
		if r := scan.ProviderKeyRule([]byte(s)); r != "" {
			t.Errorf("%q matched %s", s, r)
		}
	}
}
