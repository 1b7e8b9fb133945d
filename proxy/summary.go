package proxy

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/okvault/okv/prices"
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
	// CostUSD is the dollars of the requests whose price is known: the
	// cost each record carries (its price when it was made), else its
	// tokens at the price in effect on its day. Requests of a model with
	// no known price are counted apart, never as $0.
	CostUSD          float64  `json:"cost_usd"`
	UnpricedRequests int      `json:"unpriced_requests,omitempty"`
	UnpricedTokens   int64    `json:"unpriced_tokens,omitempty"`
	UnpricedModels   []string `json:"unpriced_models,omitempty"` // "provider/model", sorted
}

// Unpriced says whether some of the row's tokens have no known price.
func (s Summary) Unpriced() bool { return s.UnpricedRequests > 0 }

// RecordCost is the dollars of r: the cost it carries, else its tokens at
// price's price on its day; ok is false when neither is known. A request
// that used no tokens cost nothing.
func RecordCost(r Record, price prices.Func) (usd float64, ok bool) {
	if r.CostUSD != nil {
		return *r.CostUSD, true
	}
	if r.TotalTokens == 0 && r.PromptTokens == 0 && r.CompletionTokens == 0 {
		return 0, true
	}
	if price == nil || r.Model == "" {
		return 0, false
	}
	p, ok := price(r.Provider, r.Model, r.Time)
	if !ok {
		return 0, false
	}
	return p.Cost(r.PromptTokens, r.CacheReadTokens, r.CacheCreationTokens, r.CompletionTokens), true
}

// Summarize groups the records at or after since (all when since is zero)
// by "day" (UTC), "model" (an empty model is "-"), "provider", "profile", or "" (one
// "total" row). Rows are sorted by key. Latency percentiles (nearest rank)
// leave out requests the proxy refused, which never waited on the upstream.
func Summarize(records []Record, since time.Time, by string) ([]Summary, error) {
	return SummarizePriced(records, since, by, nil)
}

// SummarizePriced is Summarize with costs: records without a cost of
// their own are priced by price (nil: left unpriced).
func SummarizePriced(records []Record, since time.Time, by string, price prices.Func) ([]Summary, error) {
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
	unpriced := map[string]map[string]bool{}
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
		if c, ok := RecordCost(r, price); ok {
			s.CostUSD += c
		} else {
			s.UnpricedRequests++
			s.UnpricedTokens += max(r.TotalTokens, r.PromptTokens+r.CompletionTokens)
			prov, model := r.Provider, r.Model
			if prov == "" {
				prov = "openai"
			}
			if model == "" {
				model = "-"
			}
			if unpriced[k] == nil {
				unpriced[k] = map[string]bool{}
			}
			unpriced[k][prov+"/"+model] = true
		}
	}
	out := make([]Summary, 0, len(rows))
	for k, s := range rows {
		if l := lat[k]; len(l) > 0 {
			sort.Float64s(l)
			s.P50MS = percentile(l, 50)
			s.P99MS = percentile(l, 99)
		}
		for m := range unpriced[k] {
			s.UnpricedModels = append(s.UnpricedModels, m)
		}
		sort.Strings(s.UnpricedModels)
		// Sums of floats: kept to 10⁻¹⁰ $, so a hand-computed table compares.
		s.CostUSD = math.Round(s.CostUSD*1e10) / 1e10
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
