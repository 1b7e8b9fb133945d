package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/okvault/okv/limits"
)

// window is a queue of timestamped amounts covering the last minute.
type window struct {
	t   []time.Time
	v   []int64
	h   int // index of the oldest live entry
	sum int64
}

func (w *window) len() int { return len(w.t) - w.h }

func (w *window) push(t time.Time, v int64) {
	if w.h > 0 && w.h >= len(w.t)/2 {
		// Compact: the live entries move to the front.
		n := copy(w.t, w.t[w.h:])
		copy(w.v, w.v[w.h:])
		clear(w.t[n:])
		w.t, w.v, w.h = w.t[:n], w.v[:n], 0
	}
	w.t = append(w.t, t)
	w.v = append(w.v, v)
	w.sum += v
}

// prune drops entries at least a minute older than now.
func (w *window) prune(now time.Time) {
	for w.h < len(w.t) && now.Sub(w.t[w.h]) >= time.Minute {
		w.sum -= w.v[w.h]
		w.h++
	}
	if w.h == len(w.t) {
		w.t, w.v, w.h = w.t[:0], w.v[:0], 0
	}
}

// waitBelow is how long until the window's sum drops below limit.
func (w *window) waitBelow(now time.Time, limit int64) time.Duration {
	s := w.sum
	for i := w.h; i < len(w.t); i++ {
		s -= w.v[i]
		if s < limit {
			return w.t[i].Add(time.Minute).Sub(now)
		}
	}
	return time.Minute
}

// limiter enforces rpm, tpm and the daily token budget.
type limiter struct {
	mu     sync.Mutex
	rpm    int
	tpm    int
	daily  int64
	reqs   window // admitted requests, v = 1
	tokens window // tokens of finished responses
	day    int    // yyyymmdd (UTC) that used counts
	used   int64
	held   int64 // tokens held by requests in flight (without a BudgetLedger)
}

// hold is the daily budget of a proxy without a BudgetLedger: the same
// rule, on this process's own counts.
func (l *limiter) hold(now time.Time, n int64, admit func(spent, held int64) bool) (bool, int64, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rollDay(now)
	if !admit(l.used, l.held) {
		return false, l.used, l.held
	}
	l.held += n
	return true, l.used, l.held
}

func dayOf(t time.Time) int {
	y, m, d := t.UTC().Date()
	return y*10000 + int(m)*100 + d
}

func newLimiter(l limits.Limits, usedToday int64, now time.Time) *limiter {
	return &limiter{rpm: l.RPM, tpm: l.TPM, daily: l.DailyTokens, day: dayOf(now), used: usedToday}
}

func (l *limiter) rollDay(now time.Time) {
	if d := dayOf(now); d != l.day {
		l.day, l.used = d, 0
	}
}

// admit checks tpm and rpm, and on success counts the request against
// rpm. (The daily budget is held by hold, after.)
func (l *limiter) admit(now time.Time) *Refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tpm > 0 {
		l.tokens.prune(now)
		if l.tokens.sum >= int64(l.tpm) {
			wait := l.tokens.waitBelow(now, int64(l.tpm))
			return &Refusal{Status: 429, Type: "tokens", Code: "rate_limit_exceeded",
				Msg: fmt.Sprintf("rate limit reached on tokens per min (TPM): limit %d, used %d; please try again in %s",
					l.tpm, l.tokens.sum, roundUp(wait)),
				RetryAfter: wait}
		}
	}
	if l.rpm > 0 {
		l.reqs.prune(now)
		if l.reqs.len() >= l.rpm {
			wait := l.reqs.t[l.reqs.h].Add(time.Minute).Sub(now)
			return &Refusal{Status: 429, Type: "requests", Code: "rate_limit_exceeded",
				Msg: fmt.Sprintf("rate limit reached on requests per min (RPM): limit %d, used %d; please try again in %s",
					l.rpm, l.reqs.len(), roundUp(wait)),
				RetryAfter: wait}
		}
		l.reqs.push(now, 1)
	}
	return nil
}

