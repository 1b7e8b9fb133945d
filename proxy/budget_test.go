package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// budgetUpstream answers chat completions in OpenAI's documented
// non-streamed shape, holding each answer until release is closed, and
// reports usage of the request's max_tokens as completion (OpenAI stops
// at max_tokens) on top of 1000 prompt tokens, or 5000 in all without
// max_tokens.
func budgetUpstream(release chan struct{}, arrived *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-release
		body, _ := io.ReadAll(r.Body)
		var req struct {
			MaxTokens int `json:"max_tokens"`
		}
		_ = json.Unmarshal(body, &req)
		completion := 4000
		if req.MaxTokens > 0 {
			completion = req.MaxTokens
		}
		prompt := min(1000, len(body)) // never more tokens than bytes
		chatJSON(w, prompt, completion)
	}
}

// parallel sends n requests at once and returns their statuses.
func parallel(t *testing.T, n int, send func(i int) int) []int {
	t.Helper()
	st := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); st[i] = send(i) }()
	}
	wg.Wait()
	return st
}

func count(st []int, code int) int {
	n := 0
	for _, s := range st {
		if s == code {
			n++
		}
	}
	return n
}

func totalTokens(recs []Record) int64 {
	var s int64
	for _, r := range recs {
		s += r.TotalTokens
	}
	return s
}

// 20 parallel requests of 5,000 tokens each under daily_tokens=1000: one
// is admitted (alone, the budget not yet spent), the others are refused
// at once; the day's spend stays within budget + one request.
func TestBudgetParallelRequests(t *testing.T) {
	release := make(chan struct{})
	var arrived atomic.Int32
	h := newHarness(t, budgetUpstream(release, &arrived), func(c *Config) { c.Limits.DailyTokens = 1000 })
	var refusedFast sync.WaitGroup
	refusedFast.Add(19)
	releaseAfter(&refusedFast, release)
	st := parallel(t, 20, func(int) int {
		resp, body := h.post("/v1/chat/completions", chatBody)
		if resp.StatusCode == 429 {
			if !strings.Contains(string(body), "held by requests in flight") {
				t.Errorf("refusal %s", body)
			}
			refusedFast.Done()
		}
		return resp.StatusCode
	})
	if count(st, 200) != 1 || count(st, 429) != 19 || arrived.Load() != 1 {
		t.Fatalf("statuses %v, upstream got %d", st, arrived.Load())
	}
	recs := h.ledger.wait(20)
	if spent := totalTokens(recs); spent > 1000+5000 {
		t.Errorf("spent %d past the bound", spent)
	}
	// Spent: everything is refused now, as exhausted.
	resp, body := h.post("/v1/chat/completions", chatBody)
	wantError(t, resp, body, 429, "insufficient_quota", "insufficient_quota")
}

// With max_tokens the estimate is close: as many requests run at once as
// fit, and the spend stays within the budget.
func TestBudgetHoldsEstimates(t *testing.T) {
	release := make(chan struct{})
	var arrived atomic.Int32
	h := newHarness(t, budgetUpstream(release, &arrived), func(c *Config) { c.Limits.DailyTokens = 12000 })
	body := `{"model":"gpt-4o-mini","max_tokens":4000,"messages":[{"role":"user","content":"hello"}]}`
	var refused sync.WaitGroup
	refused.Add(18)
	releaseAfter(&refused, release)
	st := parallel(t, 20, func(int) int {
		resp, _ := h.post("/v1/chat/completions", body)
		if resp.StatusCode == 429 {
			refused.Done()
		}
		return resp.StatusCode
	})
	// Each holds len(body)+4000 = 4086: two fit in 12000, a third does not.
	if count(st, 200) != 2 || arrived.Load() != 2 {
		t.Fatalf("statuses %v", st)
	}
	if spent := totalTokens(h.ledger.wait(20)); spent > 12000 {
		t.Errorf("spent %d past the budget", spent)
	}
}

