package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// FileLedger appends records to the monthly files of the ledger in Dir,
// safe across goroutines and processes: each batch is one write(2) per
// month file on an O_APPEND descriptor, under an exclusive lock on
// usage.lock. Close writes the day totals and releases the open files.
//
// The day totals and the holds are kept in memory between two takings
// of the lock, and read again only when the files show that another
// process changed them: a grown month file is read from where this
// ledger stopped, a new usage-days.json (another okv started, a reset,
// a verdict) is read whole, and usage-held.json, which every okv writes
// in place, is read with one pread and parsed only when its bytes
// changed. So under a budget a request's admission costs a few system
// calls on the ledger (a lock, four lstats, two preads and one pwrite),
// not the reads, renames and JSON of whole files it once did (make
// bench-proxy: about 2 ms per request). Its record is written later, with
// the others that finished within ledgerDelay, in one locked write; until
// then Hold counts it from memory (BudgetLedger.Hold's done).
type FileLedger struct {
	Dir string
	Now func() time.Time // the clock of the day totals; nil means time.Now

	mu      sync.Mutex
	h       holds
	hqMu    sync.Mutex
	hq      []*holdReq       // Holds waiting for l.mu (FileLedger.Hold)
	seenDay string           // the UTC day of seen
	seen    map[string]int64 // the highest day total Hold saw, per profile
	// resetSeen is the last ResetLedger read (dayTotals.Reset); seen is
	// forgotten at a new one.
	resetSeen string
	lock      ledgerLocker
	f         *os.File // the file of another month last written (a request that started before the month did)
	fname     string

	readOnly bool // settle's ledger: it reads the month file, never appends

	// The ledger as last seen holding the lock. Files are kept open so
	// that an inode is never reused under the same name unseen.
	tot    *dayTotals  // nil: read usage-days.json
	mf     *os.File    // tot.File, read, and appended to
	mfi    os.FileInfo //
	msize  int64       // its size when last looked at
	tail   []byte      // its line ending at tot.Offset, with the newline
	tbuf   []byte
	daysF  *os.File // usage-days.json as last read or written
	daysFI os.FileInfo
	daysAt int64    // tot.Offset it holds
	hf     *os.File // usage-held.json
	hfi    os.FileInfo
	hsize  int64
	hbuf   []byte               // its bytes as last read or written
	hall   map[string]heldEntry // hbuf parsed
}

// ledgerLocker is usage.lock's exclusive lock (gofrs/flock, or fdLock).
type ledgerLocker interface {
	Lock() error
	Unlock() error
	Close() error
}

// keepOpen: files are kept open between locks. Not on Windows, where an
// open file cannot be renamed over (usage-days.json is replaced).
var keepOpen = runtime.GOOS != "windows"

// daysEvery is how far the month file may grow past the offset
// usage-days.json holds before it is written again: what the next
// start-up reads after it (about 200 records). Close writes it too.
const daysEvery = 64 << 10

func (l *FileLedger) clock() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Append writes r as one line.
func (l *FileLedger) Append(r Record) error { return l.AppendAll([]Record{r}) }

// AppendAll writes records as lines, in order, under one lock.
func (l *FileLedger) AppendAll(records []Record) error {
	if len(records) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.lockLedger(); err != nil {
		return err
	}
	defer l.lock.Unlock()
	now := l.clock()
	released, err := l.appendLocked(records, now)
	if released {
		// What was written is released for every process to see, even
		// when a later chunk failed.
		all, werr := l.readHeld(now)
		if werr == nil {
			werr = l.writeHeld(all, now)
		}
		if err == nil {
			err = werr
		}
	}
	return err
}

