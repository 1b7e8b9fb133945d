package vault

import (
	"math/rand"
	"strings"
	"testing"
)

// topLevel splits a regexp alternation at its top-level '|'.
func topLevel(re string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range re {
		switch c {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case '|':
			if depth == 0 {
				out = append(out, re[start:i])
				start = i + 1
			}
		}
	}
	return append(out, re[start:])
}

// TestLooksLikeTokenPrefixes: the prefix check in front of the regexp
// (issue 21: no regexp on okv run's path) answers as the regexp does.
func TestLooksLikeTokenPrefixes(t *testing.T) {
	// One token of every shape: a shape added to tokenShapes must be
	// added here, and so checked against tokenPrefixes.
	samples := []string{
		"sk-proj-abcdef123456", "ghp_" + strings.Repeat("a", 36), "github_pat_" + strings.Repeat("B", 22),
		"AKIA" + strings.Repeat("Q", 16), "sk_live_" + strings.Repeat("x", 12), "rk_test_" + strings.Repeat("9", 12),
		"xoxb-" + strings.Repeat("1", 12), "glpat-" + strings.Repeat("z", 20), "AIza" + strings.Repeat("k", 35),
	}
	if n := len(topLevel(tokenShapes)); n != 8 {
		t.Fatalf("tokenShapes has %d shapes, this test knows 8: add a sample of the new one and its prefix to tokenPrefixes", n)
	}
	for _, s := range samples {
		if !tokenExact().MatchString(s) {
			t.Fatalf("sample %q does not match tokenShapes", s)
		}
		if !LooksLikeToken(s) {
			t.Errorf("LooksLikeToken(%q) = false, the regexp matches it: tokenPrefixes misses its start", s)
		}
	}
	// Random strings built from the shapes' own letters, with and without
	// their prefixes: the two answers agree on every one.
	rng := rand.New(rand.NewSource(1))
	parts := append([]string{"s", "k", "r", "g", "h", "A", "I", "K", "x", "o", "_", "-", "a", "Z", "0", "live", "test", "pat", "lpat"}, tokenPrefixes...)
	matched := 0
	for i := 0; i < 200000; i++ {
		var b strings.Builder
		for j := rng.Intn(12); j >= 0; j-- {
			b.WriteString(parts[rng.Intn(len(parts))])
		}
		if rng.Intn(2) == 0 {
			b.WriteString(strings.Repeat(string("aZ09_"[rng.Intn(5)]), rng.Intn(40)))
		}
		s := b.String()
		want := tokenExact().MatchString(s)
		if want {
			matched++
		}
		if got := LooksLikeToken(s); got != want {
			t.Fatalf("LooksLikeToken(%q) = %v, the regexp says %v", s, got, want)
		}
	}
	if matched == 0 {
		t.Fatal("no random string matched: the property check checks nothing")
	}
	if LooksLikeToken("OPENAI_API_KEY") {
		t.Error("OPENAI_API_KEY looks like a token")
	}
}
