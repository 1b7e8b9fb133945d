package proxy

import (
	"bytes"
	"crypto/rand"
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

// BudgetLedger is a Ledger that shares a daily token budget between every
// proxy writing to it (FileLedger: every okv process of the vault). A
// proxy holds an estimate of a request's tokens from admission until the
// request's record is written with its real usage, so that at every
// moment the ledger knows the day's spend plus what is in flight.
type BudgetLedger interface {
	Ledger
	// Hold reads, under the ledger's lock, the tokens profile spent on
	// now's UTC day and the tokens held by requests in flight in any
	// process, asks admit, and when it agrees holds n more. It returns a
	// hold id (0 when admit refused) and what admit was shown. A record
	// carrying the id (Record.Hold) releases the hold when it is written,
	// under the same lock. done are this ledger's records of finished
	// requests not yet written: admit sees their real usage in place of
	// their holds, as it will once they are written (by AppendAll, in a
	// batch, off the request's path: Hold writes nothing of them). usd is
	// the hold's estimate in dollars (0 without a dollar budget); admit
	// sees dollars too.
	Hold(profile string, now time.Time, n int64, usd float64, done []Record, admit func(Spend) bool) (id uint64, s Spend, err error)
	// Raise makes hold id at least n: a request that reports usage as it
	// goes (a Realtime WebSocket) and has spent more than it held.
	Raise(id uint64, n int64, now time.Time) error
}

// The holds of every process in a vault folder: usage-held.json, written
// under usage.lock, one entry per FileLedger in use (by a random id), with
// its process id so that the holds of a process that died are dropped.
const heldFile = "usage-held.json"

// Spend is what a profile spent and what requests in flight hold: the
// day's tokens, the day's and the month's dollars (UTC).
type Spend struct {
	Tokens     int64
	HeldTokens int64
	DayUSD     float64
	MonthUSD   float64
	HeldUSD    float64
	// MonthTokens are the month's tokens (shown by okv status).
	MonthTokens int64
}

type heldEntry struct {
	PID     int                `json:"pid"`
	Held    map[string]int64   `json:"held"`               // profile → tokens held
	HeldUSD map[string]float64 `json:"held_usd,omitempty"` // profile → dollars held
	Since   time.Time          `json:"since"`              // the entry's last change
}

// heldStale is how long an entry of a live process counts without a
// change: past it (a process id reused by another program) it is dropped.
const heldStale = 24 * time.Hour

type holds struct {
	id   string
	next uint64 // the last hold id given
	// mine is this ledger's holds, by id: requests in flight, and
	// finished ones whose records are not written yet (hundreds at
	// saturation). Changed only by putHold and dropHold, which keep sums.
	mine map[uint64]hold
	// sums is what mine adds up to per profile, kept as it changes: Hold
	// and writeHeld read it instead of going over mine on every hold.
	sums map[string]holdSum
}

type holdSum struct {
	count int
	n     int64
	usd   float64
}

type hold struct {
	profile string
	n       int64
	usd     float64
}

func (l *FileLedger) holdsInit() error {
	if l.h.id != "" {
		return nil
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	l.h.id = hex.EncodeToString(b[:])
	l.h.mine = map[uint64]hold{}
	l.h.sums = map[string]holdSum{}
	return nil
}

// putHold makes h hold id (a new hold, or a raised one).
func (l *FileLedger) putHold(id uint64, h hold) {
	l.dropHold(id)
	l.h.mine[id] = h
	s := l.h.sums[h.profile]
	s.count++
	s.n += h.n
	s.usd += h.usd
	l.h.sums[h.profile] = s
}

// dropHold drops hold id, if it is held. A profile's last hold dropped
// leaves no sum: exactly 0, not what the floats' additions and
// subtractions leave.
func (l *FileLedger) dropHold(id uint64) {
	h, ok := l.h.mine[id]
	if !ok {
		return
	}
	delete(l.h.mine, id)
	s := l.h.sums[h.profile]
	if s.count--; s.count <= 0 {
		delete(l.h.sums, h.profile)
		return
	}
	s.n -= h.n
	s.usd -= h.usd
	l.h.sums[h.profile] = s
}

// holdReq is one Hold waiting for the ledger, and its answer.
type holdReq struct {
	profile string
	now     time.Time
	n       int64
	usd     float64
	done    []Record
	admit   func(Spend) bool

	answered bool // under l.mu
	id       uint64
	sp       Spend
	err      error
}

// Hold implements BudgetLedger.
//
// Holds asked together are answered together, as a database commits a
// group: each Hold queues its request and takes l.mu, and whoever gets it
// answers every request queued by then under one taking of the file
// lock, one look at the files and one write of usage-held.json, in the
// order they were queued, each one's admit seeing the holds granted
// before it. A Hold whose request an earlier holder answered returns at
// once. So requests that arrive while another holds the lock pay for the
// ledger's system calls together, not once each, one after the other
// (make bench-proxy's saturation case under a budget: the proxy's CPU per
// request). A request that arrives alone costs what it did.
func (l *FileLedger) Hold(profile string, now time.Time, n int64, usd float64, done []Record, admit func(Spend) bool) (uint64, Spend, error) {
	r := &holdReq{profile: profile, now: now, n: n, usd: usd, done: done, admit: admit}
	l.hqMu.Lock()
	l.hq = append(l.hq, r)
	l.hqMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !r.answered {
		l.hqMu.Lock()
		batch := l.hq
		l.hq = nil
		l.hqMu.Unlock()
		l.holdBatch(batch)
	}
	return r.id, r.sp, r.err
}

// holdBatch answers batch (holding l.mu).
func (l *FileLedger) holdBatch(batch []*holdReq) {
	fail := func(err error) {
		for _, r := range batch {
			if !r.answered {
				r.answered, r.id, r.sp, r.err = true, 0, Spend{}, err
			}
		}
	}
	if err := l.holdsInit(); err != nil {
		fail(fmt.Errorf("usage ledger: %w", err))
		return
	}
	if err := l.lockLedger(); err != nil {
		fail(err)
		return
	}
	defer l.lock.Unlock()
	var (
		d      *dayTotals
		dNow   time.Time
		all    map[string]heldEntry
		added  []uint64 // holds granted in this batch
		failed error
	)
	for _, r := range batch {
		if failed != nil {
			break
		}
		// The totals are looked at once per batch: under the lock
		// nothing else changes them. A batch that spans a UTC midnight
		// looks again for the new day.
		if d == nil || !sameUTCDay(dNow, r.now) {
			var err error
			if d, err = l.totals(r.now); err != nil {
				failed = err
				break
			}
			dNow = r.now
		}
		if all == nil {
			var err error
			if all, err = l.readHeld(r.now); err != nil {
				failed = err
				break
			}
		}
		r.answered = true
		r.id, r.sp, r.err = l.holdOne(d, all, r)
		if r.err != nil {
			var te *ErrLedgerTampered
			if !errors.As(r.err, &te) {
				failed = r.err
			}
			continue
		}
		if r.id != 0 {
			added = append(added, r.id)
		}
	}
	if failed != nil {
		// An error of the ledger itself (not a verdict): no request of
		// the batch is admitted on a view that may be wrong. Its holds
		// were not written yet.
		for _, id := range added {
			l.dropHold(id)
		}
		for _, r := range batch {
			r.answered, r.id, r.err = true, 0, failed
		}
		return
	}
	if len(added) == 0 {
		return
	}
	if err := l.writeHeld(all, dNow); err != nil {
		for _, id := range added {
			l.dropHold(id)
		}
		for _, r := range batch {
			if r.id != 0 {
				r.id, r.err = 0, err
			}
		}
	}
}

func sameUTCDay(a, b time.Time) bool {
	ay, am, ad := a.UTC().Date()
	by, bm, bd := b.UTC().Date()
	return ay == by && am == bm && ad == bd
}

// holdOne answers r from the totals d and the other processes' holds
// all (holding l.mu and the lock), and holds r.n when r.admit agrees.
func (l *FileLedger) holdOne(d *dayTotals, all map[string]heldEntry, r *holdReq) (uint64, Spend, error) {
	profile, now := r.profile, r.now
	if d.Tampered != "" {
		return 0, Spend{}, &ErrLedgerTampered{Why: d.Tampered}
	}
	spent := d.Days[dayKey(now)][profile]
	// The day's spend never goes down: if it does, the ledger was cut
	// while this process ran.
	day := dayKey(now)
	if l.seenDay != day {
		l.seenDay, l.seen = day, map[string]int64{}
	}
	if spent < l.seen[profile] {
		why := fmt.Sprintf("today's tokens of profile %s went down from %d to %d while okv ran", profile, l.seen[profile], spent)
		if err := l.markTampered(why); err != nil {
			return 0, Spend{}, err
		}
		return 0, Spend{}, &ErrLedgerTampered{Why: why}
	}
	l.seen[profile] = spent
	sp := d.spend(profile, now)
	for id, e := range all {
		if id != l.h.id {
			sp.HeldTokens += e.Held[profile]
			sp.HeldUSD += e.HeldUSD[profile]
		}
	}
	// The finished requests count as the month file will count them once
	// their records are written to it (appendLocked: the current month's
	// file, d.File, counts the records of its month), and their holds do
	// not. Other processes go on seeing those holds, the estimates, until
	// the records are written: to them the requests are still in flight.
	// totals(now) counts the month file of now's month: compared as
	// dates here, not by formatting names for every record.
	ny, nm, nd := now.UTC().Date()
	mine := l.h.sums[profile]
	mt, mu := mine.n, mine.usd
	for i := range r.done {
		rec := &r.done[i]
		if h, ok := l.h.mine[rec.Hold]; ok && rec.Hold != 0 && h.profile == profile {
			mt -= h.n
			mu -= h.usd
		}
		ry, rm, rd := rec.Time.UTC().Date()
		if rec.Profile != profile || ry != ny || rm != nm {
			continue
		}
		var usd float64
		if rec.CostUSD != nil {
			usd = *rec.CostUSD
		}
		sp.MonthTokens += rec.TotalTokens
		sp.MonthUSD += usd
		if rd == nd {
			sp.Tokens += rec.TotalTokens
			sp.DayUSD += usd
		}
	}
	sp.HeldTokens += mt
	sp.HeldUSD += mu
	if !r.admit(sp) {
		return 0, sp, nil
	}
	l.h.next++
	id := l.h.next
	l.putHold(id, hold{profile, r.n, r.usd})
	return id, sp, nil
}

// spend is profile's spend at now from the totals (holds not included).
func (d *dayTotals) spend(profile string, now time.Time) Spend {
	day := dayKey(now)
	return Spend{Tokens: d.Days[day][profile], DayUSD: d.USD[day][profile],
		MonthTokens: d.MonthTokens[profile], MonthUSD: d.MonthUSD[profile]}
}

// release drops the holds of records (called holding l.mu and the lock,
// after the records were written). It reports whether any was dropped.
func (l *FileLedger) release(records []Record) bool {
	any := false
	for _, r := range records {
		if _, ok := l.h.mine[r.Hold]; ok && r.Hold != 0 {
			l.dropHold(r.Hold)
			any = true
		}
	}
	return any
}

// readHeld reads the live entries of usage-held.json (holding the
// lock): one pread of the file kept open, parsed again only when its
// bytes changed. A missing or empty file holds nothing. A file that
// cannot be read, is larger than okv writes or is not JSON is an error
// (heldUnreadable), never taken as holding nothing: the next write would
// keep only this process's holds, and the other processes' requests in
// flight would vanish from every budget. The entries of a process that
// is gone are dropped.
func (l *FileLedger) readHeld(now time.Time) (map[string]heldEntry, error) {
	path := filepath.Join(l.Dir, heldFile)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		l.closeHeld()
		return map[string]heldEntry{}, nil
	}
	if err != nil {
		l.closeHeld()
		return nil, fmt.Errorf("usage ledger: %w", err)
	}
	if l.hf == nil || !os.SameFile(fi, l.hfi) {
		l.closeHeld()
		f, st, err := openLedgerStat(path, os.O_RDWR)
		if err != nil {
			return nil, err
		}
		l.hf, l.hfi = f, st
	}
	l.hsize = fi.Size()
	if l.hsize > maxLedgerLine {
		return nil, heldUnreadable(path, fmt.Sprintf("%d bytes, more than okv writes", l.hsize))
	}
	buf := make([]byte, l.hsize)
	k, err := l.hf.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("usage ledger: %w", err)
	}
	if buf = buf[:k]; l.hall == nil || !bytes.Equal(buf, l.hbuf) {
		all := map[string]heldEntry{}
		// The first JSON value is the holds: writeHeld writes in
		// place, then truncates, and a crash between the two leaves
		// the new holds followed by the tail of the old ones.
		if len(bytes.TrimSpace(buf)) > 0 {
			if err := json.NewDecoder(bytes.NewReader(buf)).Decode(&all); err != nil {
				return nil, heldUnreadable(path, "not the JSON okv writes")
			}
		}
		l.hbuf, l.hall = buf, all
	}
	pid := os.Getpid()
	live := make(map[string]heldEntry, len(l.hall))
	for id, e := range l.hall {
		if e.PID > 0 && (e.PID == pid || processAlive(e.PID)) && now.Sub(e.Since) <= heldStale {
			live[id] = e
		}
	}
	return live, nil
}

