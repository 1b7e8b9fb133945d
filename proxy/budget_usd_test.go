package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okvault/okv/prices"
)

// testPrices prices gpt-4o-mini at $1,000 per million tokens in and out
// (a tenth of a cent a token, so that a few requests spend dollars), and
// knows no other model.
func testPrices(provider, model string, _ time.Time) (prices.Price, bool) {
	if model != "gpt-4o-mini" && model != "claude-3-5-haiku" {
		return prices.Price{}, false
	}
	return prices.Price{Input: 1000, Output: 1000, Checked: "2026-03-01"}, true
}

// usdBody asks for 400 output tokens: it is held for len(usdBody)+400
// tokens ($0.487); budgetUpstream answers with len(usdBody) prompt and
// 400 completion tokens, the same $0.487.
const usdBody = `{"model":"gpt-4o-mini","max_tokens":400,"messages":[{"role":"user","content":"hello"}]}`

var usdCost = float64(len(usdBody)+400) / 1000

func spentUSD(recs []Record) float64 {
	var s float64
	for _, r := range recs {
		if r.CostUSD != nil {
			s += *r.CostUSD
		}
	}
	return s
}

func usdHarness(t *testing.T, mod func(*Config)) (*harness, *countingLedger) {
	t.Helper()
	release := make(chan struct{})
	close(release)
	var arrived atomic.Int32
	dir := t.TempDir()
	var cl *countingLedger
	h := newHarness(t, budgetUpstream(release, &arrived), func(c *Config) {
		c.Prices = testPrices
		cl = newCountingLedger(&FileLedger{Dir: dir, Now: c.Now})
		t.Cleanup(func() { cl.Close() })
		c.Ledger = cl
		mod(c)
	})
	return h, cl
}

// Sequential requests under daily_usd: admitted while their estimate
// fits in what is left; the one that would cross the budget is refused
// in OpenAI's error shape, naming the budget, the profile and the reset,
// final (x-should-retry: false) with retry-after at midnight UTC.
func TestUSDBudgetRefusesCrossing(t *testing.T) {
	h, cl := usdHarness(t, func(c *Config) { c.Limits.DailyUSD = 1.2 })
	for i := range 2 {
		if resp, body := h.post("/v1/chat/completions", usdBody); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
		}
		cl.wait(i + 1)
	}
	// $0.974 spent, $0.226 left: the third ($0.487) would cross.
	resp, body := h.post("/v1/chat/completions", usdBody)
	wantError(t, resp, body, 429, "insufficient_quota", "insufficient_quota")
	for _, s := range []string{"daily_usd 1.20 of profile dev: $0.97 spent today", "this request may cost $0.4870", "it resets at 2026-03-15T00:00:00Z"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("refusal lacks %q: %s", s, body)
		}
	}
	if resp.Header.Get("X-Should-Retry") != "false" || resp.Header.Get("Retry-After") != "43200" {
		t.Errorf("x-should-retry %q, retry-after %q", resp.Header.Get("X-Should-Retry"), resp.Header.Get("Retry-After"))
	}
	if n := len(h.up.requests()); n != 2 {
		t.Errorf("upstream got %d requests, want 2", n)
	}
	h.p.Wait()
	recs, _ := ReadLedger(cl.Dir, time.Time{}, h.clock.Now())
	if got := spentUSD(recs); got > 1.2 || math.Abs(got-2*usdCost) > 1e-9 {
		t.Errorf("spent $%v, want 2 requests' $%v within $1.20", got, 2*usdCost)
	}
}