// appendLocked writes records holding l.mu and the lock, and reports
// whether it dropped holds (the caller writes usage-held.json).
func (l *FileLedger) appendLocked(records []Record, now time.Time) (bool, error) {
	type chunk struct {
		name  string
		buf   []byte
		first int // records[first:last] are its lines
		last  int
		tail  []byte // its last line
	}
	// The chain goes on from the current month file's last line.
	d, err := l.totals(now)
	if err != nil {
		return false, err
	}
	head := d.Head
	var chunks []chunk
	for i := range records {
		name := MonthFile(records[i].Time)
		records[i].Prev = ""
		if name == d.File {
			records[i].Prev = head
		}
		b, err := json.Marshal(&records[i])
		if err != nil {
			return false, fmt.Errorf("usage ledger: %w", err) // before any write
		}
		if name == d.File {
			head = lineHash(b)
		}
		if len(chunks) == 0 || chunks[len(chunks)-1].name != name {
			chunks = append(chunks, chunk{name: name, first: i})
		}
		c := &chunks[len(chunks)-1]
		n := len(c.buf)
		c.buf = append(append(c.buf, b...), '\n')
		c.last, c.tail = i+1, c.buf[n:]
	}
	// The holds are released with the records that settle them, under
	// the same lock, as each chunk is written. A chunk that cannot be
	// written (a full disk) keeps its requests' holds: their estimates go
	// on counting, so the spend is counted too high while that lasts
	// (both, if a write got part of it out), never too low (neither).
	released := false
	for _, c := range chunks {
		if c.name != d.File {
			if err := l.appendOther(c.name, c.buf); err != nil {
				return released, err
			}
			released = l.release(records[c.first:c.last]) || released
			continue
		}
		if l.mf == nil {
			if err := l.createMonth(); err != nil {
				return released, err
			}
		}
		atEnd := l.msize == d.Offset // no torn line after what is counted
		if _, err := l.mf.Write(c.buf); err != nil {
			l.closeMonth() // looked at again by the next append
			return released, fmt.Errorf("usage ledger: %w", err)
		}
		released = l.release(records[c.first:c.last]) || released
		l.msize += int64(len(c.buf))
		if atEnd {
			// Counted here, as the next reader would count them.
			for _, r := range records[c.first:c.last] {
				d.add(r)
			}
			d.Offset = l.msize
			d.Head = lineHash(c.tail)
			l.tail = append(l.tail[:0], c.tail...)
		}
	}
	if d.Offset-l.daysAt >= daysEvery {
		if err := l.writeDays(false); err != nil {
			return released, err
		}
	}
	return released, nil
}

