package limits

import (
	"regexp"
	"testing"
)

// FuzzNames holds the two loops to the patterns they replaced.
func FuzzNames(f *testing.F) {
	provider := regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	variable := regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	for _, s := range []string{"", "groq", "a", "a-b_c9", "Groq", "9a", "abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz0123456",
		"GROQ_API_KEY", "_X", "X-Y", "x", "A\n", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ProviderName(s), provider.MatchString(s); got != want {
			t.Errorf("ProviderName(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := VarName(s), variable.MatchString(s); got != want {
			t.Errorf("VarName(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