// The refusal comes in the provider's own error shape (Anthropic's here),
// once the ledger holds the day's spend.
func TestUSDBudgetProviderShape(t *testing.T) {
	dir := t.TempDir()
	now := newClock().Now()
	cost := 3.0
	seed := &FileLedger{Dir: dir, Now: func() time.Time { return now }}
	if err := seed.Append(Record{Time: now.Add(-time.Hour), Profile: "dev", Provider: "openai", Model: "gpt-4o-mini", Status: 200, TotalTokens: 3000, CostUSD: &cost}); err != nil {
		t.Fatal(err)
	}
	seed.Close()
	h := newHarness(t, nil, func(c *Config) {
		c.Provider = Anthropic
		c.Prices = testPrices
		c.Limits.DailyUSD = 2.5
		fl := &FileLedger{Dir: dir, Now: c.Now}
		t.Cleanup(func() { fl.Close() })
		c.Ledger = fl
	})
	r := h.req("POST", "/v1/messages", `{"model":"claude-3-5-haiku","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`)
	r.Header.Del("Authorization")
	r.Header.Set("X-Api-Key", h.token)
	resp, body := h.do(r)
	if resp.StatusCode != 429 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" || e.Error.Type == "" ||
		!strings.Contains(e.Error.Message, "daily_usd 2.50 of profile dev spent: $3.00 today") {
		t.Errorf("not Anthropic's shape or message: %s (%v)", body, err)
	}
	if len(h.up.requests()) != 0 {
		t.Error("the upstream got the request")
	}
}

// A model with no known price cannot be held against a dollar budget:
// refused, with how to set its price; without a dollar budget it passes.
func TestUSDBudgetUnknownPrice(t *testing.T) {
	body := `{"model":"gpt-unknown","messages":[{"role":"user","content":"hi"}]}`
	for _, withPrices := range []bool{true, false} {
		h, _ := usdHarness(t, func(c *Config) {
			c.Limits.MonthlyUSD = 100
			if !withPrices {
				c.Prices = nil
			}
		})
		resp, b := h.post("/v1/chat/completions", body)
		wantError(t, resp, b, 403, "invalid_request_error", "model_price_unknown")
		if !strings.Contains(string(b), `okv knows no price for model \"gpt-unknown\" of openai`) ||
			!strings.Contains(string(b), "okv price set openai/gpt-unknown input=") || !strings.Contains(string(b), "monthly_usd 100.00") {
			t.Errorf("refusal %s", b)
		}
		if len(h.up.requests()) != 0 {
			t.Error("the upstream got the request")
		}
	}
	h, _ := usdHarness(t, func(c *Config) { c.Limits.DailyTokens = 1 << 40 })
	if resp, b := h.post("/v1/chat/completions", body); resp.StatusCode != 200 {
		t.Errorf("no dollar budget: %d %s", resp.StatusCode, b)
	}
}

// The day's budget resets at 00:00 UTC, the month's on the 1st at 00:00
// UTC (the clock injected).
func TestUSDBudgetResets(t *testing.T) {
	h, cl := usdHarness(t, func(c *Config) { c.Limits.DailyUSD = 0.6; c.Limits.MonthlyUSD = 1.2 })
	h.clock.Advance(time.Date(2026, 3, 30, 23, 0, 0, 0, time.UTC).Sub(h.clock.Now()))
	n := 0
	send := func(want int, mention string) {
		t.Helper()
		resp, body := h.post("/v1/chat/completions", usdBody)
		if resp.StatusCode != want || !strings.Contains(string(body), mention) {
			t.Fatalf("at %s: %d %s, want %d with %q", h.clock.Now(), resp.StatusCode, body, want, mention)
		}
		if want == 200 {
			n++
			cl.wait(n)
		}
	}
	send(200, "")
	send(429, "daily_usd 0.60 of profile dev: $0.49 spent today") // $0.487 + $0.487 > $0.60
	h.clock.Advance(59*time.Minute + 59*time.Second)
	send(429, "it resets at 2026-03-31T00:00:00Z") // 23:59:59, still March 30th
	h.clock.Advance(time.Second)
	send(200, "") // March 31st: a new day; the month has $0.974
	h.clock.Advance(24 * time.Hour)
	send(200, "") // April 1st 00:00: a new month and a new day
	h.clock.Advance(time.Hour)
	send(429, "daily_usd 0.60") // April 1st 01:00: the day's budget again
	// A month budget spent before the day's: refused until the 1st.
	h2, cl2 := usdHarness(t, func(c *Config) { c.Limits.DailyUSD = 10; c.Limits.MonthlyUSD = 0.9 })
	h2.clock.Advance(time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC).Sub(h2.clock.Now()))
	if resp, body := h2.post("/v1/chat/completions", usdBody); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	cl2.wait(1)
	h2.clock.Advance(time.Hour)
	resp, body := h2.post("/v1/chat/completions", usdBody)
	wantError(t, resp, body, 429, "insufficient_quota", "insufficient_quota")
	if !strings.Contains(string(body), "monthly_usd 0.90 of profile dev") || !strings.Contains(string(body), "it resets at 2026-04-01T00:00:00Z") {
		t.Errorf("refusal %s", body)
	}
	h2.clock.Advance(time.Hour)
	if resp, body := h2.post("/v1/chat/completions", usdBody); resp.StatusCode != 200 {
		t.Errorf("April 1st: %d %s", resp.StatusCode, body)
	}
	// okv status's view of the ledger.
	cl2.wait(2)
	h2.p.Wait()
	s, err := ProfileSpend(cl2.Dir, "dev", h2.clock.Now())
	if err != nil || math.Abs(s.DayUSD-usdCost) > 1e-9 || math.Abs(s.MonthUSD-usdCost) > 1e-9 || s.Tokens != int64(len(usdBody)+400) {
		t.Errorf("ProfileSpend %+v %v", s, err)
	}
}

