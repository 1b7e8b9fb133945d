package scan

import "bytes"

// Rules for the other LLM providers' keys (OpenAI's are in rules.go).
const (
	RuleAnthropicKey      = "anthropic-api-key"       // sk-ant-api03-…AA
	RuleAnthropicAdminKey = "anthropic-admin-api-key" // sk-ant-admin01-…AA
	RuleGoogleAPIKey      = "gcp-api-key"             // AIza + 35 (Gemini, and every Google API)
	RuleGroqKey           = "groq-api-key"            // gsk_ + 52
	RuleXAIKey            = "xai-api-key"             // xai- + 80
	RuleOpenRouterKey     = "openrouter-api-key"      // sk-or-v1- + 64 hex
	RuleHuggingFaceToken  = "huggingface-access-token"
)

func init() {
	Rules = append(Rules,
		RuleInfo{RuleAnthropicKey, "Anthropic API key"},
		RuleInfo{RuleAnthropicAdminKey, "Anthropic admin API key"},
		RuleInfo{RuleGoogleAPIKey, "Google API key (Gemini)"},
		RuleInfo{RuleGroqKey, "Groq API key"},
		RuleInfo{RuleXAIKey, "xAI API key"},
		RuleInfo{RuleOpenRouterKey, "OpenRouter API key"},
		RuleInfo{RuleHuggingFaceToken, "Hugging Face access token"},
	)
}

// providerShape is one key shape: a prefix, then a body of min..max
// characters of an alphabet, ending in suffix, as one maximal run of key
// characters ([A-Za-z0-9_-]) that starts at the prefix. Each rule was
// compared with gitleaks' (cmd/generate/config/rules/*.go):
//
//   - anthropic: gitleaks anthropic-api-key `sk-ant-api03-[a-zA-Z0-9_\-]{93}AA`
//     and anthropic-admin-api-key `sk-ant-admin01-[a-zA-Z0-9_\-]{93}AA`.
//     Taken: prefixes, alphabet, the "AA" end. Not taken: the exact 93,
//     loosened to 80–120 as for OpenAI's lengths.
//   - gcp-api-key: gitleaks `AIza[\w-]{35}`, taken exactly (Google has kept
//     39 characters); it finds every Google API key, Gemini's included.
//   - groq: gitleaks groq-api-key `gsk_[a-zA-Z0-9]{48}` with entropy ≥ 4.
//     Taken: prefix, alphabet. Loosened: 48–52 characters (Groq's console
//     keys are gsk_ + 52). Entropy: replaced by "at least 8 distinct
//     characters", which rejects gsk_xxxx… placeholders as gitleaks does.
//   - xai: gitleaks xai-api-key `xai-[A-Za-z0-9]{80}`, entropy ≥ 4: taken,
//     with the same placeholder check.
//   - openrouter: gitleaks openrouter-api-key `sk-or(-v\d+)?-[a-f0-9]{64}`.
//     Taken for v1 only (sk-or-v1-), the only version OpenRouter issues.
//   - huggingface: gitleaks huggingface-access-token `hf_(?i:[a-z]{34})`,
//     taken: 34 letters.
//
// Peers: gitleaks (its rules read for this comparison) has all seven;
// okv before these rules found none of them; no other scanner was checked.
//
// Mistral (32 alphanumerics), DeepSeek (sk- + 32 hex) and Together (64
// hex) keys have no shape that tells them from hashes and ids: like every
// stored key they are found by exact value (rule vault-value).
type providerShape struct {
	prefix   string
	alphabet func(byte) bool
	min, max int
	suffix   string
	rule     string
}

func isHexLower(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
func isLetter(c byte) bool   { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isKeyChar(c byte) bool  { return keyChar[c] }

var providerShapes = []providerShape{
	{"sk-ant-api03-", isKeyChar, 82, 122, "AA", RuleAnthropicKey},
	{"sk-ant-admin01-", isKeyChar, 82, 122, "AA", RuleAnthropicAdminKey},
	{"AIza", isKeyChar, 35, 35, "", RuleGoogleAPIKey},
	{"gsk_", isAlnum, 48, 52, "", RuleGroqKey},
	{"xai-", isAlnum, 80, 80, "", RuleXAIKey},
	{"sk-or-v1-", isHexLower, 64, 64, "", RuleOpenRouterKey},
	{"hf_", isLetter, 34, 34, "", RuleHuggingFaceToken},
}

// findProviderKeys calls fn with the range and rule of every key of the
// shapes above in data. The key must start a run of key characters (or
// follow a '-') and end one.
func findProviderKeys(data []byte, fn func(start, end int, rule string)) {
	for i := range providerShapes {
		sh := &providerShapes[i]
		p := []byte(sh.prefix)
		for off := 0; off < len(data); {
			k := bytes.Index(data[off:], p)
			if k < 0 {
				break
			}
			s := off + k
			off = s + len(p)
			if s > 0 && keyChar[data[s-1]] && data[s-1] != '-' {
				continue
			}
			e := off
			for e < len(data) && keyChar[data[e]] && e-off <= sh.max {
				e++
			}
			n := e - off
			if n < sh.min || n > sh.max || e < len(data) && keyChar[data[e]] {
				continue
			}
			body := data[off:e]
			if !bytes.HasSuffix(body, []byte(sh.suffix)) {
				continue
			}
			ok := true
			var seen [256]bool
			distinct := 0
			for _, c := range body {
				if !sh.alphabet(c) {
					ok = false
					break
				}
				if !seen[c] {
					seen[c], distinct = true, distinct+1
				}
			}
			// A placeholder (gsk_xxxx…, AIza0000…) is not a key.
			ok = ok && distinct >= 8
			if ok {
				fn(s, e, sh.rule)
				off = e
			}
		}
	}
}

// findKeys is every shape rule: OpenAI's and the other providers'.
func findKeys(data []byte, fn func(start, end int, rule string)) {
	findOpenAIKeys(data, fn)
	findProviderKeys(data, fn)
}

// ProviderKeyRule returns the rule when v is exactly one key of a shape
// rule (OpenAI's or another provider's), with nothing around it; "".
func ProviderKeyRule(v []byte) string {
	rule := ""
	findKeys(v, func(start, end int, r string) {
		if start == 0 && end == len(v) {
			rule = r
		}
	})
	return rule
}
