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
	"sync"
	"time"
)

// Record is one request seen by the proxy. It never holds a body, a header
// value, a key or a token.
type Record struct {
	Time             time.Time `json:"time"`
	Profile          string    `json:"profile"`
	Method           string    `json:"method"`
	Path             string    `json:"path"`
	Model            string    `json:"model,omitempty"`
	Status           int       `json:"status"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	TotalTokens      int64     `json:"total_tokens"`
	LatencyMS        float64   `json:"latency_ms"`
	Streamed         bool      `json:"streamed,omitempty"`
	// Refused is the error code when the proxy itself refused the request
	// (invalid_api_key, model_not_allowed, rate_limit_exceeded, …); such a
	// request never reached the upstream.
	Refused string `json:"refused,omitempty"`
}

// Ledger receives one Record per request. Append is called from the
// request's goroutine, concurrently for concurrent requests.
type Ledger interface {
	Append(Record) error
}

// FileLedger appends records as JSON lines to Path (created 0600), safe
// across goroutines and processes: lines are written with single write(2)
// calls on an O_APPEND descriptor while holding an exclusive advisory lock
// on Path+".lock" (flock(2) on a descriptor kept open, the same lock
// gofrs/flock takes, so the two exclude each other; gofrs/flock itself on
// Windows and where flock(2) is missing). Concurrent appends in one process are
// grouped into one locked write (group commit); each Append still returns
// only once its own line is written. Use it through a pointer; Close
// releases the open file.
type FileLedger struct {
	Path string

	mu      sync.Mutex
	cond    *sync.Cond
	cur     *ledgerBatch // lines waiting for the next write
	spare   []byte       // a written batch's buffer, for the next one
	writing bool         // a goroutine is writing a batch
	f       *os.File     // used by the writing goroutine only
	lock    *fileLock
}

type ledgerBatch struct {
	buf  []byte
	done bool
	err  error
}

// Append writes r as one line.
func (l *FileLedger) Append(r Record) error { return l.AppendAll([]Record{r}) }

// AppendAll writes records as lines, in order, in one locked write.
func (l *FileLedger) AppendAll(records []Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cond == nil {
		l.cond = sync.NewCond(&l.mu)
	}
	if l.cur == nil {
		l.cur = &ledgerBatch{buf: l.spare}
		l.spare = nil
	}
	b := l.cur
	start := len(b.buf)
	for i := range records {
		var err error
		if b.buf, err = appendRecord(b.buf, &records[i]); err != nil {
			b.buf = b.buf[:start] // none of these records, as if never called
			return fmt.Errorf("usage ledger: %w", err)
		}
		b.buf = append(b.buf, '\n')
	}
	for !b.done {
		if l.writing {
			l.cond.Wait()
			continue
		}
		// Nobody is writing, so b is still the current batch: write it.
		l.cur, l.writing = nil, true
		l.mu.Unlock()
		err := l.write(b.buf)
		l.mu.Lock()
		b.done, b.err, l.writing = true, err, false
		if cap(b.buf) <= 2<<20 {
			l.spare = b.buf[:0] // written: the next batch can fill it
		}
		b.buf = nil
		l.cond.Broadcast()
	}
	return b.err
}

func (l *FileLedger) write(buf []byte) error {
	if l.f == nil {
		f, err := os.OpenFile(l.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("usage ledger: %w", err)
		}
		l.f = f
		l.lock = newFileLock(l.Path + ".lock")
	}
	if err := l.lock.Lock(); err != nil {
		return fmt.Errorf("usage ledger: lock %s.lock: %w", l.Path, err)
	}
	_, werr := l.f.Write(buf)
	uerr := l.lock.Unlock()
	if werr != nil {
		// Reopen on the next append (the file may have been moved away).
		_ = l.f.Close()
		_ = l.lock.Close()
		l.f = nil
		return fmt.Errorf("usage ledger: %w", werr)
	}
	if uerr != nil {
		return fmt.Errorf("usage ledger: unlock: %w", uerr)
	}
	return nil
}

// Close closes the ledger file; a later Append opens it again.
func (l *FileLedger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.writing {
		l.cond.Wait()
	}
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if lerr := l.lock.Close(); err == nil {
		err = lerr
	}
	return err
}

// maxLedgerLine bounds one line of a ledger file.
const maxLedgerLine = 1 << 20

// ReadLedger reads the records of a ledger file. A missing file has no
// records. A last line without its newline (a write cut short) is ignored;
// any other line that is not a record is an error naming its line number.
func ReadLedger(path string) ([]Record, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("usage ledger: %w", err)
	}
	defer f.Close()
	return readLedger(f, path)
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
			// No newline: a torn last write, or nothing at all.
			return recs, nil
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
