package proxy

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Summary aggregates the records sharing one key (a UTC day "2006-01-02",
// a model, a profile, or "total").
type Summary struct {
	Key              string  `json:"key"`
	Requests         int     `json:"requests"`
	Errors           int     `json:"errors"`  // status ≥ 400 (refusals included)
	Refused          int     `json:"refused"` // refused by the proxy itself
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	TotalTokens      int64   `json:"total_tokens"`
	P50MS            float64 `json:"p50_ms"` // latency of requests that reached the upstream
	P99MS            float64 `json:"p99_ms"`
}

// Summarize groups the records at or after since (all when since is zero)
// by "day" (UTC), "model" (an empty model is "-"), "provider", "profile", or "" (one
// "total" row). Rows are sorted by key. Latency percentiles (nearest rank)
// leave out requests the proxy refused, which never waited on the upstream.
func Summarize(records []Record, since time.Time, by string) ([]Summary, error) {
	var keyOf func(Record) string
	switch by {
	case "day":
		keyOf = func(r Record) string { return r.Time.UTC().Format(time.DateOnly) }
	case "model":
		keyOf = func(r Record) string {
			if r.Model == "" {
				return "-"
			}
			return r.Model
		}
	case "profile":
		keyOf = func(r Record) string { return r.Profile }
	case "provider":
		// Records of okv versions before other providers are OpenAI's.
		keyOf = func(r Record) string {
			if r.Provider == "" {
				return "openai"
			}
			return r.Provider
		}
	case "", "total":
		keyOf = func(Record) string { return "total" }
	default:
		return nil, fmt.Errorf("cannot group usage by %q: use day, model, provider or profile", by)
	}
	rows := map[string]*Summary{}
	lat := map[string][]float64{}
	for _, r := range records {
		if !since.IsZero() && r.Time.Before(since) {
			continue
		}
		k := keyOf(r)
		s := rows[k]
		if s == nil {
			s = &Summary{Key: k}
			rows[k] = s
		}
		s.Requests++
		if r.Status >= 400 || r.Status == 0 {
			s.Errors++
		}
		if r.Refused != "" {
			s.Refused++
		} else {
			lat[k] = append(lat[k], r.LatencyMS)
		}
		s.PromptTokens += r.PromptTokens
		s.CompletionTokens += r.CompletionTokens
		s.TotalTokens += r.TotalTokens
	}
	out := make([]Summary, 0, len(rows))
	for k, s := range rows {
		if l := lat[k]; len(l) > 0 {
			sort.Float64s(l)
			s.P50MS = percentile(l, 50)
			s.P99MS = percentile(l, 99)
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}
