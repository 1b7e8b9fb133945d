package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tamperHarness(t *testing.T) (*harness, string) {
	dir := t.TempDir()
	h := newHarness(t, nil, func(c *Config) {
		c.Limits.DailyTokens = 1000
		fl := &FileLedger{Dir: dir, Now: c.Now}
		t.Cleanup(func() { fl.Close() })
		c.Ledger = fl
	})
	for range 3 {
		if resp, _ := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
			t.Fatal(resp.StatusCode)
		}
		h.p.Wait()
	}
	return h, filepath.Join(dir, MonthFile(h.clock.Now()))
}

// A child that truncates the ledger (it runs as the same user) does not
// get its budget back: the truncation is detected, reported, and the
// budget taken as spent until the user resets it.
func TestLedgerTruncationDetected(t *testing.T) {
	h, month := tamperHarness(t)
	dir := filepath.Dir(month)
	if why, err := LedgerProblem(dir, h.clock.Now()); err != nil || why != "" {
		t.Fatalf("untouched ledger: %q %v", why, err)
	}
	if err := os.Truncate(month, 0); err != nil {
		t.Fatal(err)
	}
	resp, body := h.post("/v1/chat/completions", chatBody)
	wantError(t, resp, body, 429, "insufficient_quota", "insufficient_quota")
	if !strings.Contains(string(body), "truncated") || !strings.Contains(string(body), "okv usage --reset-ledger") {
		t.Errorf("refusal %s", body)
	}
	if resp.Header.Get("X-Should-Retry") != "false" {
		t.Errorf("x-should-retry %q", resp.Header.Get("X-Should-Retry"))
	}
	why, err := LedgerProblem(dir, h.clock.Now())
	if err != nil || !strings.Contains(why, "truncated") {
		t.Fatalf("LedgerProblem %q %v", why, err)
	}
	// Deleting the day totals too does not clear the verdict of a
	// running proxy: the day's spend it saw cannot go down.
	os.Remove(filepath.Join(dir, daysFile))
	resp, body = h.post("/v1/chat/completions", chatBody)
	wantError(t, resp, body, 429, "insufficient_quota", "insufficient_quota")
	if !strings.Contains(string(body), "went down") {
		t.Errorf("refusal %s", body)
	}
	// The user's reset.
	if err := ResetLedger(dir, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if why, _ := LedgerProblem(dir, h.clock.Now()); why != "" {
		t.Errorf("after reset: %q", why)
	}
	if n := len(h.up.requests()); n != 3 {
		t.Errorf("upstream got %d requests, want 3", n)
	}
}

// A line edited in place (fewer tokens) breaks the chain: okv usage and
// okv doctor report it.
func TestLedgerEditDetected(t *testing.T) {
	h, month := tamperHarness(t)
	b, err := os.ReadFile(month)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) < 3 || !strings.Contains(lines[1], `"prev":"`) {
		t.Fatalf("ledger %s", b)
	}
	lines[0] = strings.Replace(lines[0], `"total_tokens":18`, `"total_tokens":1`, 1)
	if err := os.WriteFile(month, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	why, err := VerifyLedger(filepath.Dir(month))
	if err != nil || !strings.Contains(why, MonthFile(h.clock.Now())+":2 does not follow") {
		t.Errorf("VerifyLedger %q %v", why, err)
	}
}