// spend counts tokens of a finished response, and releases what it held.
func (l *limiter) spend(now time.Time, tokens, held int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held -= held
	if tokens <= 0 {
		return
	}
	if l.daily > 0 {
		l.rollDay(now)
		l.used += tokens
	}
	if l.tpm > 0 {
		l.tokens.prune(now)
		l.tokens.push(now, tokens)
	}
}

func roundUp(d time.Duration) time.Duration {
	if d < time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// DefaultOutputReserve is the output a request is taken to produce at
// admission when it names no maximum (max_tokens and the like).
const DefaultOutputReserve = 4096

// estimate is what a request is held for against the daily budget: its
// body's bytes (no text takes more tokens than bytes) and its output
// maximum as the provider reads it (times the choices asked for), or
// DefaultOutputReserve.
func (p *Proxy) estimate(pv *Provider, body []byte, contentLength int64) int64 {
	in := int64(len(body))
	if body == nil {
		in = max(contentLength, 0)
	}
	out := int64(0)
	if body != nil && pv.MaxOutput != nil {
		out = pv.MaxOutput(body)
	}
	if out <= 0 {
		out = DefaultOutputReserve
	}
	return in + out
}

// holdBudget holds the request's estimate against the daily budget: a
// request is admitted while the day's spend is under the budget, and
// either no other request is in flight or the spend, what requests in
// flight hold and its own estimate fit in the budget. So near its end
// one request runs at a time, and the day's spend passes the budget by
// at most one request's tokens (see the README).
func (p *Proxy) holdBudget(st *reqState, now time.Time) *Refusal {
	daily := p.limits.DailyTokens
	if daily <= 0 {
		return nil
	}
	est := st.est
	admit := func(spent, held int64) bool {
		return spent < daily && (held == 0 || spent+held+est <= daily)
	}
	var spent, held int64
	if p.budget != nil {
		// Records waiting for the appender go first: their usage
		// replaces their holds.
		p.writeMu.Lock()
		p.recMu.Lock()
		done := p.recQ
		p.recQ = nil
		p.recMu.Unlock()
		id, s, h, err := p.budget.Hold(p.cfg.Profile, now, est, done, admit)
		p.writeMu.Unlock()
		p.pending.Add(-len(done))
		var te *ErrLedgerTampered
		if errors.As(err, &te) {
			return &Refusal{Status: 429, Type: "insufficient_quota", Code: "insufficient_quota",
				Msg:     te.Error() + "; the daily budget is taken as spent until the user runs 'okv usage --reset-ledger'",
				NoRetry: true}
		}
		if err != nil {
			p.errLog.Printf("okv proxy: %v", err)
			return &Refusal{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "ledger_unavailable",
				Msg: "the usage ledger cannot be read, so the daily budget cannot be checked"}
		}
		if id != 0 {
			st.rec.Hold = id
			return nil
		}
		spent, held = s, h
	} else {
		ok, s, h := p.lim.hold(now, est, admit)
		if ok {
			st.held = est
			return nil
		}
		spent, held = s, h
	}
	if spent >= daily {
		// No retry-after: an SDK would sleep until midnight.
		return &Refusal{Status: 429, Type: "insufficient_quota", Code: "insufficient_quota",
			Msg: fmt.Sprintf("daily token budget of this profile exhausted: limit %d, used %d; it resets at 00:00 UTC",
				daily, spent),
			NoRetry: true}
	}
	return &Refusal{Status: 429, Type: "tokens", Code: "rate_limit_exceeded",
		Msg: fmt.Sprintf("daily token budget of this profile near its end: limit %d, used %d, %d held by requests in flight, this request may use %d; try again when they finish",
			daily, spent, held, est),
		RetryAfter: time.Second}
}

// over says which of tpm and the daily budget this process has seen
// spent, or "".
func (l *limiter) over(now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.daily > 0 {
		l.rollDay(now)
		if l.used >= l.daily {
			return fmt.Sprintf("daily token budget exhausted (limit %d, used %d)", l.daily, l.used)
		}
	}
	if l.tpm > 0 {
		l.tokens.prune(now)
		if l.tokens.sum >= int64(l.tpm) {
			return fmt.Sprintf("tokens per minute reached (limit %d)", l.tpm)
		}
	}
	return ""
}
