// Package reconcile compares what a provider reports about a key's usage
// with what okv's proxy ledger recorded for it, per UTC day, to find
// requests made with the key behind okv's back.
//
// It owns the arithmetic only: which ledger records count, which day a
// record belongs to, and how many requests are left unexplained. The cmd
// package fetches the provider's report and reads the ledger and the
// audit log.
package reconcile

import (
	"sort"
	"strings"
	"time"

	"github.com/okvault/okv/proxy"
)

// DayFormat is how a UTC day is written.
const DayFormat = "2006-01-02"

// Day is the UTC day of t.
func Day(t time.Time) string { return t.UTC().Format(DayFormat) }

// modelPaths are the endpoints whose requests OpenAI counts in its
// completions usage (num_model_requests). Other requests through the proxy
// (listing models, embeddings, files) are not in that report, so they must
// not make up for requests that are.
var modelPaths = map[string]bool{
	"/v1/chat/completions": true,
	"/v1/completions":      true,
	"/v1/responses":        true,
}

// Counted reports whether r is a request okv made to OpenAI that the
// completions usage report counts: an OpenAI request (records of okv
// versions that proxied OpenAI only have no provider) that reached the
// upstream — the proxy did not refuse it — to a model endpoint, or a
// Realtime session. A request the upstream answered with an error counts
// too: okv cannot know whether OpenAI counted it, and counting it can only
// hide as many requests as failed, never raise a false alarm.
func Counted(r proxy.Record) bool {
	if r.Refused != "" || (r.Provider != "" && r.Provider != "openai") {
		return false
	}
	p := strings.TrimSuffix(r.Path, "/")
	return modelPaths[p] || strings.HasPrefix(p, "/v1/realtime")
}

// batchSubmission reports whether r created a Batch API job: OpenAI
// reports the job's requests as batch usage, which okv's ledger holds as
// this one request.
func batchSubmission(r proxy.Record) bool {
	return r.Refused == "" && (r.Provider == "" || r.Provider == "openai") &&
		r.Method == "POST" && strings.TrimSuffix(r.Path, "/") == "/v1/batches"
}

// Usage is what the provider reported for a key on one day.
type Usage struct {
	Requests      int64 // num_model_requests, batch requests excluded
	BatchRequests int64 // requests of Batch API jobs
}

// DayResult is one key's comparison for one day.
type DayResult struct {
	Day      string
	Provider int64 // requests the provider reported (batch ones included)
	Okv      int64 // requests okv's ledger matched to this day
	// Extra is the provider's requests okv cannot account for.
	Extra int64
	// BatchExplained: the provider's batch requests were left out of
	// Extra because okv submitted a batch job that day or the day before.
	BatchExplained bool
}

// Compare matches a key's ledger records against the provider's report
// for days (ascending UTC days, DayFormat). A record counts for the day
// its request started; a request that was still running at midnight may
// count for any day it ran in, whichever leaves fewer requests
// unexplained. records are the ledger records of the profiles holding
// the key; those that Counted rejects are skipped.
func Compare(days []string, provider map[string]Usage, records []proxy.Record) []DayResult {
	exact := map[string]int64{}
	batches := map[string]bool{}
	type span struct{ from, to string }
	var spans []span
	for _, r := range records {
		if batchSubmission(r) {
			batches[Day(r.Time)] = true
			continue
		}
		if !Counted(r) {
			continue
		}
		from := Day(r.Time)
		to := Day(r.Time.Add(time.Duration(r.LatencyMS * float64(time.Millisecond))))
		if to <= from {
			exact[from]++
			continue
		}
		spans = append(spans, span{from, to})
	}
	// Earliest deadline first: on each day, use the running requests that
	// can count for no later day first. For requests that may each count
	// for a range of days this leaves the fewest unexplained.
	sort.Slice(spans, func(i, j int) bool { return spans[i].from < spans[j].from })
	var pool []span
	next := 0
	out := make([]DayResult, 0, len(days))
	for _, d := range days {
		for next < len(spans) && spans[next].from <= d {
			pool = append(pool, spans[next])
			next++
		}
		kept := pool[:0]
		for _, s := range pool {
			if s.to >= d {
				kept = append(kept, s)
			}
		}
		pool = kept
		sort.SliceStable(pool, func(i, j int) bool { return pool[i].to < pool[j].to })

		u := provider[d]
		res := DayResult{Day: d, Provider: u.Requests + u.BatchRequests, Okv: exact[d]}
		want := u.Requests
		if u.BatchRequests > 0 {
			if batches[d] || batches[prevDay(d)] {
				res.BatchExplained = true
			} else {
				want += u.BatchRequests
			}
		}
		need := want - exact[d]
		for need > 0 && len(pool) > 0 {
			pool = pool[1:]
			res.Okv++
			need--
		}
		if need > 0 {
			res.Extra = need
		}
		out = append(out, res)
	}
	return out
}

func prevDay(d string) string {
	t, err := time.Parse(DayFormat, d)
	if err != nil {
		return ""
	}
	return Day(t.AddDate(0, 0, -1))
}

// Days lists the n UTC days ending with now's, ascending.
func Days(now time.Time, n int) []string {
	if n < 1 {
		n = 1
	}
	today := now.UTC().Truncate(24 * time.Hour)
	out := make([]string, n)
	for i := range n {
		out[i] = Day(today.AddDate(0, 0, i-n+1))
	}
	return out
}