// heldUnreadable is the error of a usage-held.json that okv did not
// write (edited, or torn by a power loss). It holds only estimates of
// requests in flight, never recorded spend, so removing it is the cure.
func heldUnreadable(path, why string) error {
	return fmt.Errorf("usage ledger: %w", &FileError{Path: path,
		Problem: "is " + why + ", so the holds of requests in flight cannot be counted and budgeted requests are refused",
		Fix:     "remove it (it holds only estimates of requests in flight, the spend is in the month files)"})
}

// writeHeld writes all with this ledger's entry brought up to date.
func (l *FileLedger) writeHeld(all map[string]heldEntry, now time.Time) error {
	mine := make(map[string]int64, len(l.h.sums))
	var usd map[string]float64
	for profile, s := range l.h.sums {
		mine[profile] = s.n
		if s.usd > 0 {
			if usd == nil {
				usd = map[string]float64{}
			}
			usd[profile] = s.usd
		}
	}
	if len(mine) == 0 {
		delete(all, l.h.id)
	} else {
		all[l.h.id] = heldEntry{PID: os.Getpid(), Held: mine, HeldUSD: usd, Since: now.UTC()}
	}
	b, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("usage ledger: %w", err)
	}
	// In place, not by a temporary file and a rename: it is written on
	// every hold and release, always under usage.lock (so no reader sees
	// it half-written). A crash between the pwrite and the truncate
	// leaves the new JSON followed by a tail of the old, which readHeld
	// reads as the new (its first JSON value); a file torn otherwise (a
	// power loss) is refused until it is removed (heldUnreadable), which
	// drops only the estimates of requests in flight, never recorded
	// spend. One pwrite on the
	// file kept open, and a truncate when it got shorter.
	if l.hf == nil {
		f, st, err := openLedgerStat(filepath.Join(l.Dir, heldFile), os.O_RDWR|os.O_CREATE)
		if err != nil {
			return err
		}
		l.hf, l.hfi, l.hsize = f, st, st.Size()
	}
	if _, err := l.hf.WriteAt(b, 0); err != nil {
		// Cut short (a full disk, as the file grew), it leaves a torn
		// file, which readHeld refuses until it is removed: the bytes
		// it had (readHeld's, under this lock) are put back, in the
		// blocks they had, so every okv reads the holds again once
		// there is room.
		if _, rerr := l.hf.WriteAt(l.hbuf, 0); rerr == nil {
			_ = l.hf.Truncate(int64(len(l.hbuf)))
		}
		l.closeHeld()
		return fmt.Errorf("usage ledger: %w", err)
	}
	if int64(len(b)) < l.hsize {
		if err := l.hf.Truncate(int64(len(b))); err != nil {
			l.closeHeld()
			return fmt.Errorf("usage ledger: %w", err)
		}
	}
	l.hsize, l.hbuf, l.hall = int64(len(b)), b, all
	if !keepOpen {
		l.closeHeld()
	}
	return nil
}