// appendOther appends buf to the month file name, not the current one.
func (l *FileLedger) appendOther(name string, buf []byte) error {
	if l.f == nil || l.fname != name {
		l.closeFile()
		f, err := openLedger(filepath.Join(l.Dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("usage ledger: %w", err)
		}
		l.f, l.fname = f, name
	}
	if _, err := l.f.Write(buf); err != nil {
		l.closeFile() // reopened by the next append (the file may have moved)
		return fmt.Errorf("usage ledger: %w", err)
	}
	return nil
}

// createMonth creates the current month file (there was none).
func (l *FileLedger) createMonth() error {
	f, fi, err := openLedgerStat(filepath.Join(l.Dir, l.tot.File), os.O_RDWR|os.O_APPEND|os.O_CREATE)
	if err != nil {
		return err
	}
	l.mf, l.mfi, l.msize = f, fi, fi.Size()
	return nil
}

// totals brings the day totals up to date at now (holding l.mu and the
// lock) and returns them. In the common case, nothing changed since
// this ledger last looked: usage-days.json is the file it read or wrote,
// and the month file is the one it counted, of the size it counted,
// ending with the line it counted.
func (l *FileLedger) totals(now time.Time) (*dayTotals, error) {
	cur := MonthFile(now)
	path := filepath.Join(l.Dir, cur)
	d := l.tot
	var old []byte // usage-days.json as read now
	reloaded, built := false, false
	if d == nil || d.File != cur || l.daysChanged() {
		prev := l.tot
		var tampered string
		var legacy bool
		d, old, tampered, legacy = l.readDays(cur)
		reloaded = true
		if d == nil && legacy && prev != nil && prev.File == cur {
			// Written by an earlier okv still running (it counts no
			// dollars): these totals go on from the month file, with
			// its verdict, rather than the month being read again.
			d, reloaded = prev, false
			if d.Tampered == "" {
				d.Tampered = tampered
			}
		}
		if d == nil {
			// Missing, unreadable, or of another month: built again,
			// still tampered if it was.
			var err error
			if d, err = buildTotals(l.Dir, now); err != nil {
				return nil, err
			}
			d.Tampered, built = tampered, true
		}
	}
	fi, ferr := os.Lstat(path)
	if !reloaded && l.unchanged(fi, ferr, d) {
		d.prune(now)
		return d, nil
	}
	if err := l.openMonth(path, fi, ferr); err != nil {
		return nil, err
	}
	verdict := d.Tampered
	if !built {
		if why := l.checkHead(d); why != "" {
			// Counted again from the file as it is, so new lines chain
			// on from it; the verdict stays.
			if d.Tampered == "" {
				d.Tampered = why
			}
			v, r := d.Tampered, d.Reset
			var err error
			if d, err = buildTotals(l.Dir, now); err != nil {
				return nil, err
			}
			d.Tampered, d.Reset = v, r
		} else if err := l.catchUp(d); err != nil {
			return nil, err
		}
	}
	l.tail = l.tail[:0]
	if l.mf != nil && d.Offset > 0 {
		l.tail = append(l.tail, lastLine(l.mf, d.Offset)...)
	}
	// The month's days are kept (see prune): a request that started on
	// an earlier day of the month is held against that day.
	d.prune(now)
	if reloaded && d.Reset != "" && d.Reset != l.resetSeen {
		l.resetSeen, l.seenDay, l.seen = d.Reset, "", nil // the user's reset
	}
	l.tot = d
	if reloaded {
		b, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(b, old) {
			return d, l.writeDays(d.Tampered != verdict)
		}
	} else if d.Tampered != verdict {
		return d, l.writeDays(true) // other processes see the verdict
	}
	return d, nil
}

// unchanged reports whether the current month file (fi, err from its
// lstat) is as d counted it: the same file, of the counted size, with
// the counted last line (read back with one pread).
func (l *FileLedger) unchanged(fi os.FileInfo, err error, d *dayTotals) bool {
	if err != nil {
		return errors.Is(err, fs.ErrNotExist) && d.Offset == 0 && l.mf == nil
	}
	if l.mf == nil || !os.SameFile(fi, l.mfi) || fi.Size() != d.Offset {
		return false
	}
	l.msize = fi.Size()
	n := int64(len(l.tail))
	if n == 0 || n > d.Offset {
		return d.Offset == 0
	}
	if int64(cap(l.tbuf)) < n {
		l.tbuf = make([]byte, n)
	}
	buf := l.tbuf[:n]
	if _, err := l.mf.ReadAt(buf, d.Offset-n); err != nil {
		return false
	}
	return bytes.Equal(buf, l.tail)
}

// openMonth makes l.mf the month file at path (fi, err from its lstat),
// or nil when there is none.
func (l *FileLedger) openMonth(path string, fi os.FileInfo, ferr error) error {
	if ferr == nil && l.mf != nil && os.SameFile(fi, l.mfi) {
		l.msize = fi.Size()
		return nil
	}
	l.closeMonth()
	flag := os.O_RDWR | os.O_APPEND
	if l.readOnly {
		flag = os.O_RDONLY
	}
	f, st, err := openLedgerStat(path, flag)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	l.mf, l.mfi, l.msize = f, st, st.Size()
	return nil
}

// checkHead reports a month file (l.mf) shorter than d counted, or
// whose line ending at d.Offset is not the one counted: a truncated or
// rewritten ledger.
func (l *FileLedger) checkHead(d *dayTotals) string {
	if d.Offset == 0 {
		return ""
	}
	if l.mf == nil {
		return fmt.Sprintf("%s is gone, with %d bytes counted", d.File, d.Offset)
	}
	if l.msize < d.Offset {
		return fmt.Sprintf("%s was truncated: %d bytes, %d counted", d.File, l.msize, d.Offset)
	}
	if d.Head == "" {
		return ""
	}
	if lineHash(lastLine(l.mf, d.Offset)) != d.Head {
		return fmt.Sprintf("%s was rewritten: its last line counted changed", d.File)
	}
	return ""
}

// catchUp counts the whole records of the month file (l.mf) after
// d.Offset.
func (l *FileLedger) catchUp(d *dayTotals) error {
	if l.mf == nil || l.msize <= d.Offset {
		return nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(l.mf, d.Offset, l.msize-d.Offset), 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return nil // a line without its newline is not whole yet
		}
		if err != nil {
			return fmt.Errorf("usage ledger: %w", err)
		}
		d.Offset += int64(len(line))
		var r Record
		if json.Unmarshal(line, &r) == nil {
			if r.Prev != "" && d.Head != "" && r.Prev != d.Head && d.Tampered == "" {
				d.Tampered = fmt.Sprintf("%s: a line does not follow the one before it (a line was removed or edited)", d.File)
			}
			d.add(r)
		}
		d.Head = lineHash(line)
	}
}

// prune drops the days before now's month. The month's past days stay
// (31 at most): a request is held against the day it started on, its
// record's day, and one that started before midnight may reach its hold
// after the ledger counted a record of the new day (its body sent
// slowly): it must see its own day's spend, not a day forgotten as if
// nothing had been spent on it.
func (d *dayTotals) prune(now time.Time) {
	first := now.UTC().Format("2006-01") + "-01"
	for k := range d.Days {
		if k < first {
			delete(d.Days, k)
		}
	}
	for k := range d.USD {
		if k < first {
			delete(d.USD, k)
		}
	}
}

// daysChanged reports whether usage-days.json is not the file this
// ledger last read or wrote.
func (l *FileLedger) daysChanged() bool {
	if l.daysF == nil {
		return true
	}
	fi, err := os.Lstat(filepath.Join(l.Dir, daysFile))
	return err != nil || !os.SameFile(fi, l.daysFI)
}

