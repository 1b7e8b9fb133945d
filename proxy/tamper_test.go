package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func tamperHarness(t *testing.T) (*harness, string) {
	dir := t.TempDir()
	var cl *countingLedger
	h := newHarness(t, nil, func(c *Config) {
		c.Limits.DailyTokens = 1000
		cl = newCountingLedger(&FileLedger{Dir: dir, Now: c.Now})
		t.Cleanup(func() { cl.Close() })
		c.Ledger = cl
	})
	for i := range 3 {
		if resp, _ := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
			t.Fatal(resp.StatusCode)
		}
		cl.wait(i + 1)
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
	// The running proxy reads the reset: its budget counts again from
	// the ledger as it is.
	if resp, body := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Errorf("after reset: %d %s", resp.StatusCode, body)
	}
	if n := len(h.up.requests()); n != 4 {
		t.Errorf("upstream got %d requests, want 4", n)
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

// countingLedger is a FileLedger that counts the records it wrote, by
// AppendAll or by Hold, so that a test waits for them without calling
// Proxy.Wait while a handler may still be finishing.
type countingLedger struct {
	*FileLedger
	mu   sync.Mutex
	n    int
	cond *sync.Cond
}

func newCountingLedger(fl *FileLedger) *countingLedger {
	c := &countingLedger{FileLedger: fl}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *countingLedger) add(n int) {
	c.mu.Lock()
	c.n += n
	c.mu.Unlock()
	c.cond.Broadcast()
}

func (c *countingLedger) Append(r Record) error { return c.AppendAll([]Record{r}) }

func (c *countingLedger) AppendAll(rs []Record) error {
	err := c.FileLedger.AppendAll(rs)
	c.add(len(rs))
	return err
}

func (c *countingLedger) Hold(profile string, now time.Time, n int64, usd float64, done []Record, admit func(Spend) bool) (uint64, Spend, error) {
	return c.FileLedger.Hold(profile, now, n, usd, done, admit)
}

func (c *countingLedger) Raise(id uint64, n int64, now time.Time) error {
	return c.FileLedger.Raise(id, n, now)
}

func (c *countingLedger) wait(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.n < n {
		c.cond.Wait()
	}
}