// Two proxies of one profile on one vault folder (two okv processes)
// share the budget through the ledger: the holds of one are seen by the
// other, under the ledger's lock.
func TestBudgetSharedAcrossProxies(t *testing.T) {
	release := make(chan struct{})
	var arrived atomic.Int32
	dir := t.TempDir()
	var ledgers []*countingLedger
	h := newHarness(t, budgetUpstream(release, &arrived), func(c *Config) {
		c.Limits.DailyTokens = 1000
		fl := newCountingLedger(&FileLedger{Dir: dir, Now: c.Now})
		ledgers = append(ledgers, fl)
		c.Ledger = fl
	})
	// The second proxy: its own FileLedger on the same folder.
	fl2 := newCountingLedger(&FileLedger{Dir: dir, Now: h.clock.Now})
	p2, err := New(Config{Profile: "dev", Upstream: h.up.url(t, ""), APIKey: testKey, Token: h.token,
		Limits: Limits{DailyTokens: 1000}, Ledger: fl2, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p2.Serve(l2)
	t.Cleanup(func() { p2.Close(); fl2.Close(); ledgers[0].Close() })
	base2 := "http://" + l2.Addr().String()

	var refused sync.WaitGroup
	refused.Add(19)
	releaseAfter(&refused, release)
	st := parallel(t, 20, func(i int) int {
		r := h.req("POST", "/v1/chat/completions", chatBody)
		if i%2 == 1 {
			r.URL.Host = l2.Addr().String()
			r.Host = r.URL.Host
		}
		resp, _ := h.do(r)
		if resp.StatusCode == 429 {
			refused.Done()
		}
		return resp.StatusCode
	})
	if count(st, 200) != 1 || count(st, 429) != 19 || arrived.Load() != 1 {
		t.Fatalf("statuses %v, upstream got %d", st, arrived.Load())
	}
	// Every request's record written, by either proxy.
	done := make(chan struct{})
	go func() {
		for {
			ledgers[0].mu.Lock()
			a := ledgers[0].n
			ledgers[0].mu.Unlock()
			fl2.mu.Lock()
			b := fl2.n
			fl2.mu.Unlock()
			if a+b >= 20 {
				close(done)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("records not written")
	}
	recs, err := ReadLedger(dir, time.Time{}, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 20 {
		t.Fatalf("%d records", len(recs))
	}
	if spent := totalTokens(recs); spent > 1000+5000 {
		t.Errorf("spent %d past the bound", spent)
	}
	// Both now see the spent budget, and nothing is held any more.
	for _, host := range []string{h.base, base2} {
		r := h.req("POST", "/v1/chat/completions", chatBody)
		r.URL.Host = strings.TrimPrefix(host, "http://")
		r.Host = r.URL.Host
		resp, body := h.do(r)
		wantError(t, resp, body, 429, "insufficient_quota", "insufficient_quota")
	}
	if b, err := os.ReadFile(filepath.Join(dir, heldFile)); err != nil || string(b) != "{}" {
		t.Errorf("%s: %s %v", heldFile, b, err)
	}
}

// releaseAfter lets the upstream answer once wg is done (the refusals
// came back while the admitted requests were held), or after 10 s, so a
// broken limit fails the test's counts instead of hanging it.
func releaseAfter(wg *sync.WaitGroup, release chan struct{}) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	go func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		close(release)
	}()
}

// TestBudgetSlowBodyAcrossMidnight: a request counts against the UTC day
// it started on (its record's day), so a child cannot spend a day's
// budget again by starting requests before midnight and sending their
// bodies after it, once the proxy counted a request of the new day: the
// spent day stays spent for them.
func TestBudgetSlowBodyAcrossMidnight(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2026, 12, 14, 23, 59, 0, 0, time.UTC)
	var armed atomic.Bool
	started := make(chan struct{})
	var fl *FileLedger
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		chatJSON(w, 10, 20)
	}, func(c *Config) {
		c.Limits.DailyTokens = 1000
		clk := c.Now
		c.Now = func() time.Time {
			t := clk()
			if armed.CompareAndSwap(true, false) {
				close(started) // the slow request's start, read
			}
			return t
		}
		fl = &FileLedger{Dir: dir, Now: clk}
		c.Ledger = fl
	})
	t.Cleanup(func() { h.p.Wait(); fl.Close() })
	h.clock.mu.Lock()
	h.clock.t = day
	h.clock.mu.Unlock()
	seed := &FileLedger{Dir: dir, Now: h.clock.Now}
	if err := seed.AppendAll([]Record{{Time: day.Add(-time.Hour), Profile: "dev", TotalTokens: 1000}}); err != nil {
		t.Fatal(err)
	}
	seed.Close()

	// Started at 23:59 on the 14th, its budget spent; the body comes
	// after midnight.
	pr, pw := io.Pipe()
	slow, err := http.NewRequest("POST", h.base+"/v1/chat/completions", pr)
	if err != nil {
		t.Fatal(err)
	}
	slow.Header.Set("Authorization", "Bearer "+h.token)
	slow.Header.Set("Content-Type", "application/json")
	armed.Store(true)
	type answer struct {
		resp *http.Response
		body []byte
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := h.client.Do(slow)
		if err != nil {
			t.Error(err)
			got <- answer{}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- answer{resp, b}
	}()
	<-started
	h.clock.Advance(2 * time.Minute) // 00:01 on the 15th
	// A request of the new day: admitted, the 15th has spent nothing.
	resp, body := h.post("/v1/chat/completions", chatBody)
	if resp.StatusCode != 200 {
		t.Fatalf("a request of the new day: status %d, body %s", resp.StatusCode, body)
	}
	if _, err := io.WriteString(pw, chatBody); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	a := <-got
	if a.resp == nil {
		t.FailNow()
	}
	wantError(t, a.resp, a.body, 429, "insufficient_quota", "insufficient_quota")
	if !strings.Contains(string(a.body), "used 1000") {
		t.Errorf("refusal %s, want the 14th's 1000 tokens used", a.body)
	}
}

// TestLimiterDayOnlyMovesOn: without a BudgetLedger the proxy counts the
// day itself; a request that started before midnight and reaches its
// hold after a request of the new day (its body sent slowly) is held
// against the new day's count, and does not set the count back to the
// old day, which would forget what the new day spent.
func TestLimiterDayOnlyMovesOn(t *testing.T) {
	before := time.Date(2026, 12, 14, 23, 59, 50, 0, time.UTC)
	after := before.Add(time.Minute)
	l := newLimiter(Limits{DailyTokens: 1000, DailyUSD: 5}, 0, before)
	l.spend(after, 1000, 0, 2, 0) // the 15th's spend
	admit := func(s Spend) bool { return s.Tokens < 1000 }
	for _, now := range []time.Time{before, after} {
		if ok, s := l.hold(now, 10, 0, admit); ok || s.Tokens != 1000 || s.DayUSD != 2 {
			t.Errorf("held at %s: admitted %v, %+v; want the 15th's 1000 tokens and $2 seen, refused", now.Format(time.TimeOnly), ok, s)
		}
	}
}

// failingAppends is a FileLedger whose appends fail while fail is set:
// a full disk, where appending to the month file fails while
// usage-held.json, rewritten in place, still takes its bytes (a full
// disk cannot be made here).
type failingAppends struct {
	*FileLedger
	fail  atomic.Bool
	tried atomic.Int32 // records handed to AppendAll
}

func (f *failingAppends) AppendAll(rs []Record) error {
	f.tried.Add(int32(len(rs)))
	if f.fail.Load() {
		return errors.New("usage ledger: write " + MonthFile(rs[0].Time) + ": no space left on device")
	}
	return f.FileLedger.AppendAll(rs)
}

func (f *failingAppends) Append(r Record) error { return f.AppendAll([]Record{r}) }

// handed waits until n records were handed to the ledger (a request's
// record is queued as its handler returns, after its answer was sent).
func (f *failingAppends) handed(t *testing.T, p *Proxy, n int32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); f.tried.Load() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d records handed to the ledger, want %d", f.tried.Load(), n)
		}
		p.Wait()
	}
}

