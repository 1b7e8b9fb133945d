package vault

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Names are checked by hand rather than with regexp: compiling patterns at
// start-up costs every okv run, and these rules are short.

// validProfileName: ^[a-z0-9][a-z0-9_-]{0,62}$
func validProfileName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[0] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validSecretName: ^[A-Za-z_][A-Za-z0-9_]{0,127}$
func validSecretName(s string) bool {
	if len(s) == 0 || len(s) > 128 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// tokenShapes are whole well-known API token formats (OpenAI, GitHub, AWS
// access key ids, Stripe, Slack, GitLab, Google), to keep a pasted token
// out of names, messages and the audit log.
const tokenShapes = `sk-[A-Za-z0-9_-]{6,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,}|AKIA[0-9A-Z]{16}|[sr]k_(live|test)_[A-Za-z0-9]{10,}|xox[abprs]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{30,}`

// Compiled on first use, off okv's start-up path.
var (
	tokenExact    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(` + tokenShapes + `)$`) })
	tokenAnywhere = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\b(` + tokenShapes + `)`) })
)

// tokenPrefixes are the literal starts of every alternative of
// tokenShapes: a string that starts with none of them cannot match
// tokenExact, and is answered without compiling or running the regexp
// (every secret name of a profile is checked on each okv run). Keep in
// step with tokenShapes (TestLooksLikeTokenPrefixes checks that they agree).
var tokenPrefixes = []string{"sk-", "gh", "github_pat_", "AKIA", "sk_live_", "sk_test_", "rk_live_", "rk_test_", "xox", "glpat-", "AIza"}

// LooksLikeToken reports whether s is, whole, a well-known token format.
func LooksLikeToken(s string) bool {
	for _, p := range tokenPrefixes {
		if strings.HasPrefix(s, p) {
			return tokenExact().MatchString(s)
		}
	}
	return false
}

// ScrubTokens replaces every well-known token format in s by its first
// four characters and a redaction mark.
func ScrubTokens(s string) string {
	return tokenAnywhere().ReplaceAllStringFunc(s, func(k string) string {
		if len(k) > 8 {
			return k[:4] + "…(redacted)"
		}
		return "…"
	})
}

// MaxValueSize is the largest secret value okv stores.
const MaxValueSize = 64 << 10

// InvalidInputError reports a name or value that breaks one of the vault's
// rules. Rule says which rule, in words a user can act on; the offending
// value itself is never included for secret values.
type InvalidInputError struct {
	What string // "profile name", "secret name", "value"
	Rule string
}

func (e *InvalidInputError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.What, e.Rule)
}

// ValidateProfileName checks a profile name against ^[a-z0-9][a-z0-9_-]{0,62}$.
func ValidateProfileName(name string) error {
	if validProfileName(name) {
		return nil
	}
	rule := "use 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
	if name == "" {
		rule = "the name is empty"
	}
	what := fmt.Sprintf("profile name %q", clip(name))
	if mightBeValue(name) {
		what = "profile name (not shown: it looks like a key, not a name)"
	}
	return &InvalidInputError{What: what, Rule: rule}
}

// ValidateSecretName checks a secret name: an environment variable name of at
// most 128 characters.
func ValidateSecretName(name string) error {
	if validSecretName(name) {
		if LooksLikeToken(name) {
			// A valid variable name, but a pasted token (ghp_…, AKIA…):
			// storing it would print and log the token as a name.
			return &InvalidInputError{What: "secret name (not shown: it looks like a key, not a name)",
				Rule: "give the name (like GITHUB_TOKEN) as the argument and the value on stdin or at the prompt"}
		}
		return nil
	}
	rule := "use an environment variable name: letters, digits and '_', not starting with a digit, at most 128 characters"
	if name == "" {
		rule = "the name is empty"
	}
	what := fmt.Sprintf("secret name %q", clip(name))
	if mightBeValue(name) {
		// `okv set sk-…` puts the key where the name goes: never echo it.
		what = "secret name (not shown: it looks like a key, not a name)"
		rule = "give the name (like OPENAI_API_KEY) as the argument and the value on stdin or at the prompt"
	}
	return &InvalidInputError{What: what, Rule: rule}
}

// mightBeValue guesses whether an invalid name is really a secret value.
func mightBeValue(s string) bool {
	if len(s) >= 20 {
		return true
	}
	for _, p := range []string{"sk-", "sk_", "ghp_", "xox", "AKIA", "eyJ"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// ValidateValue checks a secret value: 1 byte to 64 KiB, no NUL byte.
func ValidateValue(v []byte) error {
	switch {
	case len(v) == 0:
		return &InvalidInputError{What: "value", Rule: "the value is empty"}
	case len(v) > MaxValueSize:
		return &InvalidInputError{What: "value", Rule: fmt.Sprintf("the value is %d bytes, more than the 64 KiB limit", len(v))}
	case bytes.IndexByte(v, 0) >= 0:
		return &InvalidInputError{What: "value", Rule: "the value contains a NUL byte"}
	}
	return nil
}

// TrimValue removes one trailing newline (\n or \r\n), as read from stdin.
func TrimValue(v []byte) []byte {
	if bytes.HasSuffix(v, []byte("\r\n")) {
		return v[:len(v)-2]
	}
	if bytes.HasSuffix(v, []byte("\n")) {
		return v[:len(v)-1]
	}
	return v
}

// clip keeps names quoted in errors short; names are never secret.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
