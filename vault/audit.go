package vault

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

const auditFile = "audit.jsonl"

// AuditRecord is one line of audit.jsonl. It never holds a value.
type AuditRecord struct {
	Time    time.Time `json:"time"`
	Op      string    `json:"op"`
	Profile string    `json:"profile,omitempty"`
	Secrets []string  `json:"secrets,omitempty"`
	Command string    `json:"command,omitempty"`
	Dir     string    `json:"dir,omitempty"`
	PID     int       `json:"pid"`
	Prev    string    `json:"prev"`
	Hash    string    `json:"hash"`
}

// hashRecord is sha256 over the record's JSON with Hash empty; Prev links
// it to the record before, so an edited, deleted or reordered line breaks
// the chain.
func hashRecord(r AuditRecord) string {
	r.Hash = ""
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// AuditPath is the audit log's file.
func (v *Vault) AuditPath() string { return filepath.Join(v.Dir, auditFile) }

// Audit appends r to the audit log under the vault lock, chained to the
// last record.
func (v *Vault) Audit(r AuditRecord) error {
	unlock, err := v.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	return v.auditLocked(r)
}

func (v *Vault) auditLocked(r AuditRecord) error {
	path := v.AuditPath()
	f, err := openVaultFile(path, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := checkPerm(path, fi); err != nil {
		return err
	}
	last, size, err := lastLine(f)
	if err != nil {
		return err
	}
	if len(last) > 0 {
		var prev AuditRecord
		if err := json.Unmarshal(last, &prev); err != nil {
			return fmt.Errorf("audit log %s: last line is not a record; run okv log --verify", path)
		}
		r.Prev = prev.Hash
	}
	if r.Time.IsZero() {
		r.Time = v.Now()
	}
	r.Time = r.Time.UTC()
	r.Hash = hashRecord(r)
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if _, err := f.WriteAt(line, size); err != nil {
		return err
	}
	// A torn final line longer than this record must not survive past it.
	return f.Truncate(size + int64(len(line)))
}

// lastLine returns the last complete line of f (without its newline) and
// the offset where the next line goes. A torn final line (no newline, from
// a crash mid-write) is overwritten by the next record.
func lastLine(f *os.File) ([]byte, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	const chunk = 64 << 10
	start := max(size-chunk, 0)
	buf := make([]byte, size-start)
	if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		if start == 0 {
			return nil, 0, nil
		}
		return nil, 0, errors.New("audit log line longer than 64 KiB")
	}
	body := buf[:end]
	i := bytes.LastIndexByte(body, '\n')
	if i < 0 && start > 0 {
		return nil, 0, errors.New("audit log line longer than 64 KiB")
	}
	return body[i+1:], start + int64(end) + 1, nil
}

// ReadAudit reads every record of the audit log.
func (v *Vault) ReadAudit() ([]AuditRecord, error) {
	f, err := openVaultFile(v.AuditPath(), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AuditRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		var r AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return out, fmt.Errorf("audit log line %d is not a record", n)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// AuditBreak describes where the chain is broken.
type AuditBreak struct {
	Line   int
	Reason string
}

// VerifyAudit checks the hash chain and returns every break found.
func (v *Vault) VerifyAudit() (records int, breaks []AuditBreak, err error) {
	f, err := openVaultFile(v.AuditPath(), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	return VerifyAuditStream(f)
}

// VerifyAuditStream checks an audit log read from r.
func VerifyAuditStream(r io.Reader) (records int, breaks []AuditBreak, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prevHash := ""
	n := 0
	for sc.Scan() {
		n++
		var rec AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			breaks = append(breaks, AuditBreak{n, "not a valid record"})
			prevHash = "?"
			continue
		}
		switch {
		case hashRecord(rec) != rec.Hash:
			breaks = append(breaks, AuditBreak{n, "the record was edited (its hash does not match its content)"})
		case prevHash != "?" && rec.Prev != prevHash:
			if n == 1 {
				breaks = append(breaks, AuditBreak{n, "the first record points to an earlier one: lines were deleted from the start"})
			} else {
				breaks = append(breaks, AuditBreak{n, "the record does not follow the one before it: a line was deleted, inserted or reordered"})
			}
		}
		prevHash = rec.Hash
	}
	return n, breaks, sc.Err()
}