// markTampered records why in the day totals (holding the lock, after
// totals), for every process to see.
func (l *FileLedger) markTampered(why string) error {
	if l.tot == nil || l.tot.Tampered != "" {
		return nil
	}
	l.tot.Tampered = why
	return l.writeDays(true)
}

// Raise implements BudgetLedger.
func (l *FileLedger) Raise(id uint64, n int64, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.h.mine[id]
	if !ok || h.n >= n {
		return nil
	}
	if err := l.lockLedger(); err != nil {
		return err
	}
	defer l.lock.Unlock()
	h.n = n
	l.putHold(id, h) // counted here even when the file cannot be written
	all, err := l.readHeld(now)
	if err != nil {
		return err
	}
	return l.writeHeld(all, now)
}

// ProfileSpend is profile's spend at now as the ledger in dir counts it
// (okv status): the UTC day's and month's tokens and dollars, brought up
// to date under the ledger's lock. Holds of requests in flight are not
// included.
func ProfileSpend(dir, profile string, now time.Time) (Spend, error) {
	months, _ := filepath.Glob(filepath.Join(dir, "usage-[0-9][0-9][0-9][0-9]-[0-9][0-9].jsonl"))
	if _, err := os.Lstat(filepath.Join(dir, daysFile)); err != nil && len(months) == 0 {
		return Spend{}, nil // no ledger yet: nothing written
	}
	lk, err := newLedgerLock(filepath.Join(dir, ledgerLock))
	if err != nil {
		return Spend{}, fmt.Errorf("usage ledger: %w", err)
	}
	if err := lk.Lock(); err != nil {
		return Spend{}, fmt.Errorf("usage ledger: lock %s: %w", ledgerLock, err)
	}
	defer lk.Close()
	d, err := settle(dir, now)
	if err != nil {
		return Spend{}, err
	}
	return d.spend(profile, now), nil
}
