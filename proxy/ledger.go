package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Record is one request seen by the proxy. It never holds a body, a header
// value, a key or a token.
type Record struct {
	Time    time.Time `json:"time"`
	Profile string    `json:"profile"`
	// Provider is the API the request went to ("anthropic"); empty in
	// records of okv versions that proxied OpenAI only.
	Provider         string `json:"provider,omitempty"`
	Method           string `json:"method"`
	Path             string `json:"path"`
	Model            string `json:"model,omitempty"`
	Status           int    `json:"status"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	TotalTokens      int64  `json:"total_tokens"`
	// Parts of PromptTokens served from or written to the provider's
	// prompt cache (Anthropic, Gemini), when it reports them.
	CacheReadTokens     int64   `json:"cache_read_tokens,omitempty"`
	CacheCreationTokens int64   `json:"cache_creation_tokens,omitempty"`
	LatencyMS           float64 `json:"latency_ms"`
	Streamed            bool    `json:"streamed,omitempty"`
	// Refused is the error code when the proxy itself refused the request
	// (invalid_api_key, model_not_allowed, rate_limit_exceeded, …); such a
	// request never reached the upstream.
	Refused string `json:"refused,omitempty"`
	// CostUSD is what the request cost in US dollars at the price okv
	// knew when it was made (Config.Prices); nil when it knew no price
	// for the model (never shown as $0). PriceDate is the day that price
	// was checked.
	CostUSD   *float64 `json:"cost_usd,omitempty"`
	PriceDate string   `json:"price_date,omitempty"`

	// Prev chains the ledger: the SHA-256 (hex) of the line before this
	// one in its month file, as written ("" for the first line, and in
	// lines of earlier okv versions). See VerifyLedger.
	Prev string `json:"prev,omitempty"`

	// Hold is the BudgetLedger hold the record releases; not written.
	Hold uint64 `json:"-"`
}

// Ledger receives one Record per request.
type Ledger interface {
	Append(Record) error
}

// The ledger in a vault folder:
//
//	usage-2026-12.jsonl  the records of requests started in that UTC month,
//	                     one JSON line each, in the order they finished
//	usage-days.json      the month's tokens per profile and day (daysFile)
//	usage.lock           held (gofrs/flock) while writing either
//	usage.jsonl          the one file of earlier okv versions: read, never written
const (
	legacyLedger = "usage.jsonl"
	ledgerLock   = "usage.lock"
)

// MonthFile is the name of the ledger file for the UTC month of t.
func MonthFile(t time.Time) string { return t.UTC().Format("usage-2006-01.jsonl") }

// maxLedgerLine bounds one line of a ledger file.
const maxLedgerLine = 1 << 20

// ReadLedger reads the records of the ledger in dir that started at or
// after since, up to now: only the month files from since's month to
// now's, and the legacy usage.jsonl when it was written since then. A
// zero since reads every month file. Records come in file order, not
// sorted.
func ReadLedger(dir string, since, now time.Time) ([]Record, error) {
	var recs []Record
	keep := func(r Record) bool { return since.IsZero() || !r.Time.Before(since) }
	// One open, through openLedger, for the stat and the read: a link in
	// the legacy file's place is refused, not followed by a stat.
	f, fi, err := openLedgerStat(filepath.Join(dir, legacyLedger), os.O_RDONLY)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		var rs []Record
		if since.IsZero() || !fi.ModTime().Before(since) {
			rs, err = readLedger(f, legacyLedger)
		}
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if keep(r) {
				recs = append(recs, r)
			}
		}
	}
	var names []string
	if since.IsZero() {
		all, err := filepath.Glob(filepath.Join(dir, "usage-[0-9][0-9][0-9][0-9]-[0-9][0-9].jsonl"))
		if err != nil {
			return nil, err
		}
		for _, p := range all {
			names = append(names, filepath.Base(p)) // Glob sorts them
		}
	} else {
		m := time.Date(since.UTC().Year(), since.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
		for ; !m.After(now.UTC()); m = m.AddDate(0, 1, 0) {
			names = append(names, MonthFile(m))
		}
	}
	for _, n := range names {
		rs, err := ReadLedgerFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if keep(r) {
				recs = append(recs, r)
			}
		}
	}
	return recs, nil
}

// ReadLedgerFile reads the records of one ledger file. A missing file has
// no records. A last line without its newline (a write cut short) is
// ignored; any other line that is not a record is an error naming its
// line number.
func ReadLedgerFile(path string) ([]Record, error) {
	f, err := openLedger(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("usage ledger: %w", err)
	}
	defer f.Close()
	return readLedger(f, filepath.Base(path))
}

func readLedger(r io.Reader, name string) ([]Record, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var recs []Record
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it.
			buf := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(buf) <= maxLedgerLine {
				line, err = br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			if len(buf) > maxLedgerLine {
				return recs, fmt.Errorf("%s:%d: line too long", name, n)
			}
			line = buf
		}
		if err == io.EOF {
			return recs, nil // no newline: a torn last write, or nothing at all
		}
		if err != nil {
			return recs, fmt.Errorf("usage ledger: %w", err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return recs, fmt.Errorf("%s:%d: not a usage record", name, n)
		}
		recs = append(recs, rec)
	}
}

// The day totals: usage-days.json holds, for each UTC day of the month
// it was written in, the tokens of each profile's records in the ledger
// up to an offset of the current month file. A FileLedger keeps them in memory and writes
// the file when another process is to see something it cannot read off
// the month file (a verdict), every daysEvery bytes of records, and at
// Close; the daily budget's seed at start-up reads it and the records
// after its offset (a few hundred at most). Start-up does not grow with
// the ledger.
const daysFile = "usage-days.json"

type dayTotals struct {
	// V is the format: 2 counts dollars and the month too; a file of
	// an earlier okv (no V) is counted again.
	V      int                         `json:"v,omitempty"`
	File   string                      `json:"file"`   // the month file it counts
	Offset int64                       `json:"offset"` // bytes of File counted
	Days   map[string]map[string]int64 `json:"days"`   // "2006-01-02" → profile → tokens
	// USD is the dollars of the days' priced records (Record.CostUSD),
	// "2006-01-02" → profile → dollars.
	USD map[string]map[string]float64 `json:"usd,omitempty"`
	// MonthTokens and MonthUSD are the profile's tokens and dollars of
	// File's records (the requests started in its month).
	MonthTokens map[string]int64   `json:"month_tokens,omitempty"`
	MonthUSD    map[string]float64 `json:"month_usd,omitempty"`
	// Head is the SHA-256 of File's last line counted (ending at Offset):
	// the next line's Prev.
	Head string `json:"head,omitempty"`
	// Tampered says why the ledger is taken as edited or truncated; it
	// stays until ResetLedger, and budgets are spent while it is set.
	Tampered string `json:"tampered,omitempty"`
	// Reset marks the totals of a ResetLedger (its time): a running
	// proxy that reads a new one forgets the day's spend it saw, which
	// the reset may lower.
	Reset string `json:"reset,omitempty"`
}

const totalsVersion = 2

func newTotals(file string) *dayTotals {
	return &dayTotals{V: totalsVersion, File: file, Days: map[string]map[string]int64{}}
}

// lineHash is the chain's hash of one ledger line (without its newline).
func lineHash(line []byte) string {
	sum := sha256.Sum256(bytes.TrimRight(line, "\r\n"))
	return hex.EncodeToString(sum[:])
}

func dayKey(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// add counts r, a record of File.
func (d *dayTotals) add(r Record) {
	d.addDay(r)
	d.addMonth(r)
}

func (d *dayTotals) addDay(r Record) {
	k := dayKey(r.Time)
	if d.Days[k] == nil {
		d.Days[k] = map[string]int64{}
	}
	d.Days[k][r.Profile] += r.TotalTokens
	if r.CostUSD != nil {
		if d.USD == nil {
			d.USD = map[string]map[string]float64{}
		}
		if d.USD[k] == nil {
			d.USD[k] = map[string]float64{}
		}
		d.USD[k][r.Profile] += *r.CostUSD
	}
}

func (d *dayTotals) addMonth(r Record) {
	if d.MonthTokens == nil {
		d.MonthTokens = map[string]int64{}
	}
	d.MonthTokens[r.Profile] += r.TotalTokens
	if r.CostUSD != nil {
		if d.MonthUSD == nil {
			d.MonthUSD = map[string]float64{}
		}
		d.MonthUSD[r.Profile] += *r.CostUSD
	}
}

// appendSlack is how much later than it finished a record may reach the
// ledger: the proxy's batching delay, and waiting for the lock behind
// other okv processes.
const appendSlack = time.Minute

// buildTotals makes the day totals from the ledger: the current month
// file read whole (its records are the month's), and the tail of the
// usage.jsonl of an earlier okv, read backwards and stopping at the first
// record that finished (well) before the month began (records are
// appended in the order requests finished). It runs when the day totals
// are lost, of another month or of an earlier okv: a month's records,
// once.
func buildTotals(dir string, now time.Time) (*dayTotals, error) {
	u := now.UTC()
	month := time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
	d := newTotals(MonthFile(u))
	path := filepath.Join(dir, d.File)
	f, err := openLedger(path, os.O_RDONLY, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("usage ledger: %w", err)
	default:
		br := bufio.NewReaderSize(f, 64<<10)
		var last []byte
		for {
			line, err := br.ReadBytes('\n')
			if err == io.EOF {
				break // a line without its newline is not whole yet
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("usage ledger: %w", err)
			}
			d.Offset += int64(len(line))
			var r Record
			if json.Unmarshal(line, &r) == nil {
				d.add(r)
			}
			last = line
		}
		f.Close()
		if last != nil {
			d.Head = lineHash(last)
		}
	}
	_, err = eachRecordBackward(filepath.Join(dir, legacyLedger), func(r Record) bool {
		finished := r.Time.Add(time.Duration(r.LatencyMS * float64(time.Millisecond)))
		if finished.Before(month.Add(-appendSlack)) {
			return false // everything before it finished before the month
		}
		if !r.Time.Before(month) {
			d.add(r)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	d.prune(now)
	return d, nil
}

// TokensUsed is the daily budget's seed for a proxy of profile starting
// at now: the tokens of profile's records that started on now's UTC day,
// from the day totals (brought up to date, under the ledger's lock).
func TokensUsed(dir, profile string, now time.Time) (int64, error) {
	lk, err := newLedgerLock(filepath.Join(dir, ledgerLock))
	if err != nil {
		return 0, fmt.Errorf("usage ledger: %w", err)
	}
	if err := lk.Lock(); err != nil {
		return 0, fmt.Errorf("usage ledger: lock %s: %w", ledgerLock, err)
	}
	defer lk.Close()
	d, err := settle(dir, now)
	if err != nil {
		return 0, err
	}
	return d.Days[dayKey(now)][profile], nil
}

// writeFileAtomic replaces path with data (0600): a temporary file in
// the same folder, written, synced when sync is set, and renamed over it.
// With keep it returns the new file, still open, and its stat
// (usage-days.json, kept open so that its inode is never reused under its
// name unseen); without, it is closed before the rename.
//
// The sync comes before the rename: without it a power loss after the
// rename may leave the name on an empty or torn file (delayed
// allocation), and readDays takes an unreadable file as no totals. That
// costs nothing but a rebuild for totals, which the month files hold too,
// so the totals written every daysEvery bytes of records (under the
// ledger's lock, which budgeted requests wait for) are not synced; a
// verdict (Tampered) and a reset exist only here, and are. The close
// comes before the rename when the file is not kept: Windows cannot
// rename a file that is open (keepOpen is false there).
func writeFileAtomic(path string, data []byte, keep, sync bool) (*os.File, os.FileInfo, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, nil, fmt.Errorf("usage ledger: %w", err)
	}
	fail := func(err error) (*os.File, os.FileInfo, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, nil, fmt.Errorf("usage ledger: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	var fi os.FileInfo
	if keep {
		fi, err = f.Stat()
	} else {
		err = f.Close() // fail's second Close is a no-op
	}
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fail(err)
	}
	if !keep {
		return nil, nil, nil
	}
	return f, fi, nil
}

// eachRecordBackward calls fn with the records of the file at path, last
// first, until fn returns false, and returns the size of the whole lines
// it started from. A missing file has none; lines that are not records
// (a torn write) are skipped.
func eachRecordBackward(path string, fn func(Record) bool) (int64, error) {
	f, err := openLedger(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("usage ledger: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("usage ledger: %w", err)
	}
	whole := int64(0)
	const chunk = 64 << 10
	off := fi.Size()
	var data []byte // file bytes from off, up to the last whole line not yet handled
	trimmed := false
	for {
		// Take whole lines off the end of data.
		for trimmed {
			if len(data) == 0 {
				break
			}
			j := bytes.LastIndexByte(data[:len(data)-1], '\n')
			if j < 0 && off > 0 {
				break // the line starts before off
			}
			line := data[j+1:]
			data = data[:j+1]
			var r Record
			if json.Unmarshal(line, &r) == nil && !fn(r) {
				return whole, nil
			}
		}
		if off == 0 {
			return whole, nil
		}
		if len(data) > maxLedgerLine {
			data = data[:0] // a line too long to be a record: skip it
		}
		n := int64(min(chunk, off))
		off -= n
		buf := make([]byte, n, n+int64(len(data)))
		if _, err := f.ReadAt(buf, off); err != nil {
			return 0, fmt.Errorf("usage ledger: %w", err)
		}
		data = append(buf, data...)
		if !trimmed {
			// What follows the last newline is a write cut short (or
			// one in progress): not a record yet.
			if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
				data, trimmed = data[:i+1], true
				whole = off + int64(i) + 1
			} else if off == 0 {
				return whole, nil
			}
		}
	}
}

// ErrLedgerTampered is the error of Hold while the ledger is taken as
// edited or truncated: the budget is spent until ResetLedger.
type ErrLedgerTampered struct{ Why string }

func (e *ErrLedgerTampered) Error() string {
	return "the usage ledger was edited or truncated: " + e.Why
}

// checkHeld reads usage-held.json in dir as a hold does (holding the
// ledger's lock): its error is why every budgeted request is refused.
func checkHeld(dir string, now time.Time) error {
	l := &FileLedger{Dir: dir}
	defer l.closeHeld()
	_, err := l.readHeld(now)
	return err
}

// LedgerProblem reports why the ledger in dir is taken as edited or
// truncated, or "": the day totals' verdict, brought up to date, and a
// check of the whole chain of the month files (VerifyLedger).
func LedgerProblem(dir string, now time.Time) (string, error) {
	months, _ := filepath.Glob(filepath.Join(dir, "usage-[0-9][0-9][0-9][0-9]-[0-9][0-9].jsonl"))
	if _, err := os.Lstat(filepath.Join(dir, daysFile)); err != nil && len(months) == 0 {
		return "", nil // no ledger yet: nothing written
	}
	lk, err := newLedgerLock(filepath.Join(dir, ledgerLock))
	if err != nil {
		return "", fmt.Errorf("usage ledger: %w", err)
	}
	if err := lk.Lock(); err != nil {
		return "", fmt.Errorf("usage ledger: lock %s: %w", ledgerLock, err)
	}
	defer lk.Close()
	d, err := settle(dir, now)
	if err != nil {
		return "", err
	}
	// A usage-held.json every hold refuses (readHeld): budgeted requests
	// get 503 until it is removed.
	if err := checkHeld(dir, now); err != nil {
		return "", err
	}
	if d.Tampered != "" {
		return d.Tampered, nil
	}
	breaks, err := ledgerBreaks(dir)
	if err != nil {
		return "", err
	}
	accepted := readAccepted(dir)
	for _, b := range breaks {
		if !accepted[b.id] {
			return b.why, nil
		}
	}
	return "", nil
}

// acceptedFile lists the chain breaks the user accepted with ResetLedger
// ("file:line:hash"), so that they are not reported again.
const acceptedFile = "usage-accepted.json"

func readAccepted(dir string) map[string]bool {
	var ids []string
	b, err := readLedgerBytes(filepath.Join(dir, acceptedFile))
	if err == nil {
		_ = json.Unmarshal(b, &ids)
	}
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

type ledgerBreak struct{ id, why string }

// VerifyLedger checks the chain of every month file: each line that
// carries prev must follow the line before it. It returns the first
// break, or "" (accepted breaks included).
func VerifyLedger(dir string) (string, error) {
	breaks, err := ledgerBreaks(dir)
	if err != nil || len(breaks) == 0 {
		return "", err
	}
	return breaks[0].why, nil
}

func ledgerBreaks(dir string) ([]ledgerBreak, error) {
	var breaks []ledgerBreak
	all, err := filepath.Glob(filepath.Join(dir, "usage-[0-9][0-9][0-9][0-9]-[0-9][0-9].jsonl"))
	if err != nil {
		return nil, err
	}
	for _, p := range all {
		f, err := openLedger(p, os.O_RDONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("usage ledger: %w", err)
		}
		br := bufio.NewReaderSize(f, 64<<10)
		prev := ""
		for n := 1; ; n++ {
			line, err := br.ReadBytes('\n')
			if err != nil {
				break // the end, or a torn last line
			}
			var r Record
			if json.Unmarshal(line, &r) == nil && r.Prev != "" && r.Prev != prev {
				breaks = append(breaks, ledgerBreak{
					id:  fmt.Sprintf("%s:%d:%s", filepath.Base(p), n, lineHash(line)),
					why: fmt.Sprintf("%s:%d does not follow the line before it (a line was removed or edited)", filepath.Base(p), n)})
			}
			prev = lineHash(line)
		}
		f.Close()
	}
	return breaks, nil
}

// ResetLedger clears the verdict of a tampered ledger: the day totals
// are built again from the month file as it is now. Only the user should
// run it (okv usage --reset-ledger unlocks the vault first).
func ResetLedger(dir string, now time.Time) error {
	lk, err := newLedgerLock(filepath.Join(dir, ledgerLock))
	if err != nil {
		return fmt.Errorf("usage ledger: %w", err)
	}
	if err := lk.Lock(); err != nil {
		return fmt.Errorf("usage ledger: lock %s: %w", ledgerLock, err)
	}
	defer lk.Close()
	breaks, err := ledgerBreaks(dir)
	if err != nil {
		return err
	}
	ids := []string{}
	for id := range readAccepted(dir) {
		ids = append(ids, id)
	}
	for _, b := range breaks {
		ids = append(ids, b.id)
	}
	ab, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	// Everything is built before the first write: a reset that fails
	// (a ledger file it cannot read) changes no file.
	d, err := buildTotals(dir, now)
	if err != nil {
		return err
	}
	d.Reset = time.Now().UTC().Format(time.RFC3339Nano)
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if _, _, err := writeFileAtomic(filepath.Join(dir, acceptedFile), ab, false, true); err != nil {
		return err
	}
	_, _, err = writeFileAtomic(filepath.Join(dir, daysFile), b, false, true)
	return err
}
