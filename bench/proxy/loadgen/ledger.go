package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

var timeField = regexp.MustCompile(`"time":"([^"]+)"`)

// runLedger grows a vault's usage ledger for the start-up case: it copies
// the first record okv wrote into the ledger of the vault -from (a few
// requests okv recorded itself) -n times, with times spread evenly over the
// -days days before it (today's included), into the vault -dir, in the
// files okv's own layout puts them in: one usage.jsonl, or one file per
// month when okv wrote a file whose name holds the record's YYYY-MM.
// Copying what the binary wrote keeps the fixture in the format and layout
// of the okv under test, old or new, without the benchmark knowing either.
// It writes only records: whatever else okv keeps (such as day totals with
// offsets into the month file) okv builds itself when it next records a
// request there, as run.sh then has it do.
func runLedger(args []string) error {
	fls := flag.NewFlagSet("ledger", flag.ExitOnError)
	dir := fls.String("dir", "", "the vault folder (OKV_HOME) to add the records to")
	from := fls.String("from", "", "the vault whose ledger holds the record to copy (default: -dir)")
	n := fls.Int("n", 200000, "records to add")
	days := fls.Int("days", 60, "spread them over this many days up to now")
	fls.Parse(args)
	if *dir == "" || *n < 1 || *n > 10_000_000 || *days < 1 {
		return errors.New("ledger needs -dir, 1 <= -n <= 10,000,000 and -days >= 1")
	}
	if *from == "" {
		*from = *dir
	}
	msg, err := growLedger(*from, *dir, *n, *days, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "loadgen:", msg)
	return nil
}

// growLedger adds n records, copies of the first one okv wrote into the
// vault from, to the ledger of the vault dir (the same or another) as of
// now, and says what it did.
func growLedger(from, dir string, n, days int, now time.Time) (string, error) {
	var files []string
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".jsonl") && d.Name() != "audit.jsonl" {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("no usage ledger (*.jsonl) in %s: did okv record the probe requests?", from)
	}
	// The record to copy: from this month's file when okv keeps one per
	// month, else from usage.jsonl, else from the only ledger file.
	now = now.UTC()
	month := now.Format("2006-01")
	pick, monthly := "", false
	for _, f := range files {
		if strings.Contains(filepath.Base(f), month) {
			pick, monthly = f, true
			break
		}
	}
	for _, f := range files {
		if pick == "" && filepath.Base(f) == "usage.jsonl" {
			pick = f
		}
	}
	if pick == "" && len(files) == 1 {
		pick = files[0]
	}
	if pick == "" {
		return "", fmt.Errorf("cannot tell okv's ledger layout from %v", files)
	}
	tmpl, err := firstLine(pick)
	if err != nil {
		return "", err
	}
	m := timeField.FindSubmatch(tmpl)
	if m == nil {
		return "", fmt.Errorf("%s: no \"time\" field in the first record", pick)
	}
	t0, err := time.Parse(time.RFC3339Nano, string(m[1]))
	if err != nil {
		return "", fmt.Errorf("%s: record time %q: %v", pick, m[1], err)
	}
	rel, err := filepath.Rel(from, pick)
	if err != nil {
		return "", err
	}
	// Where a record of a given time goes.
	dest := func(time.Time) string { return filepath.Join(dir, rel) }
	layout := "one file (" + filepath.Base(pick) + ")"
	if monthly {
		pre, post, _ := strings.Cut(filepath.Base(pick), month)
		sub := filepath.Join(dir, filepath.Dir(rel))
		dest = func(t time.Time) string { return filepath.Join(sub, pre+t.UTC().Format("2006-01")+post) }
		layout = "a file per month (" + pre + "YYYY-MM" + post + ")"
	}

	span := time.Duration(days) * 24 * time.Hour
	step := span / time.Duration(n)
	// Ending a second before okv's first record keeps the ledger in time
	// order (in dir, okv records its own requests after these).
	oldest := t0.UTC().Add(-time.Second - span)
	out := map[string]*bytes.Buffer{}
	dayStart := now.Truncate(24 * time.Hour)
	today := 0
	for i := 0; i < n; i++ {
		t := oldest.Add(time.Duration(i) * step)
		if !t.Before(dayStart) {
			today++
		}
		f := dest(t)
		b := out[f]
		if b == nil {
			b = &bytes.Buffer{}
			out[f] = b
		}
		ts := t.Format(time.RFC3339Nano)
		b.Write(timeField.ReplaceAll(tmpl, []byte(`"time":"`+ts+`"`)))
		b.WriteByte('\n')
	}
	names := make([]string, 0, len(out))
	for f := range out {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		// The new records are older than what okv wrote: they go first.
		old, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if err := writeAtomic(f, append(out[f].Bytes(), old...)); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("added %d records over %d days (%d of them today, UTC) to %s, in %s: %d file(s)",
		n, days, today, dir, layout, len(names)), nil
}

func firstLine(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("%s: empty", path)
	}
	return append([]byte(nil), sc.Bytes()...), nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bench-ledger-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
