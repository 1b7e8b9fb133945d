package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLedgerFileHasNoSecrets(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "usage-2026-03.jsonl") // the harness's clock says March 2026
	fl := &FileLedger{Dir: dir}
	defer fl.Close()
	const marker = "BODY-CONTENT-MARKER-4711"
	const wrong = "okv-WRONGTOKENwrongtokenWRONGTOKENwrongtoken0"
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream-Secret", marker)
		io.WriteString(w, `{"choices":[{"message":{"content":"`+marker+`"}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`)
	}, func(c *Config) { c.Ledger = fl })

	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + marker + `"}]}`
	if resp, _ := h.post("/v1/chat/completions", body); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	r := h.req("POST", "/v1/chat/completions", body)
	r.Header.Set("Authorization", "Bearer "+wrong)
	if resp, _ := h.do(r); resp.StatusCode != 401 {
		t.Fatal(resp.StatusCode)
	}
	if resp, _ := h.do(h.req("GET", "/v1/models?k="+h.token, "")); resp.StatusCode != 400 {
		t.Fatal(resp.StatusCode)
	}
	if resp, _ := h.do(h.req("GET", "/v1/"+h.token, "")); resp.StatusCode != 400 {
		t.Fatal(resp.StatusCode)
	}
	r = h.req("POST", "/v1/chat/completions", `{"model":"`+marker+`x`+strings.Repeat("y", 300)+`"}`)
	h.do(r)
	// Shutdown waits for the handlers, and so for their records.
	if err := h.p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"key": testKey, "token": h.token, "wrong token": wrong, "body": marker + `"`, "response": "choices"} {
		if strings.Contains(string(data), s) {
			t.Errorf("ledger holds the %s", name)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("ledger mode %v, %v", st.Mode(), err)
	}
	recs, err := ReadLedgerFile(path)
	if err != nil || len(recs) != 5 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	// Records are appended off the request path, so their order in the
	// file need not be the order of the requests.
	var ok200, ok401 bool
	for _, r := range recs {
		switch {
		case r.Status == 200 && r.TotalTokens == 5 && r.Model == "gpt-4o-mini":
			ok200 = true
		case r.Status == 401:
			ok401 = true
		}
		if len(r.Model) > 128 {
			t.Errorf("model not clipped: %d", len(r.Model))
		}
	}
	if !ok200 || !ok401 {
		t.Errorf("records %+v", recs)
	}
}

const helperEnv = "OKV_PROXY_LEDGER_HELPER"

