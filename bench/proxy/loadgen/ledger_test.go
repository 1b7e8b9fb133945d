package main

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

const probeRecord = `{"time":"%s","profile":"dev","method":"POST","path":"/v1/chat/completions","model":"gpt-4o-mini","status":200,"prompt_tokens":19,"completion_tokens":21,"total_tokens":40,"latency_ms":0.5}`

// readTimes returns the record times of each ledger file in dir, in file
// order, and fails on a line that is not the probe record with another time.
func readTimes(t *testing.T, dir string) map[string][]time.Time {
	t.Helper()
	out := map[string][]time.Time{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			m := timeField.FindSubmatch(sc.Bytes())
			if m == nil {
				t.Fatalf("%s: no time in %s", f, sc.Bytes())
			}
			if got, want := timeField.ReplaceAllString(sc.Text(), `"time":"%s"`), probeRecord; got != want {
				t.Fatalf("%s: record %s is not a copy of the probe record", f, sc.Text())
			}
			ts, err := time.Parse(time.RFC3339Nano, string(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], ts)
		}
		fh.Close()
	}
	return out
}

func writeProbe(t *testing.T, path string, at time.Time) {
	t.Helper()
	line := strings.Replace(probeRecord, "%s", at.Format(time.RFC3339Nano), 1) + "\n"
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestGrowLedgerMonthFiles(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	writeProbe(t, filepath.Join(dir, "usage-2026-12.jsonl"), now.Add(-time.Minute))
	writeProbe(t, filepath.Join(dir, "audit.jsonl"), now) // not a ledger: left alone
	msg, err := growLedger(dir, dir, 6000, 60, now)
	if err != nil {
		t.Fatal(err)
	}
	got := readTimes(t, dir)
	delete(got, "audit.jsonl")
	var names []string
	total := 0
	for name, ts := range got {
		names = append(names, name)
		total += len(ts)
		if !sort.SliceIsSorted(ts, func(i, j int) bool { return ts[i].Before(ts[j]) }) {
			t.Errorf("%s is not in time order", name)
		}
		for _, x := range ts {
			if x.Format("usage-2006-01.jsonl") != name {
				t.Errorf("a record of %v in %s", x, name)
			}
		}
	}
	sort.Strings(names)
	if want := []string{"usage-2026-10.jsonl", "usage-2026-11.jsonl", "usage-2026-12.jsonl"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v", names, want)
	}
	if total != 6001 {
		t.Errorf("%d records, want 6000 and the probe's", total)
	}
	// One record every 864 s, the last a second before the probe's (17:59
	// UTC): 64739 s of today hold 74 of them.
	if !strings.Contains(msg, "(74 of them today, UTC)") || !strings.Contains(msg, "a file per month (usage-YYYY-MM.jsonl)") {
		t.Errorf("message %q", msg)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl")); strings.Count(string(b), "\n") != 1 {
		t.Error("audit.jsonl changed")
	}
	if fi, err := os.Stat(filepath.Join(dir, "usage-2026-10.jsonl")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new month file: %v %v, want mode 0600", fi.Mode(), err)
	}
}

func TestGrowLedgerOneFile(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	writeProbe(t, filepath.Join(dir, "usage.jsonl"), now.Add(-time.Minute))
	if _, err := growLedger(dir, dir, 1000, 60, now); err != nil {
		t.Fatal(err)
	}
	got := readTimes(t, dir)
	ts := got["usage.jsonl"]
	if len(got) != 1 || len(ts) != 1001 {
		t.Fatalf("files %d, records %d; want 1 file of 1001", len(got), len(ts))
	}
	if !sort.SliceIsSorted(ts, func(i, j int) bool { return ts[i].Before(ts[j]) }) {
		t.Error("usage.jsonl is not in time order")
	}
	if first := ts[0]; now.Sub(first) < 59*24*time.Hour || now.Sub(first) > 61*24*time.Hour {
		t.Errorf("first record at %v, want about 60 days before %v", first, now)
	}
}

func TestGrowLedgerRefusesUnknownLayout(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	writeProbe(t, filepath.Join(dir, "a.jsonl"), now)
	writeProbe(t, filepath.Join(dir, "b.jsonl"), now)
	if _, err := growLedger(dir, dir, 10, 1, now); err == nil || !strings.Contains(err.Error(), "cannot tell okv's ledger layout") {
		t.Fatalf("err = %v", err)
	}
	if _, err := growLedger(t.TempDir(), t.TempDir(), 10, 1, now); err == nil || !strings.Contains(err.Error(), "no usage ledger") {
		t.Fatalf("empty vault: err = %v", err)
	}
}