// TestBudgetLedgerUnwritable: while the ledger cannot be written, the
// requests' usage is lost to the budgets, so budgeted requests are
// refused (503 ledger_unavailable) rather than let in uncounted; once a
// write succeeds they are admitted again.
func TestBudgetLedgerUnwritable(t *testing.T) {
	dir := t.TempDir()
	var fl *failingAppends
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) { chatJSON(w, 10, 20) }, func(c *Config) {
		c.Limits.DailyTokens = 1_000_000
		fl = &failingAppends{FileLedger: &FileLedger{Dir: dir, Now: c.Now}}
		c.Ledger = fl
	})
	t.Cleanup(func() { h.p.Wait(); fl.Close() })
	fl.fail.Store(true)
	if resp, body := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("first request: status %d, body %s", resp.StatusCode, body)
	}
	fl.handed(t, h.p, 1) // its record could not be written
	resp, body := h.post("/v1/chat/completions", chatBody)
	wantError(t, resp, body, 503, "server_error", "ledger_unavailable")
	if !strings.Contains(string(body), "cannot be written") {
		t.Errorf("refusal %s", body)
	}
	fl.fail.Store(false)
	fl.handed(t, h.p, 2) // the refusal's record is written
	if resp, body := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("once the ledger is written again: status %d, body %s", resp.StatusCode, body)
	}
}

// TestBudgetHeldFileUnreadable: beside a usage-held.json okv did not
// write (here larger than it writes), a budgeted request is refused as
// while the ledger cannot be read (503 ledger_unavailable), okv's log
// says which file and what to do, and the file is left as it is.
func TestBudgetHeldFileUnreadable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, heldFile)
	big := append([]byte("{}"), make([]byte, maxLedgerLine)...)
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuf{}
	var fl *FileLedger
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) { chatJSON(w, 10, 20) }, func(c *Config) {
		c.Limits.DailyTokens = 1_000_000
		fl = &FileLedger{Dir: dir, Now: c.Now}
		c.Ledger = fl
		c.ErrorLog = log.New(logs, "", 0)
	})
	t.Cleanup(func() { h.p.Wait(); fl.Close() })
	resp, body := h.post("/v1/chat/completions", chatBody)
	wantError(t, resp, body, 503, "server_error", "ledger_unavailable")
	if l := logs.String(); !strings.Contains(l, path) || !strings.Contains(l, "hint: remove it") {
		t.Errorf("okv's log names neither the file nor the cure: %q", l)
	}
	h.p.Wait()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, big) {
		t.Fatalf("%s was written over (%d bytes)", heldFile, len(got))
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if resp, body := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("once %s is removed: status %d, body %s", heldFile, resp.StatusCode, body)
	}
}