// TestLedgerHelperProcess is not a test: TestFileLedgerConcurrent runs the
// test binary again with it to append from another process.
func TestLedgerHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	parts := strings.SplitN(spec, "|", 3)
	n, _ := strconv.Atoi(parts[1])
	fl := &FileLedger{Dir: parts[2]}
	for i := 0; i < n; i++ {
		if err := fl.Append(Record{Time: ledgerTestTime, Profile: parts[0], Path: fmt.Sprintf("/v1/%d", i), Status: 200, TotalTokens: int64(i)}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
	fl.Close()
	os.Exit(0)
}

var ledgerTestTime = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestFileLedgerConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "usage-2026-12.jsonl")
	const perProc, goroutines, perG = 400, 8, 100
	var cmds []*exec.Cmd
	for _, name := range []string{"procA", "procB"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLedgerHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d|%s", helperEnv, name, perProc, dir))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	// Two ledgers on the same file in this process, shared by goroutines.
	ledgers := []*FileLedger{{Dir: dir}, {Dir: dir}}
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ledgers[g%2]
			for i := 0; i < perG; i++ {
				if err := l.Append(Record{Time: ledgerTestTime, Profile: fmt.Sprintf("g%d", g), Path: fmt.Sprintf("/v1/%d", i), Status: 200}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, l := range ledgers {
		l.Close()
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	want := 2*perProc + goroutines*perG
	if len(lines) != want {
		t.Fatalf("%d lines, want %d", len(lines), want)
	}
	seen := map[string]bool{}
	for i, line := range lines {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d %q: %v", i+1, line, err)
		}
		k := r.Profile + r.Path
		if seen[k] {
			t.Fatalf("duplicate record %s", k)
		}
		seen[k] = true
	}
	recs, err := ReadLedger(dir, ledgerTestTime.Add(-time.Hour), ledgerTestTime)
	if err != nil || len(recs) != want {
		t.Fatalf("ReadLedger: %d, %v", len(recs), err)
	}
}

func TestReadLedger(t *testing.T) {
	dir := t.TempDir()
	if recs, err := ReadLedgerFile(filepath.Join(dir, "missing.jsonl")); err != nil || recs != nil {
		t.Errorf("missing file: %v %v", recs, err)
	}
	good := `{"time":"2026-03-14T12:00:00Z","profile":"dev","method":"POST","path":"/v1/x","status":200,"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"latency_ms":1.5}`
	p := filepath.Join(dir, "torn.jsonl")
	os.WriteFile(p, []byte(good+"\n\n"+good+"\n"+`{"time":"2026-03-14T12:`), 0o600)
	recs, err := ReadLedgerFile(p)
	if err != nil || len(recs) != 2 || recs[1].TotalTokens != 3 || recs[1].LatencyMS != 1.5 {
		t.Errorf("torn: %+v %v", recs, err)
	}
	p = filepath.Join(dir, "bad.jsonl")
	os.WriteFile(p, []byte(good+"\nnot json\n"+good+"\n"), 0o600)
	if _, err := ReadLedgerFile(p); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("bad line: %v", err)
	}
	p = filepath.Join(dir, "long.jsonl")
	long := `{"path":"/v1/` + strings.Repeat("a", 200000) + `","status":200}`
	os.WriteFile(p, []byte(long+"\n"+good+"\n"), 0o600)
	if recs, err := ReadLedgerFile(p); err != nil || len(recs) != 2 || len(recs[0].Path) != 200004 {
		t.Errorf("long line: %d %v", len(recs), err)
	}
}

func TestRecordJSON(t *testing.T) {
	b, _ := json.Marshal(Record{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Profile: "dev", Method: "POST",
		Path: "/v1/chat/completions", Model: "m", Status: 200, PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3,
		LatencyMS: 4.5, Streamed: true})
	want := `{"time":"2026-01-02T03:04:05Z","profile":"dev","method":"POST","path":"/v1/chat/completions","model":"m","status":200,"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"latency_ms":4.5,"streamed":true}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestSummarize(t *testing.T) {
	day1 := time.Date(2026, 3, 13, 23, 0, 0, 0, time.UTC)
	day2 := day1.Add(2 * time.Hour)
	var recs []Record
	for i := 1; i <= 100; i++ {
		recs = append(recs, Record{Time: day2, Model: "a", Status: 200, PromptTokens: 1, CompletionTokens: 1, TotalTokens: 2, LatencyMS: float64(i)})
	}
	recs = append(recs,
		Record{Time: day1, Model: "b", Status: 500, TotalTokens: 0, LatencyMS: 7},
		Record{Time: day1, Model: "", Status: 429, Refused: "rate_limit_exceeded", LatencyMS: 0.01},
	)
	by, err := Summarize(recs, time.Time{}, "day")
	if err != nil || len(by) != 2 {
		t.Fatalf("%+v %v", by, err)
	}
	if by[0].Key != "2026-03-13" || by[0].Requests != 2 || by[0].Errors != 2 || by[0].Refused != 1 || by[0].P50MS != 7 {
		t.Errorf("day 1 %+v", by[0])
	}
	if by[1].Key != "2026-03-14" || by[1].Requests != 100 || by[1].TotalTokens != 200 || by[1].P50MS != 50 || by[1].P99MS != 99 {
		t.Errorf("day 2 %+v", by[1])
	}
	by, _ = Summarize(recs, time.Time{}, "model")
	if len(by) != 3 || by[0].Key != "-" || by[1].Key != "a" || by[2].Key != "b" {
		t.Errorf("by model %+v", by)
	}
	by, _ = Summarize(recs, day2, "")
	if len(by) != 1 || by[0].Key != "total" || by[0].Requests != 100 {
		t.Errorf("since %+v", by)
	}
	if _, err := Summarize(recs, time.Time{}, "week"); err == nil {
		t.Errorf("unknown grouping accepted")
	}
}

// ledgerFixture writes n records of requests that finished from start up
// to end, as proxies append them: in the order they finished, each to the
// month file of its start. Most requests last under a second; every 500th
// one is a stream of up to 20 minutes, so records of one day are appended
// after records of the next, across the day's and the month's end. It
// returns what the daily budget of profile must be seeded with at end,
// and whether a record of the day before end's day follows one of that day.
func ledgerFixture(t testing.TB, dir string, n int, start, end time.Time, profile string) (int64, bool) {
	t.Helper()
	step := end.Sub(start) / time.Duration(n)
	u := end.UTC()
	dayStart := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	var want int64
	crossed := false // a record of the day before follows one of the day
	recs := make([]Record, 0, n)
	for i := 0; i < n; i++ {
		finished := start.Add(time.Duration(i) * step)
		lat := time.Duration(i%997) * time.Millisecond
		if i%500 == 0 {
			lat = time.Duration(i%1200) * time.Second
		}
		if !crossed && !finished.Before(dayStart.Add(time.Minute)) {
			lat = 10 * time.Minute // surely one stream over the day's start
		}
		r := Record{Time: finished.Add(-lat).UTC(), Profile: []string{"dev", "prod", "ci"}[i%3], Method: "POST",
			Path: "/v1/chat/completions", Model: "gpt-4o-mini", Status: 200, PromptTokens: int64(i % 50),
			CompletionTokens: int64(i % 70), LatencyMS: float64(lat.Microseconds()) / 1e3}
		r.TotalTokens = r.PromptTokens + r.CompletionTokens
		if r.Time.Before(dayStart) && len(recs) > 0 && !recs[len(recs)-1].Time.Before(dayStart) {
			crossed = true
		}
		recs = append(recs, r)
		if r.Profile == profile && !r.Time.Before(dayStart) {
			want += r.TotalTokens
		}
	}
	// The ledger's clock: the time the batch's last request finished.
	var clock time.Time
	l := &FileLedger{Dir: dir, Now: func() time.Time { return clock }}
	defer l.Close()
	for i := 0; i < len(recs); i += 1000 {
		clock = start.Add(time.Duration(min(i+1000, len(recs))-1) * step)
		if err := l.AppendAll(recs[i:min(i+1000, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	return want, crossed
}

// TestTokensUsedFixture: 200,000 records across a month's end (and so a
// UTC day's end) and, in a second ledger, across a day's end inside a
// month seed the daily budget with exactly the day's tokens, late records
// of the day before included in neither.
func TestTokensUsedFixture(t *testing.T) {
	for _, c := range []struct {
		name       string
		start, end time.Time
	}{
		{"month end", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 25, 0, 0, time.UTC)},
		{"day end", time.Date(2026, 12, 9, 6, 0, 0, 0, time.UTC), time.Date(2026, 12, 11, 0, 10, 0, 0, time.UTC)},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			n := 200000
			if raceEnabled {
				n = 20000
			}
			want, crossed := ledgerFixture(t, dir, n, c.start, c.end, "dev")
			if want == 0 || !crossed {
				t.Fatalf("the fixture has no tokens of the last day (%d), or no late record of the day before (%v)", want, crossed)
			}
			got, err := TokensUsed(dir, "dev", c.end)
			if err != nil || got != want {
				t.Errorf("TokensUsed at %s = %d, %v; want %d", c.end, got, err, want)
			}
			// The day totals kept by the appends, and those built from
			// the files' tails when they are missing, agree.
			if err := os.Remove(filepath.Join(dir, "usage-days.json")); err != nil {
				t.Fatal(err)
			}
			if got, err := TokensUsed(dir, "dev", c.end); err != nil || got != want {
				t.Errorf("TokensUsed from the tail at %s = %d, %v; want %d", c.end, got, err, want)
			}
		})
	}
}

// TestLedgerMonthsAndLegacy: okv usage reads only the months it needs,
// and a usage.jsonl of an earlier okv is still read, by okv usage and by
// the daily budget.
func TestLedgerMonthsAndLegacy(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	// An old month that cannot be read: a read of it would fail.
	os.WriteFile(filepath.Join(dir, "usage-2026-09.jsonl"), []byte("not a record\n"), 0o600)
	// Written by an earlier okv, before this one's first append.
	legacy := `{"time":"2026-12-01T08:00:00Z","profile":"dev","method":"POST","path":"/v1/x","status":200,"prompt_tokens":0,"completion_tokens":0,"total_tokens":100,"latency_ms":3}` + "\n"
	os.WriteFile(filepath.Join(dir, "usage.jsonl"), []byte(legacy), 0o600)
	l := &FileLedger{Dir: dir, Now: func() time.Time { return now }}
	defer l.Close()
	if err := l.AppendAll([]Record{
		{Time: now.AddDate(0, 0, -2), Profile: "dev", TotalTokens: 7},    // November
		{Time: now.Add(-time.Hour), Profile: "dev", TotalTokens: 11},     // December, today
		{Time: now.Add(-2 * time.Hour), Profile: "prod", TotalTokens: 5}, // another profile
	}); err != nil {
		t.Fatal(err)
	}

	recs, err := ReadLedger(dir, now.AddDate(0, 0, -7), now)
	if err != nil || len(recs) != 4 {
		t.Fatalf("last 7 days: %d records, %v", len(recs), err)
	}
	if _, err := ReadLedger(dir, now.AddDate(0, -3, 0), now); err == nil {
		t.Errorf("the September file was not read for the last 3 months")
	}
	if got, err := TokensUsed(dir, "dev", now); err != nil || got != 111 {
		t.Errorf("TokensUsed = %d, %v; want 111 (today's, the legacy file's included)", got, err)
	}
	// Without the day totals (lost, or from a month before), the same,
	// built again from the files' tails.
	os.Remove(filepath.Join(dir, "usage-days.json"))
	if got, err := TokensUsed(dir, "dev", now); err != nil || got != 111 {
		t.Errorf("TokensUsed without day totals = %d, %v; want 111", got, err)
	}
	for _, name := range []string{"usage-2026-11.jsonl", "usage-2026-12.jsonl"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, st, err)
		}
	}
}

// BenchmarkTokensUsed is the daily budget's seed at proxy start-up over
// an empty ledger and over 200,000 records: the two should cost about
// the same.
func BenchmarkTokensUsed(b *testing.B) {
	end := time.Date(2026, 12, 14, 10, 0, 0, 0, time.UTC)
	for _, n := range []int{0, 200000} {
		dir := b.TempDir()
		if n > 0 {
			ledgerFixture(b, dir, n, end.AddDate(0, 0, -13), end, "dev")
		}
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := TokensUsed(dir, "dev", end); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHold is one Hold, admitted, while this ledger has 200 other
// holds outstanding (requests in flight, and finished ones whose records
// are not written yet: a proxy at saturation), across two profiles; the
// hold is then dropped, as its record's write would drop it, so the
// count stays at 200.
func BenchmarkHold(b *testing.B) {
	now := ledgerTestTime
	l := &FileLedger{Dir: b.TempDir(), Now: func() time.Time { return now }}
	defer l.Close()
	admit := func(Spend) bool { return true }
	for i := range 200 {
		if _, _, err := l.Hold([]string{"dev", "prod"}[i%2], now, 5000, 0.01, nil, admit); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		id, _, err := l.Hold("dev", now, 5000, 0.01, nil, admit)
		if err != nil || id == 0 {
			b.Fatal(id, err)
		}
		l.mu.Lock()
		l.release([]Record{{Hold: id}})
		l.mu.Unlock()
	}
}

// A running FileLedger keeps its day totals in memory between locks, and
// still sees what others do to the files: lines appended by another
// writer are counted, a last line rewritten in place (same size) is a
// verdict, a reset (a new usage-days.json) is read, and a replaced month
// file is read again.
func TestFileLedgerSeesOtherWriters(t *testing.T) {
	dir := t.TempDir()
	now := ledgerTestTime
	clock := func() time.Time { return now }
	l := &FileLedger{Dir: dir, Now: clock}
	defer l.Close()
	admit := func(Spend) bool { return true }
	if err := l.AppendAll([]Record{{Time: now, Profile: "dev", TotalTokens: 10}, {Time: now, Profile: "dev", TotalTokens: 20}}); err != nil {
		t.Fatal(err)
	}
	// Another process appends.
	other := &FileLedger{Dir: dir, Now: clock}
	if err := other.Append(Record{Time: now, Profile: "dev", TotalTokens: 5}); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, s, err := l.Hold("dev", now, 1, 0, nil, admit); err != nil || s.Tokens != 35 {
		t.Fatalf("after another's append: %+v %v", s, err)
	}
	// The last line rewritten in place, same size, fewer tokens.
	month := filepath.Join(dir, MonthFile(now))
	b, _ := os.ReadFile(month)
	edited := strings.Replace(string(b), `"total_tokens":5,`, `"total_tokens":0,`, 1)
	if edited == string(b) {
		t.Fatalf("ledger %s", b)
	}
	if err := os.WriteFile(month, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := l.Hold("dev", now, 1, 0, nil, admit)
	var te *ErrLedgerTampered
	if !errors.As(err, &te) || !strings.Contains(te.Why, "rewritten") {
		t.Fatalf("after a rewrite: %v", err)
	}
	// The user's reset is read by the running ledger.
	if err := ResetLedger(dir, now); err != nil {
		t.Fatal(err)
	}
	if _, s, err := l.Hold("dev", now, 1, 0, nil, admit); err != nil || s.Tokens != 30 {
		t.Fatalf("after the reset: %+v %v", s, err)
	}
	// A month file replaced by another (a new inode) is read again: with
	// the same lines, it counts the same.
	b, _ = os.ReadFile(month)
	tmp := month + ".new"
	os.WriteFile(tmp, b, 0o600)
	if err := os.Rename(tmp, month); err != nil {
		t.Fatal(err)
	}
	if _, s, err := l.Hold("dev", now, 1, 0, nil, admit); err != nil || s.Tokens != 30 {
		t.Fatalf("after a replacement: %+v %v", s, err)
	}
}

// An earlier okv (no dollars in its day totals) still running beside
// this one: its usage-days.json is read for its verdict, and this
// ledger's totals, dollars and month included, go on from the month file.
func TestFileLedgerBesideEarlierOkv(t *testing.T) {
	dir := t.TempDir()
	now := ledgerTestTime
	clock := func() time.Time { return now }
	cost := 0.25
	l := &FileLedger{Dir: dir, Now: clock}
	defer l.Close()
	if err := l.Append(Record{Time: now, Profile: "dev", TotalTokens: 10, CostUSD: &cost}); err != nil {
		t.Fatal(err)
	}
	// The earlier okv appends a line (chained, no cost) and writes its
	// day totals, without v, dollars or the month.
	month := filepath.Join(dir, MonthFile(now))
	b, _ := os.ReadFile(month)
	line, _ := json.Marshal(Record{Time: now, Profile: "dev", TotalTokens: 5, Prev: lineHash(bytes.TrimSuffix(b, []byte("\n")))})
	f, _ := os.OpenFile(month, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(append(line, '\n'))
	f.Close()
	old, _ := json.Marshal(map[string]any{"file": MonthFile(now), "offset": len(b) + len(line) + 1, "days": map[string]any{dayKey(now): map[string]int64{"dev": 15}}, "head": lineHash(line)})
	if err := os.WriteFile(filepath.Join(dir, daysFile), old, 0o600); err != nil {
		t.Fatal(err)
	}
	_, s, err := l.Hold("dev", now, 1, 0, nil, func(Spend) bool { return true })
	if err != nil || s.Tokens != 15 || s.DayUSD != 0.25 || s.MonthUSD != 0.25 || s.MonthTokens != 15 {
		t.Fatalf("beside an earlier okv: %+v %v", s, err)
	}
	// Its verdict is taken.
	old, _ = json.Marshal(map[string]any{"file": MonthFile(now), "offset": len(b) + len(line) + 1, "days": map[string]any{}, "head": lineHash(line), "tampered": "usage-2026-12.jsonl was truncated"})
	os.WriteFile(filepath.Join(dir, daysFile+".tmp"), old, 0o600)
	os.Rename(filepath.Join(dir, daysFile+".tmp"), filepath.Join(dir, daysFile))
	var te *ErrLedgerTampered
	if _, _, err := l.Hold("dev", now, 1, 0, nil, func(Spend) bool { return true }); !errors.As(err, &te) || !strings.Contains(te.Why, "truncated") {
		t.Errorf("the earlier okv's verdict: %v", err)
	}
}

// TestHoldCountsUnwrittenRecords: records of finished requests that the
// appender has not written yet (Hold's done) count with their real usage
// in place of their holds, tokens and dollars, so a request's admission
// never waits for the previous request's record to be written; Hold
// writes nothing of them, and other processes see their holds (the
// estimates) until AppendAll writes them and drops the holds.
func TestHoldCountsUnwrittenRecords(t *testing.T) {
	dir := t.TempDir()
	now := ledgerTestTime
	clock := func() time.Time { return now }
	l := &FileLedger{Dir: dir, Now: clock}
	defer l.Close()
	other := &FileLedger{Dir: dir, Now: clock}
	defer other.Close()
	var seen Spend
	admit := func(s Spend) bool { seen = s; return true }
	id, _, err := l.Hold("dev", now, 100, 0.5, nil, admit)
	if err != nil || id == 0 {
		t.Fatal(id, err)
	}
	cost := 2.25
	done := []Record{
		{Time: now, Profile: "dev", TotalTokens: 700, CostUSD: &cost, Hold: id},
		{Time: now, Profile: "prod", TotalTokens: 40}, // another profile's
	}
	if _, _, err := l.Hold("dev", now, 10, 0.1, done, admit); err != nil {
		t.Fatal(err)
	}
	if seen.Tokens != 700 || seen.HeldTokens != 0 || seen.DayUSD != 2.25 || seen.MonthUSD != 2.25 || seen.HeldUSD != 0 || seen.MonthTokens != 700 {
		t.Fatalf("this process, before the records are written: %+v, want 700 tokens and $2.25 spent, nothing of them held", seen)
	}
	if b, err := os.ReadFile(filepath.Join(dir, MonthFile(now))); err == nil && len(b) > 0 {
		t.Fatalf("Hold wrote the finished requests' records:\n%s", b)
	}
	// Another process sees both holds, the first one's estimate
	// included: to it that request is still in flight.
	if _, _, err := other.Hold("dev", now, 1, 0, nil, func(s Spend) bool { seen = s; return false }); err != nil {
		t.Fatal(err)
	}
	if seen.Tokens != 0 || seen.HeldTokens != 110 {
		t.Fatalf("another process, before the records are written: %+v, want 110 tokens held", seen)
	}
	if err := l.AppendAll(done); err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Hold("dev", now, 1, 0, nil, func(s Spend) bool { seen = s; return false }); err != nil {
		t.Fatal(err)
	}
	if seen.Tokens != 700 || seen.HeldTokens != 10 || seen.DayUSD != 2.25 {
		t.Fatalf("another process, after the append: %+v, want 700 tokens and $2.25 spent, 10 held", seen)
	}
	if _, _, err := l.Hold("dev", now, 1, 0, nil, admit); err != nil {
		t.Fatal(err)
	}
	if seen.Tokens != 700 || seen.HeldTokens != 10 {
		t.Fatalf("this process, after the append: %+v", seen)
	}
}

// TestHoldTogether: Holds asked at once are answered in groups, and
// each one's admit sees the holds granted before it in its group: of 60
// requests of 10 tokens against room for 200, exactly 20 are held, by
// this ledger and by another process's seen through usage-held.json.
func TestHoldTogether(t *testing.T) {
	dir := t.TempDir()
	now := ledgerTestTime
	clock := func() time.Time { return now }
	l := &FileLedger{Dir: dir, Now: clock}
	defer l.Close()
	admit := func(s Spend) bool { return s.Tokens+s.HeldTokens+10 <= 200 }
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted int
	)
	start := make(chan struct{})
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			id, _, err := l.Hold("dev", now, 10, 0, nil, admit)
			if err != nil {
				t.Error(err)
			}
			if id != 0 {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if granted != 20 {
		t.Fatalf("%d of 60 holds granted, want 20 (10 tokens each, room for 200)", granted)
	}
	other := &FileLedger{Dir: dir, Now: clock}
	defer other.Close()
	var seen Spend
	if _, _, err := other.Hold("dev", now, 1, 0, nil, func(s Spend) bool { seen = s; return false }); err != nil {
		t.Fatal(err)
	}
	if seen.HeldTokens != 200 {
		t.Fatalf("another process sees %d tokens held, want 200", seen.HeldTokens)
	}
}

// TestHoldLateRequestOfYesterday: a request is held against the UTC day
// it started on (its record's day), so a request that started before
// midnight and reaches its hold after it (its body sent slowly) sees that
// day's spend, even once the ledger moved on to the new day: the day
// spent stays spent. (The day totals once forgot the past days of the
// month as soon as anything was counted after midnight, and such a
// request was held as if its day had spent nothing.)
func TestHoldLateRequestOfYesterday(t *testing.T) {
	for _, started := range []time.Time{
		time.Date(2026, 12, 14, 23, 59, 50, 0, time.UTC),
		time.Date(2026, 11, 30, 23, 59, 50, 0, time.UTC), // the month's last day
	} {
		t.Run(started.Format(time.DateOnly), func(t *testing.T) { holdLateRequest(t, started) })
	}
}

func holdLateRequest(t *testing.T, started time.Time) {
	dir := t.TempDir()
	now := started
	l := &FileLedger{Dir: dir, Now: func() time.Time { return now }}
	defer l.Close()
	cost := 3.0
	if err := l.AppendAll([]Record{{Time: started.Add(-time.Hour), Profile: "dev", TotalTokens: 1000, CostUSD: &cost}}); err != nil {
		t.Fatal(err)
	}
	// After midnight another request of the new day is counted.
	now = started.Add(20 * time.Second)
	if err := l.AppendAll([]Record{{Time: now, Profile: "dev", TotalTokens: 7}}); err != nil {
		t.Fatal(err)
	}
	for _, ledger := range []*FileLedger{l, {Dir: dir, Now: func() time.Time { return now }}} {
		var seen Spend
		if _, _, err := ledger.Hold("dev", started, 10, 0, nil, func(s Spend) bool { seen = s; return false }); err != nil {
			t.Fatal(err)
		}
		if seen.Tokens != 1000 || seen.DayUSD != 3 || seen.MonthUSD != 3 {
			t.Errorf("a request that started before midnight, held after it: %+v, want its day's 1000 tokens and $3 spent", seen)
		}
		if ledger != l {
			ledger.Close()
		}
	}
	// The new day's requests still see the new day only.
	var seen Spend
	if _, _, err := l.Hold("dev", now, 10, 0, nil, func(s Spend) bool { seen = s; return false }); err != nil {
		t.Fatal(err)
	}
	if seen.Tokens != 7 || seen.DayUSD != 0 {
		t.Errorf("a request of the new day: %+v, want 7 tokens and $0 spent", seen)
	}
}

// TestUnwrittenRecordKeepsItsHold: a record that cannot be written (here
// its month's file cannot be opened: a folder stands in its place; in
// life, a full disk) keeps its request's hold, so its estimate goes on
// counting for this process and the others: the spend is counted too high
// while the ledger cannot be written, never too low.
func TestUnwrittenRecordKeepsItsHold(t *testing.T) {
	dir := t.TempDir()
	now := ledgerTestTime
	clock := func() time.Time { return now }
	l := &FileLedger{Dir: dir, Now: clock}
	defer l.Close()
	id, _, err := l.Hold("dev", now, 100, 0, nil, func(Spend) bool { return true })
	if err != nil || id == 0 {
		t.Fatal(id, err)
	}
	// The request started in the month before: its record goes to that
	// month's file.
	started := now.AddDate(0, -1, 0)
	if err := os.Mkdir(filepath.Join(dir, MonthFile(started)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendAll([]Record{{Time: started, Profile: "dev", TotalTokens: 40, Hold: id}}); err == nil {
		t.Fatal("the record was written into a folder")
	}
	var seen Spend
	look := func(s Spend) bool { seen = s; return false }
	if _, _, err := l.Hold("dev", now, 1, 0, nil, look); err != nil || seen.HeldTokens != 100 {
		t.Fatalf("this process after the failed write: %+v %v, want the 100 tokens still held", seen, err)
	}
	other := &FileLedger{Dir: dir, Now: clock}
	defer other.Close()
	if _, _, err := other.Hold("dev", now, 1, 0, nil, look); err != nil || seen.HeldTokens != 100 {
		t.Fatalf("another process after the failed write: %+v %v, want the 100 tokens still held", seen, err)
	}
}

// heldWith is a usage-held.json holding n tokens of profile dev for an
// entry of another ledger of this process (so it is live and counted).
func heldWith(t *testing.T, n int64, now time.Time) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]heldEntry{"other": {PID: os.Getpid(), Held: map[string]int64{"dev": n}, Since: now}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHeldFileUnreadableRefused: a usage-held.json larger than okv
// writes, or that is not JSON, is refused, not read as holding nothing
// (which the next write would make true, dropping other processes'
// holds): no hold is granted, the error names the file and the cure,
// the file is never written over, and once it is removed holds are
// granted again.
func TestHeldFileUnreadableRefused(t *testing.T) {
	now := ledgerTestTime
	big := append(heldWith(t, 500, now), bytes.Repeat([]byte(" "), maxLedgerLine)...) // valid JSON, too large
	for name, content := range map[string][]byte{
		"oversized": big,
		"not JSON":  []byte(`{"other":{"pid":1,"held":{"dev":5`),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, heldFile)
			l := &FileLedger{Dir: dir, Now: func() time.Time { return now }}
			defer l.Close()
			mine, _, err := l.Hold("dev", now, 100, 0, nil, func(Spend) bool { return true })
			if err != nil || mine == 0 {
				t.Fatal(mine, err)
			}
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			id, _, err := l.Hold("dev", now, 100, 0, nil, func(Spend) bool { return true })
			if err == nil || id != 0 {
				t.Fatalf("a hold beside an unreadable %s: id %d, err %v", heldFile, id, err)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "hint: remove it") {
				t.Errorf("error %q names neither the file nor the cure", msg)
			}
			// A raise and a record releasing the first hold write
			// nothing over it either, and say so.
			if err := l.Raise(mine, 200, now); err == nil {
				t.Errorf("Raise beside an unreadable %s: no error", heldFile)
			}
			if err := l.AppendAll([]Record{{Time: now, Profile: "dev", TotalTokens: 7, Hold: mine}}); err == nil {
				t.Errorf("AppendAll released a hold beside an unreadable %s without an error", heldFile)
			}
			l.Close()
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, content) {
				t.Fatalf("%s was written over (%d bytes, was %d): %v", heldFile, len(got), len(content), err)
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if id, _, err := l.Hold("dev", now, 100, 0, nil, func(Spend) bool { return true }); err != nil || id == 0 {
				t.Fatalf("once %s is removed: id %d, err %v", heldFile, id, err)
			}
		})
	}
}

// TestHeldFileCutBeforeTruncate: writeHeld writes in place and then
// truncates; a crash between the two leaves the new holds followed by
// the tail of the old ones. That file is okv's own, read as the new
// holds, not refused.
func TestHeldFileCutBeforeTruncate(t *testing.T) {
	now := ledgerTestTime
	dir := t.TempDir()
	torn := append(heldWith(t, 300, now), []byte(`,"dead":{"pid":1,"held":{"dev":9}}}`)...)
	if err := os.WriteFile(filepath.Join(dir, heldFile), torn, 0o600); err != nil {
		t.Fatal(err)
	}
	l := &FileLedger{Dir: dir, Now: func() time.Time { return now }}
	defer l.Close()
	var seen Spend
	if _, _, err := l.Hold("dev", now, 100, 0, nil, func(s Spend) bool { seen = s; return true }); err != nil {
		t.Fatal(err)
	}
	if seen.HeldTokens != 300 {
		t.Errorf("held %d, want the 300 of the new holds", seen.HeldTokens)
	}
}

// TestHoldSums: the per-profile sums Hold and writeHeld read are what
// this ledger's holds add up to through holds, a raise, refusals and
// releases, and once a profile's last hold is released they are exactly
// 0, not what the dollars' float additions and subtractions leave.
func TestHoldSums(t *testing.T) {
	now := ledgerTestTime
	l := &FileLedger{Dir: t.TempDir(), Now: func() time.Time { return now }}
	defer l.Close()
	check := func(when string) {
		t.Helper()
		want := map[string]holdSum{}
		for _, h := range l.h.mine {
			s := want[h.profile]
			s.count, s.n, s.usd = s.count+1, s.n+h.n, s.usd+h.usd
			want[h.profile] = s
		}
		for p, w := range want {
			g := l.h.sums[p]
			if g.count != w.count || g.n != w.n || math.Abs(g.usd-w.usd) > 1e-9 {
				t.Errorf("%s: sums of %s %+v, holds add up to %+v", when, p, g, w)
			}
		}
		if len(l.h.sums) != len(want) {
			t.Errorf("%s: sums %+v, holds add up to %+v", when, l.h.sums, want)
		}
	}
	var ids []uint64
	for i, usd := range []float64{0.1, 0.2, 0.3} {
		id, _, err := l.Hold("dev", now, int64(100*(i+1)), usd, nil, func(Spend) bool { return true })
		if err != nil || id == 0 {
			t.Fatal(id, err)
		}
		ids = append(ids, id)
	}
	if _, _, err := l.Hold("prod", now, 7, 0.05, nil, func(Spend) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Hold("dev", now, 9, 1, nil, func(Spend) bool { return false }); err != nil {
		t.Fatal(err)
	}
	check("after holds and a refusal")
	if err := l.Raise(ids[1], 1000, now); err != nil {
		t.Fatal(err)
	}
	check("after a raise")
	for i, id := range ids {
		if err := l.AppendAll([]Record{{Time: now, Profile: "dev", TotalTokens: 1, Hold: id}}); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("after release %d", i+1))
	}
	var seen Spend
	if _, _, err := l.Hold("dev", now, 1, 0, nil, func(s Spend) bool { seen = s; return false }); err != nil {
		t.Fatal(err)
	}
	if seen.HeldTokens != 0 || seen.HeldUSD != 0 {
		t.Errorf("every dev hold released: %d tokens and $%g held, want exactly 0", seen.HeldTokens, seen.HeldUSD)
	}
	if _, ok := l.h.sums["prod"]; !ok {
		t.Errorf("prod's hold lost its sum: %+v", l.h.sums)
	}
}
