package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/okvault/okv/limits"
	"github.com/okvault/okv/prices"
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
	// Dollars, without a BudgetLedger: the day's, the month's (UTC,
	// yyyymm), and what requests in flight hold.
	dayUSD   float64
	month    int
	monthUSD float64
	heldUSD  float64
}

// hold is the budgets of a proxy without a BudgetLedger: the same
// rule, on this process's own counts.
func (l *limiter) hold(now time.Time, n int64, usd float64, admit func(Spend) bool) (bool, Spend) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rollDay(now)
	s := Spend{Tokens: l.used, HeldTokens: l.held, DayUSD: l.dayUSD, MonthUSD: l.monthUSD, HeldUSD: l.heldUSD}
	if !admit(s) {
		return false, s
	}
	l.held += n
	l.heldUSD += usd
	return true, s
}

func dayOf(t time.Time) int {
	y, m, d := t.UTC().Date()
	return y*10000 + int(m)*100 + d
}

func newLimiter(l limits.Limits, usedToday int64, now time.Time) *limiter {
	return &limiter{rpm: l.RPM, tpm: l.TPM, daily: l.DailyTokens, day: dayOf(now), month: dayOf(now) / 100, used: usedToday}
}

// rollDay moves the counts on to now's day and month, never back: a
// request that started before midnight may reach its hold after one of
// the new day (its body sent slowly), and going back to its day would
// forget what the new day spent. It is held against the new day's
// counts, where its spend is counted when it finishes.
func (l *limiter) rollDay(now time.Time) {
	if d := dayOf(now); d > l.day {
		l.day, l.used, l.dayUSD = d, 0, 0
	}
	if m := dayOf(now) / 100; m > l.month {
		l.month, l.monthUSD = m, 0
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

// spend counts tokens and dollars of a finished response, and releases
// what it held.
func (l *limiter) spend(now time.Time, tokens, held int64, usd, heldUSD float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held -= held
	l.heldUSD -= heldUSD
	if usd > 0 {
		l.rollDay(now)
		l.dayUSD += usd
		l.monthUSD += usd
	}
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
// admission when it names no maximum (max_tokens and the like) and the
// policy sets no max_output_tokens.
const DefaultOutputReserve = 4096

// estimate is what a request is held for against the budgets: its
// body's bytes (no text takes more tokens than bytes) as input, and its
// output maximum as the provider reads it (times the choices asked
// for), or max_output_tokens, or DefaultOutputReserve. A request asking
// for more output than max_output_tokens is refused.
func (p *Proxy) estimate(r *http.Request, pv *Provider, body []byte, contentLength int64) (in, out int64, e *Refusal) {
	in = int64(len(body))
	if body == nil {
		in = max(contentLength, 0)
	}
	if body != nil && pv.MaxOutput != nil {
		out = pv.MaxOutput(r, body)
	}
	if limit := p.limits.MaxOutputTokens; limit > 0 && out > limit {
		return 0, 0, errInvalidRequest(http.StatusBadRequest, "max_output_tokens_exceeded",
			fmt.Sprintf("the request asks for up to %d output tokens, more than profile %q's max_output_tokens of %d: ask for fewer (max_tokens, max_completion_tokens or max_output_tokens)",
				out, p.cfg.Profile, limit))
	}
	if out <= 0 {
		out = DefaultOutputReserve
		if p.limits.MaxOutputTokens > 0 {
			out = p.limits.MaxOutputTokens
		}
	}
	return in, out, nil
}

// estimateUSD prices a request's estimate for the dollar budgets. A
// model with no known price cannot be held against them: refused, never
// let through unpriced. A request that names no model uses no tokens
// okv can price (a list, a file download) and holds nothing.
func (p *Proxy) estimateUSD(st *reqState, in, out int64, now time.Time) *Refusal {
	if !p.limits.USD() || st.rec.Model == "" {
		return nil
	}
	var pr prices.Price
	ok := false
	if p.cfg.Prices != nil {
		pr, ok = p.cfg.Prices(p.pv.Name, st.rec.Model, now)
	}
	if !ok {
		return &Refusal{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "model_price_unknown",
			Msg: fmt.Sprintf("okv knows no price for model %q of %s, so profile %q's dollar budget (%s) cannot be enforced: set one with 'okv price set %s/%s input=… output=…' (dollars per million tokens)",
				st.rec.Model, p.pv.Name, p.cfg.Profile, p.usdBudgets(), p.pv.Name, st.rec.Model)}
	}
	st.estUSD = pr.Cost(in, 0, 0, out)
	return nil
}

func (p *Proxy) usdBudgets() string {
	var b []string
	if p.limits.DailyUSD > 0 {
		b = append(b, fmt.Sprintf("daily_usd %.2f", p.limits.DailyUSD))
	}
	if p.limits.MonthlyUSD > 0 {
		b = append(b, fmt.Sprintf("monthly_usd %.2f", p.limits.MonthlyUSD))
	}
	return strings.Join(b, ", ")
}

// budgeted reports whether requests hold estimates: a token or dollar
// budget is set, or warn_usd follows the spend.
func budgeted(l Limits) bool { return l.DailyTokens > 0 || l.USD() || l.WarnUSD > 0 }

// holdBudget holds the request's estimate against the budgets.
//
// daily_tokens: a request is admitted while the day's spend is under the
// budget, and either no other request is in flight or the spend, what
// requests in flight hold and its own estimate fit in it. So near its
// end one request runs at a time, and the spend passes the budget by at
// most one request's tokens.
//
// daily_usd and monthly_usd are stricter, as money: a request is
// admitted only when the spend, what requests in flight hold and its own
// estimate fit in the budget. The spend passes a dollar budget only by
// what requests cost beyond their estimates (see the README).
func (p *Proxy) holdBudget(st *reqState, now time.Time) *Refusal {
	lim := p.limits
	if !budgeted(lim) {
		return nil
	}
	est, estUSD := st.est, st.estUSD
	fitsTokens := func(s Spend, inflight bool) bool {
		d := lim.DailyTokens
		return d <= 0 || s.Tokens < d && (!inflight || s.Tokens+s.HeldTokens+est <= d)
	}
	fitsUSD := func(spent, held, limit float64) bool {
		return limit <= 0 || spent < limit && spent+held+estUSD <= limit
	}
	admit := func(s Spend) bool {
		return fitsTokens(s, s.HeldTokens > 0) &&
			fitsUSD(s.DayUSD, s.HeldUSD, lim.DailyUSD) && fitsUSD(s.MonthUSD, s.HeldUSD, lim.MonthlyUSD)
	}
	var s Spend
	if p.budget != nil {
		// Records waiting for the appender count with their real
		// usage in place of their holds; the appender writes them, in
		// a batch, off the requests' path. writeMu keeps it from
		// writing them (and dropping their holds) while Hold counts
		// them: Hold sees them either queued or written, never both.
		// finish only appends to the queue, past done's length. Read
		// locked: Holds asked together are answered together.
		if p.appendFailed.Load() {
			return &Refusal{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "ledger_unavailable",
				Msg: "the usage ledger cannot be written, so the budget cannot be kept"}
		}
		p.writeMu.RLock()
		p.recMu.Lock()
		done := p.recQ
		p.recMu.Unlock()
		id, sp, err := p.budget.Hold(p.cfg.Profile, now, est, estUSD, done, admit)
		p.writeMu.RUnlock()
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
		p.warnSeen(sp.DayUSD, now)
		if id != 0 {
			st.rec.Hold = id
			return nil
		}
		s = sp
	} else {
		ok, sp := p.lim.hold(now, est, estUSD, admit)
		if ok {
			st.held, st.heldUSD = est, estUSD
			return nil
		}
		s = sp
	}
	u := now.UTC()
	tomorrow := time.Date(u.Year(), u.Month(), u.Day()+1, 0, 0, 0, 0, time.UTC)
	nextMonth := time.Date(u.Year(), u.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	if daily := lim.DailyTokens; daily > 0 && s.Tokens >= daily {
		// No retry-after: an SDK would sleep until midnight.
		return &Refusal{Status: 429, Type: "insufficient_quota", Code: "insufficient_quota",
			Msg: fmt.Sprintf("daily token budget of this profile exhausted: limit %d, used %d; it resets at 00:00 UTC",
				daily, s.Tokens),
			NoRetry: true}
	}
	for _, b := range []struct {
		name         string
		limit, spent float64
		when         string
		reset        time.Time
	}{
		{"daily_usd", lim.DailyUSD, s.DayUSD, "today", tomorrow},
		{"monthly_usd", lim.MonthlyUSD, s.MonthUSD, "this month", nextMonth},
	} {
		if fitsUSD(b.spent, s.HeldUSD, b.limit) {
			continue
		}
		reset := fmt.Sprintf("it resets at %s", b.reset.Format(time.RFC3339))
		switch {
		case b.spent >= b.limit:
			return p.usdFinal(fmt.Sprintf("%s %.2f of profile %s spent: $%.2f %s; %s",
				b.name, b.limit, p.cfg.Profile, b.spent, b.when, reset), b.reset, now)
		case s.HeldUSD > 0 && b.spent+estUSD <= b.limit:
			return &Refusal{Status: 429, Type: "tokens", Code: "rate_limit_exceeded",
				Msg: fmt.Sprintf("%s %.2f of profile %s near its end: $%.2f spent %s, $%.2f held by requests in flight, this request may cost $%.4f; try again when they finish",
					b.name, b.limit, p.cfg.Profile, b.spent, b.when, s.HeldUSD, estUSD),
				RetryAfter: time.Second}
		default:
			return p.usdFinal(fmt.Sprintf("%s %.2f of profile %s: $%.2f spent %s, and this request may cost $%.4f, more than the $%.4f left (ask for fewer output tokens); %s",
				b.name, b.limit, p.cfg.Profile, b.spent, b.when, estUSD, b.limit-b.spent, reset), b.reset, now)
		}
	}
	return &Refusal{Status: 429, Type: "tokens", Code: "rate_limit_exceeded",
		Msg: fmt.Sprintf("daily token budget of this profile near its end: limit %d, used %d, %d held by requests in flight, this request may use %d; try again when they finish",
			lim.DailyTokens, s.Tokens, s.HeldTokens, est),
		RetryAfter: time.Second}
}

// usdFinal is the refusal of a dollar budget that this request cannot
// fit in before it resets: final (x-should-retry: false, which the
// official SDKs obey), with retry-after at the reset for clients that
// wait.
func (p *Proxy) usdFinal(msg string, reset, now time.Time) *Refusal {
	return &Refusal{Status: 429, Type: "insufficient_quota", Code: "insufficient_quota",
		Msg: msg, RetryAfter: reset.Sub(now), NoRetry: true}
}

// warnKey: warn_usd warns once per ledger (okv process), profile and
// UTC day.
type warnKey struct {
	ledger  any
	profile string
	day     string
}

var (
	warnMu sync.Mutex
	warned = map[warnKey]bool{}
)

// warnSeen notes the day's dollars as the ledger counts them (all okv
// processes); warnAdd adds a finished request's cost. Past warn_usd,
// one line goes to okv's stderr (Config.Notice), once a day.
func (p *Proxy) warnSeen(dayUSD float64, now time.Time) {
	if p.limits.WarnUSD <= 0 {
		return
	}
	p.warnMu.Lock()
	day := dayKey(now)
	if p.warnDay != day || dayUSD > p.warnUSD {
		p.warnDay, p.warnUSD = day, dayUSD
	}
	v := p.warnUSD
	p.warnMu.Unlock()
	p.warnIf(v, day)
}

func (p *Proxy) warnAdd(cost float64, now time.Time) {
	if p.limits.WarnUSD <= 0 || cost <= 0 {
		return
	}
	p.warnMu.Lock()
	day := dayKey(now)
	if p.warnDay != day {
		p.warnDay, p.warnUSD = day, 0
		if p.budget == nil {
			p.lim.mu.Lock()
			p.lim.rollDay(now)
			p.warnUSD = p.lim.dayUSD - cost
			p.lim.mu.Unlock()
		}
	}
	p.warnUSD += cost
	v := p.warnUSD
	p.warnMu.Unlock()
	p.warnIf(v, day)
}

func (p *Proxy) warnIf(spent float64, day string) {
	if spent < p.limits.WarnUSD {
		return
	}
	var l any = p
	if p.cfg.Ledger != nil {
		l = p.cfg.Ledger
	}
	k := warnKey{l, p.cfg.Profile, day}
	warnMu.Lock()
	done := warned[k]
	warned[k] = true
	warnMu.Unlock()
	if done {
		return
	}
	n := p.cfg.Notice
	if n == nil {
		n = p.errLog
	}
	n.Printf("okv: warning: profile %s spent $%.2f today, past warn_usd %.2f", p.cfg.Profile, spent, p.limits.WarnUSD)
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
