package reconcile

import (
	"reflect"
	"testing"
	"time"

	"github.com/okvault/okv/proxy"
)

func rec(t string, ms float64) proxy.Record {
	tm, err := time.Parse(time.RFC3339, t)
	if err != nil {
		panic(err)
	}
	return proxy.Record{Time: tm, Profile: "prod", Provider: "openai", Method: "POST", Path: "/v1/chat/completions", Status: 200, LatencyMS: ms}
}

func extras(rs []DayResult) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Extra
	}
	return out
}

func TestCompare(t *testing.T) {
	days := []string{"2026-11-29", "2026-11-30", "2026-12-01"}
	models := rec("2026-11-30T10:00:00Z", 10)
	models.Method, models.Path = "GET", "/v1/models"
	refused := rec("2026-11-30T10:00:00Z", 1)
	refused.Refused = "model_not_allowed"
	anthropic := rec("2026-11-30T10:00:00Z", 1)
	anthropic.Provider, anthropic.Path = "anthropic", "/v1/messages"
	legacy := rec("2026-11-30T11:00:00Z", 10)
	legacy.Provider = "" // okv versions that proxied OpenAI only
	responses := rec("2026-11-30T12:00:00Z", 10)
	responses.Path = "/v1/responses"
	failed := rec("2026-11-30T13:00:00Z", 10)
	failed.Status = 500
	realtime := rec("2026-11-30T14:00:00Z", 60000)
	realtime.Method, realtime.Path = "GET", "/v1/realtime"
	batch := rec("2026-11-29T12:00:00Z", 10)
	batch.Path = "/v1/batches"

	for _, tc := range []struct {
		name     string
		provider map[string]Usage
		recs     []proxy.Record
		want     []int64
	}{
		{"nothing", nil, nil, []int64{0, 0, 0}},
		{"failed and realtime requests count", map[string]Usage{"2026-11-30": {Requests: 2}}, []proxy.Record{failed, realtime}, []int64{0, 0, 0}},
		{"okv made more", map[string]Usage{"2026-11-30": {Requests: 1}}, []proxy.Record{legacy, responses}, []int64{0, 0, 0}},
		{"only model requests that reached OpenAI count", map[string]Usage{"2026-11-30": {Requests: 3}},
			[]proxy.Record{models, refused, anthropic, legacy, responses}, []int64{0, 1, 0}},
		{"one leaked request", map[string]Usage{"2026-11-29": {Requests: 1}, "2026-11-30": {Requests: 3}},
			[]proxy.Record{rec("2026-11-29T01:00:00Z", 1), legacy, responses}, []int64{0, 1, 0}},
		{"across midnight, first day", map[string]Usage{"2026-11-30": {Requests: 1}},
			[]proxy.Record{rec("2026-11-30T23:59:59Z", 2000)}, []int64{0, 0, 0}},
		{"across midnight, second day", map[string]Usage{"2026-12-01": {Requests: 1}},
			[]proxy.Record{rec("2026-11-30T23:59:59Z", 2000)}, []int64{0, 0, 0}},
		{"across midnight counts once", map[string]Usage{"2026-11-30": {Requests: 1}, "2026-12-01": {Requests: 1}},
			[]proxy.Record{rec("2026-11-30T23:59:59Z", 2000)}, []int64{0, 0, 1}},
		{"ended before midnight", map[string]Usage{"2026-12-01": {Requests: 1}},
			[]proxy.Record{rec("2026-11-30T23:59:58Z", 1000)}, []int64{0, 0, 1}},
		{"started the day before the first day", map[string]Usage{"2026-11-29": {Requests: 1}},
			[]proxy.Record{rec("2026-11-28T23:59:59Z", 2000)}, []int64{0, 0, 0}},
		// Day 30 needs its own exact request plus the running one that
		// can also count for day 1; day 1 needs the one that can count
		// for day 30 or day 1: earliest deadline first fits both.
		{"running requests are used where they must be", map[string]Usage{"2026-11-30": {Requests: 1}, "2026-12-01": {Requests: 1}},
			[]proxy.Record{rec("2026-11-29T23:59:59Z", 2000), rec("2026-11-30T23:59:59Z", 2000)}, []int64{0, 0, 0}},
		{"batch jobs okv submitted", map[string]Usage{"2026-11-30": {Requests: 0, BatchRequests: 500}},
			[]proxy.Record{batch}, []int64{0, 0, 0}},
		{"batch jobs okv did not submit", map[string]Usage{"2026-12-01": {BatchRequests: 500}},
			[]proxy.Record{batch}, []int64{0, 0, 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := extras(Compare(days, tc.provider, tc.recs))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("extra %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDays(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 1, 0, time.FixedZone("x", -5*3600))
	if got := Days(now, 2); !reflect.DeepEqual(got, []string{"2026-11-30", "2026-12-01"}) {
		t.Errorf("Days = %v", got)
	}
	if got := Days(now, 0); !reflect.DeepEqual(got, []string{"2026-12-01"}) {
		t.Errorf("Days(0) = %v", got)
	}
}