// warn_usd prints one line on okv's stderr when the day's spend passes
// it, once a day.
func TestUSDWarnOnce(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	h, cl := usdHarness(t, func(c *Config) {
		c.Limits.WarnUSD = 0.9
		c.Notice = log.New(writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(b) }), "", 0)
	})
	lines := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return strings.FieldsFunc(buf.String(), func(r rune) bool { return r == '\n' })
	}
	for i := range 4 {
		if resp, body := h.post("/v1/chat/completions", usdBody); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		cl.wait(i + 1)
		if i == 0 && len(lines()) != 0 {
			t.Fatalf("warned under the threshold: %q", lines())
		}
	}
	want := fmt.Sprintf("okv: warning: profile dev spent $%.2f today, past warn_usd 0.90", 2*usdCost)
	if got := lines(); len(got) != 1 || got[0] != want {
		t.Fatalf("warnings %q, want [%q]", got, want)
	}
	h.clock.Advance(24 * time.Hour) // a new day: a new crossing warns again
	for i := range 2 {
		h.post("/v1/chat/completions", usdBody)
		cl.wait(5 + i)
	}
	if got := lines(); len(got) != 2 {
		t.Errorf("warnings %q, want one per day", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// max_output_tokens refuses a request asking for more, and is the hold
// of one that asks for no maximum.
func TestMaxOutputTokens(t *testing.T) {
	h, _ := usdHarness(t, func(c *Config) { c.Limits.MaxOutputTokens = 300; c.Limits.DailyUSD = 0.5 })
	resp, body := h.post("/v1/chat/completions", usdBody) // max_tokens 400
	wantError(t, resp, body, 400, "invalid_request_error", "max_output_tokens_exceeded")
	if !strings.Contains(string(body), `up to 400 output tokens, more than profile \"dev\"'s max_output_tokens of 300`) {
		t.Errorf("refusal %s", body)
	}
	// No maximum: held for 300 output tokens ($0.36 with the body), which
	// fits in $0.50; the default 4,096 would not.
	if resp, body := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Errorf("no max_tokens: %d %s", resp.StatusCode, body)
	}
}

const usdHelperEnv = "OKV_PROXY_USD_HELPER"

// TestUSDProxyHelperProcess is not a test: TestUSDBudgetAcrossProcesses
// runs the test binary again with it, as another okv process: a proxy
// on the shared vault folder, until its stdin closes.
func TestUSDProxyHelperProcess(t *testing.T) {
	spec := os.Getenv(usdHelperEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	var cfg struct{ Dir, Upstream, Token string }
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return newClock().Now() }
	fl := &FileLedger{Dir: cfg.Dir, Now: now}
	up, _ := url.Parse(cfg.Upstream)
	p, err := New(Config{Profile: "dev", Upstream: up, APIKey: testKey, Token: cfg.Token, Ledger: fl,
		Prices: testPrices, Limits: Limits{DailyUSD: 2}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(l)
	fmt.Println(l.Addr().String())
	io.Copy(io.Discard, os.Stdin)
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	os.Exit(0)
}

// Two okv processes on one vault folder share daily_usd through the
// ledger: the holds of one are counted by the other, so together they
// admit only what fits in the budget, refuse the rest while it is held,
// and refuse everything once it is spent.
func TestUSDBudgetAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	var arrived atomic.Int32
	up := newUpstream(t, budgetUpstream(release, &arrived))
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(map[string]string{"Dir": dir, "Upstream": up.srv.URL, "Token": tok})
	var addrs []string
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUSDProxyHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), usdHelperEnv+"="+string(spec))
		cmd.Stderr = os.Stderr
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("helper: %v", err)
			}
		})
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, strings.TrimSpace(line))
	}
	send := func(i int) (int, string) {
		r, _ := http.NewRequest("POST", "http://"+addrs[i%2]+"/v1/chat/completions", strings.NewReader(usdBody))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// 12 at once, $0.487 each: 4 fit in $2.00 ($1.948), the other 8 are
	// refused while those 4 are held (the upstream holds its answers).
	var refused sync.WaitGroup
	refused.Add(8)
	releaseAfter(&refused, release)
	st := parallel(t, 12, func(i int) int {
		code, body := send(i)
		if code == 429 {
			if !strings.Contains(body, "held by requests in flight") {
				t.Errorf("refusal %s", body)
			}
			refused.Done()
		}
		return code
	})
	if count(st, 200) != 4 || count(st, 429) != 8 || arrived.Load() != 4 {
		t.Fatalf("statuses %v, upstream got %d", st, arrived.Load())
	}
	// Spent: both processes refuse, as final.
	for i := range 2 {
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, body := send(i)
			if code == 429 && strings.Contains(body, "daily_usd 2.00 of profile dev: $1.95 spent today") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d: %d %s", i+1, code, body)
			}
			time.Sleep(20 * time.Millisecond) // the other's records on their way
		}
	}
	if arrived.Load() != 4 {
		t.Errorf("upstream got %d requests", arrived.Load())
	}
	recs, err := ReadLedger(dir, time.Time{}, newClock().Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := spentUSD(recs); got > 2 || math.Abs(got-4*usdCost) > 1e-9 {
		t.Errorf("the ledger's spend $%v, want 4 requests' $%v within $2.00", got, 4*usdCost)
	}
}

// Each provider's output maximum is read where its API puts it, for the
// estimate and for max_output_tokens.
func TestMaxOutputPerProvider(t *testing.T) {
	for _, c := range []struct {
		pv   *Provider
		body string
		want int64
	}{
		{OpenAI, `{"model":"m","max_completion_tokens":300,"n":2}`, 600},
		{Groq, `{"model":"m","max_tokens":70}`, 70},
		{AzureOpenAI, `{"max_tokens":80}`, 80},
		{Anthropic, `{"model":"claude-3-5-haiku","max_tokens":1024,"messages":[]}`, 1024},
		{Gemini, `{"contents":[],"generationConfig":{"maxOutputTokens":500,"candidateCount":3}}`, 1500},
		{Gemini, `{"contents":[]}`, 0},
	} {
		if c.pv.MaxOutput == nil {
			t.Errorf("%s reads no output maximum", c.pv.Name)
			continue
		}
		if got := c.pv.MaxOutput(httptest.NewRequest("POST", "/v1/x", nil), []byte(c.body)); got != c.want {
			t.Errorf("%s %s: %d, want %d", c.pv.Name, c.body, got, c.want)
		}
	}
}