// readDays reads usage-days.json: the totals it holds for the month file
// cur (nil when it is missing, unreadable, of another month or of an
// earlier okv), its bytes, its verdict, and whether an earlier okv wrote
// it for cur.
func (l *FileLedger) readDays(cur string) (*dayTotals, []byte, string, bool) {
	l.closeDays()
	f, fi, err := openLedgerFI(filepath.Join(l.Dir, daysFile), os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, "", false
	}
	b, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, "", false
	}
	if keepOpen {
		l.daysF, l.daysFI = f, fi
	} else {
		f.Close()
	}
	d := new(dayTotals)
	if json.Unmarshal(b, d) != nil || d.Offset < 0 || d.Days == nil {
		return nil, b, "", false
	}
	if d.File != cur || d.V != totalsVersion {
		return nil, b, d.Tampered, d.File == cur && d.V < totalsVersion
	}
	l.daysAt = d.Offset
	return d, b, d.Tampered, false
}

// writeDays replaces usage-days.json with l.tot (writeFileAtomic), and
// keeps the new file open. sync: the write carries a new verdict, which
// must survive a power loss (writeFileAtomic).
func (l *FileLedger) writeDays(sync bool) error {
	b, err := json.Marshal(l.tot)
	if err != nil {
		return fmt.Errorf("usage ledger: %w", err)
	}
	f, fi, err := writeFileAtomic(filepath.Join(l.Dir, daysFile), b, keepOpen, sync)
	if err != nil {
		return err
	}
	l.closeDays()
	if f != nil {
		l.daysF, l.daysFI = f, fi
	}
	l.daysAt = l.tot.Offset
	return nil
}

// settle brings the day totals in dir up to date at now, and writes them
// back when they changed. Call it holding the ledger's lock.
func settle(dir string, now time.Time) (*dayTotals, error) {
	l := &FileLedger{Dir: dir, readOnly: true}
	defer l.closeFiles()
	return l.totals(now)
}

// lastLine is the line of f that ends at off (with its newline), read
// back from off in growing steps until the line before it ends: a ledger
// line is a few hundred bytes, so one 4 KiB read is the rule.
func lastLine(f *os.File, off int64) []byte {
	if off == 0 {
		return nil
	}
	for n := min(off, 4<<10); ; n = min(off, n*4, maxLedgerLine+1) {
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off-n); err != nil {
			return nil
		}
		if i := bytes.LastIndexByte(buf[:len(buf)-1], '\n'); i >= 0 {
			return buf[i+1:]
		}
		if n == off || n == maxLedgerLine+1 {
			return buf
		}
	}
}

// lastLineHash is the chain hash of the line of path that ends at off.
func lastLineHash(path string, off int64) string {
	if off == 0 {
		return ""
	}
	f, err := openLedger(path, os.O_RDONLY, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	return lineHash(lastLine(f, off))
}

// lockLedger takes the ledger's lock (call holding l.mu).
func (l *FileLedger) lockLedger() error {
	if l.lock == nil {
		lk, err := newFileLock(filepath.Join(l.Dir, ledgerLock))
		if err != nil {
			return fmt.Errorf("usage ledger: %w", err)
		}
		l.lock = lk
	}
	if err := l.lock.Lock(); err != nil {
		return fmt.Errorf("usage ledger: lock %s: %w", ledgerLock, err)
	}
	return nil
}

func (l *FileLedger) closeFile() {
	if l.f != nil {
		_ = l.f.Close()
		l.f, l.fname = nil, ""
	}
}

func (l *FileLedger) closeMonth() {
	if l.mf != nil {
		_ = l.mf.Close()
		l.mf, l.mfi, l.msize = nil, nil, 0
	}
}

func (l *FileLedger) closeDays() {
	if l.daysF != nil {
		_ = l.daysF.Close()
		l.daysF, l.daysFI = nil, nil
	}
}

func (l *FileLedger) closeHeld() {
	if l.hf != nil {
		_ = l.hf.Close()
		l.hf, l.hfi, l.hsize = nil, nil, 0
	}
	l.hbuf, l.hall = l.hbuf[:0], nil
}

func (l *FileLedger) closeFiles() {
	l.closeFile()
	l.closeMonth()
	l.closeDays()
	l.closeHeld()
	l.tot = nil
}

// Close writes the day totals when they moved on since usage-days.json
// was last written (so the next start-up reads nothing after it), and
// closes the ledger's files; a later Append opens them again.
func (l *FileLedger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.tot != nil && l.tot.Offset != l.daysAt {
		if err = l.lockLedger(); err == nil {
			// Brought up to date first: another process's verdict is
			// kept, never written over.
			if _, err = l.totals(l.clock()); err == nil && l.tot.Offset != l.daysAt {
				err = l.writeDays(false)
			}
			l.lock.Unlock()
		}
	}
	l.closeFiles()
	if l.lock != nil {
		err = errors.Join(err, l.lock.Close())
		l.lock = nil
	}
	return err
}
