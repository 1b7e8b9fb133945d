package proxy

import (
	"fmt"
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

// admit checks the daily budget, tpm and rpm, and on success counts the
// request against rpm.
func (l *limiter) admit(now time.Time) *Refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.daily > 0 {
		l.rollDay(now)
		if l.used >= l.daily {
			// No retry-after: an SDK would sleep until midnight.
			return &Refusal{Status: 429, Type: "insufficient_quota", Code: "insufficient_quota",
				Msg: fmt.Sprintf("daily token budget of this profile exhausted: limit %d, used %d; it resets at 00:00 UTC",
					l.daily, l.used),
				NoRetry: true}
		}
	}
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

// spend counts tokens of a finished response.
func (l *limiter) spend(now time.Time, tokens int64) {
	if tokens <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
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
