package proxy

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"
)

// recordCases are records whose encoding takes each of appendRecord's
// paths: plain ASCII, strings encoding/json escapes, omitted and present
// optional fields, floats in both of encoding/json's forms, and times in
// other zones, with nanoseconds and outside years 0–9999.
var recordCases = []Record{
	{},
	{Time: time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC), Profile: "dev", Method: "POST", Path: "/v1/chat/completions",
		Model: "gpt-4o-mini", Status: 200, PromptTokens: 19, CompletionTokens: 21, TotalTokens: 40, LatencyMS: 1.234},
	{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", -7*3600)), Profile: "p\"r\\o<f>&", Method: "GET",
		Path: "/v1/models/caf\u00e9\u2028\x01\x7f", Model: "\xff\xfe bad utf-8", Status: 429, Refused: "rate_limit_exceeded", Streamed: true},
	{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, // json: an error
	{Time: time.Date(5, 1, 2, 3, 4, 5, 600, time.UTC), LatencyMS: 1e-7},
	{Time: time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	{Time: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}, // json: an error
	{LatencyMS: 1e21},
	{LatencyMS: math.Inf(1)}, // json: an error
	{LatencyMS: -0.5, PromptTokens: -1, TotalTokens: math.MaxInt64, Status: -3},
	{LatencyMS: 123456789.000001, Path: "\t\n\r"},
}

// TestAppendRecordMatchesJSON: the ledger writes exactly what json.Marshal
// would, so every reader of usage.jsonl (okv usage, jq, older okv) reads it.
func TestAppendRecordMatchesJSON(t *testing.T) {
	for i, r := range recordCases {
		want, werr := json.Marshal(r)
		got, err := appendRecord([]byte("prefix"), &r)
		if (werr != nil) != (err != nil) {
			t.Fatalf("case %d: json.Marshal error %v, appendRecord error %v", i, werr, err)
		}
		if werr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("case %d:\n got %s\nwant prefix%s", i, got, want)
		}
	}
}

// TestAppendAllRefusesUnencodable: a record json cannot encode fails the
// call and leaves nothing of it in the file, and the ledger goes on.
func TestAppendAllRefusesUnencodable(t *testing.T) {
	l := &FileLedger{Path: filepath.Join(t.TempDir(), "usage.jsonl")}
	defer l.Close()
	if err := l.AppendAll([]Record{{Path: "/v1/a", Status: 200}, {LatencyMS: math.NaN()}}); err == nil {
		t.Fatal("a NaN latency was written")
	}
	if err := l.Append(Record{Path: "/v1/b", Status: 200}); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadLedger(l.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Path != "/v1/b" {
		t.Fatalf("ledger holds %+v, want only /v1/b", recs)
	}
}

func FuzzRecord(f *testing.F) {
	for _, r := range recordCases {
		f.Add(r.Time.UnixNano(), r.Profile, r.Path, r.Model, r.Refused, r.LatencyMS, r.TotalTokens, r.Streamed)
	}
	f.Fuzz(func(t *testing.T, ns int64, profile, path, model, refused string, lat float64, tokens int64, streamed bool) {
		r := Record{Time: time.Unix(0, ns).UTC(), Profile: profile, Method: "POST", Path: path, Model: model,
			Refused: refused, LatencyMS: lat, TotalTokens: tokens, PromptTokens: tokens / 2, Streamed: streamed, Status: 200}
		want, werr := json.Marshal(r)
		got, gerr := appendRecord(nil, &r)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("json.Marshal error %v, appendRecord error %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}
