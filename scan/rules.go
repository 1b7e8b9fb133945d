package scan

import "bytes"

// Rule identifiers, as they appear in findings, JSON and SARIF output.
const (
	RuleOpenAIKey               = "openai-api-key"             // legacy user key: sk-…T3BlbkFJ…
	RuleOpenAIProjectKey        = "openai-project-key"         // sk-proj-…T3BlbkFJ…
	RuleOpenAIServiceAccountKey = "openai-service-account-key" // sk-svcacct-…T3BlbkFJ…
	RuleOpenAIAdminKey          = "openai-admin-key"           // sk-admin-…T3BlbkFJ…
	RuleVaultValue              = "vault-value"                // the exact value of a key in the vault
)

// RuleInfo describes a rule for reports.
type RuleInfo struct {
	ID          string
	Description string
}

// Rules lists every rule okv scan reports, in a fixed order.
var Rules = []RuleInfo{
	{RuleVaultValue, "The value of a key stored in the okv vault"},
	{RuleOpenAIKey, "OpenAI API key (legacy user key)"},
	{RuleOpenAIProjectKey, "OpenAI project API key"},
	{RuleOpenAIServiceAccountKey, "OpenAI service account API key"},
	{RuleOpenAIAdminKey, "OpenAI admin API key"},
}

// The OpenAI rule is keyed on the marker every OpenAI secret key carries:
// "T3BlbkFJ" is base64 for "OpenAI". Both reference scanners were compared:
//
//   - gitleaks (cmd/generate/config/rules/openai.go) uses the same keyword and
//     `sk-(?:proj|svcacct|admin)-(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})T3BlbkFJ(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})`
//     or `sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20}`, with word boundaries.
//     Taken: the keyword, the three prefixed shapes, the [A-Za-z0-9_-]
//     alphabet for them and alphanumerics only for legacy keys, and the
//     boundary rule. Not taken: the exact lengths (58/74/20), which OpenAI
//     has changed before; we accept 20–200 characters on each side of the
//     marker for prefixed keys and 16–64 for legacy keys.
//   - trufflehog (pkg/detectors/openai) matches
//     `\b(sk-(?:(?:proj|svcacct|service)-[A-Za-z0-9_-]+|[a-zA-Z0-9]+)T3BlbkFJ[A-Za-z0-9_-]+)\b`
//     keyed on the same marker and leaves admin keys out. Taken: any length
//     is plausible, so we bound lengths loosely instead of exactly. Not
//     taken: "sk-service-" (never seen in OpenAI's documentation) and the
//     admin exclusion (admin keys are the most dangerous ones to leak).
//
// The older `sk-[A-Za-z0-9]{48}` rule both tools once had is not used: every
// real key carries the marker, and the rule without it matched hashes and
// prose.
var openAIMarker = []byte("T3BlbkFJ")

const (
	openAIModernMin = 20
	openAIModernMax = 200
	openAILegacyMin = 16
	openAILegacyMax = 64
	// longest prefix + body we ever look back over from the marker
	openAIMaxLeft = len("sk-svcacct-") + openAIModernMax
)

var openAIPrefixes = []struct {
	prefix string
	rule   string
}{
	{"sk-proj-", RuleOpenAIProjectKey},
	{"sk-svcacct-", RuleOpenAIServiceAccountKey},
	{"sk-admin-", RuleOpenAIAdminKey},
	// A user key of the current kind: sk-None- + 74 + T3BlbkFJ + 74
	// (neither gitleaks' prefixed rule, which lists proj|svcacct|admin,
	// nor okv's before found it).
	{"sk-None-", RuleOpenAIKey},
}

// keyChar is the alphabet of OpenAI key bodies: [A-Za-z0-9_-].
var keyChar = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	return t
}()

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func allAlnum(b []byte) bool {
	for _, c := range b {
		if !isAlnum(c) {
			return false
		}
	}
	return true
}

// findOpenAIKeys calls fn with the byte range and rule of every OpenAI key
// shape in data, left to right, without overlaps. A key is a maximal run of
// [A-Za-z0-9_-] (so "xsk-…" or a key glued to more key characters is not
// one), except that it may follow a '-' ("--sk-…", as gitleaks' \b allows).
func findOpenAIKeys(data []byte, fn func(start, end int, rule string)) {
	off := 0
	for off < len(data) {
		k := bytes.Index(data[off:], openAIMarker)
		if k < 0 {
			return
		}
		m := off + k
		right := m + len(openAIMarker)
		re := right
		for re < len(data) && keyChar[data[re]] && re-right <= openAIModernMax {
			re++
		}
		if re-right > openAIModernMax {
			// The run goes on past any plausible key: not a key. Skip it whole.
			for re < len(data) && keyChar[data[re]] {
				re++
			}
			off = re
			continue
		}
		ls := m
		for ls > 0 && keyChar[data[ls-1]] && m-ls < openAIMaxLeft {
			ls--
		}
		runStart := ls == 0 || !keyChar[data[ls-1]]
		start, rule := -1, ""
		for p := ls; p+3 <= m; p++ {
			if data[p] != 's' || data[p+1] != 'k' || data[p+2] != '-' {
				continue
			}
			if !(p == ls && runStart) && !(p > ls && data[p-1] == '-') {
				continue
			}
			if r := openAIShape(data[p:m], data[right:re]); r != "" {
				start, rule = p, r
				break
			}
		}
		if start < 0 {
			off = right
			continue
		}
		fn(start, re, rule)
		off = re
	}
}

// openAIShape says which rule a key matches, given the part before the
// marker (starting with "sk-") and the part after it; "" if none.
func openAIShape(left, right []byte) string {
	for _, p := range openAIPrefixes {
		if bytes.HasPrefix(left, []byte(p.prefix)) {
			body := len(left) - len(p.prefix)
			if body >= openAIModernMin && body <= openAIModernMax &&
				len(right) >= openAIModernMin && len(right) <= openAIModernMax {
				return p.rule
			}
			return ""
		}
	}
	body := left[3:]
	if len(body) >= openAILegacyMin && len(body) <= openAILegacyMax && allAlnum(body) &&
		len(right) >= openAILegacyMin && len(right) <= openAILegacyMax && allAlnum(right) {
		return RuleOpenAIKey
	}
	return ""
}
