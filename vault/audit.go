package vault

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

const (
	auditFile     = "audit.jsonl"
	auditHeadFile = "audit.head"
)

// AuditRecord is one line of audit.jsonl. It never holds a value.
//
// A record is keyed (Key, MAC and Seq set: an HMAC-SHA256 under a key
// derived from the vault's identity, over the record and the link to the
// one before it) or, as every okv before the keyed log wrote them, only
// hashed (Hash: sha256 of the record, not keyed: anyone can recompute it).
type AuditRecord struct {
	Time    time.Time `json:"time"`
	Op      string    `json:"op"`
	Profile string    `json:"profile,omitempty"`
	Secrets []string  `json:"secrets,omitempty"`
	Command string    `json:"command,omitempty"`
	Dir     string    `json:"dir,omitempty"`
	PID     int       `json:"pid"`
	Seq     int       `json:"seq,omitempty"` // keyed: the record's line number
	Prev    string    `json:"prev"`
	Hash    string    `json:"hash,omitempty"`
	Key     string    `json:"key,omitempty"`
	MAC     string    `json:"mac,omitempty"`
}

// Keyed reports whether r carries a MAC.
func (r AuditRecord) Keyed() bool { return r.MAC != "" }

// link is what the next record's Prev must hold.
func (r AuditRecord) link() string {
	if r.Keyed() {
		return r.MAC
	}
	return r.Hash
}

// legacyRecord is the unkeyed record exactly as okv wrote it before the
// log was keyed: its hash is over this encoding, so old logs stay
// verifiable.
type legacyRecord struct {
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

// hashRecord is sha256 over the legacy encoding with Hash empty.
func hashRecord(r AuditRecord) string {
	b, _ := json.Marshal(legacyRecord{r.Time, r.Op, r.Profile, r.Secrets, r.Command, r.Dir, r.PID, r.Prev, ""})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// AuditKey authenticates the audit log: HMAC-SHA256 under a key derived
// from an age identity, so writing a record that verifies needs the
// identity, not just write access to audit.jsonl.
type AuditKey struct {
	ID  string // public: names the key in records, reveals nothing of it
	key []byte
}

func (k *AuditKey) mac(domain string, b []byte) string {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(domain))
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// AuditKeys derives the audit keys of the identities among ids that hold
// a secret okv can read (X25519, hybrid, and SSH keys read from a file;
// not plugin identities, whose secret stays in the plugin), in order: the
// first is the one okv writes with. The key is HKDF-SHA256 over the
// identity's secret (AGE-SECRET-KEY-1…, a fixed encoding of its secret
// scalar; an SSH key's private scalar), salted with the vault id so
// two vaults unlocked by one identity (a project vault and the personal
// one) have different keys.
func (v *Vault) AuditKeys(ids []age.Identity) []*AuditKey {
	var keys []*AuditKey
	for _, id := range ids {
		var secret string
		switch id := id.(type) {
		case *age.X25519Identity:
			secret = id.String()
		case *age.HybridIdentity:
			secret = id.String()
		case *sshIdentity:
			secret = string(id.auditSecret)
		default:
			continue
		}
		k, err := hkdf.Key(sha256.New, []byte(secret), []byte(v.Config.VaultID), "okv audit log v2", 32)
		if err != nil {
			continue
		}
		ak := &AuditKey{key: k}
		ak.ID = ak.mac("okv audit key id\n", nil)[:16]
		keys = append(keys, ak)
	}
	return keys
}

// sshIdentity is an SSH identity with the secret okv keys the audit log
// with: agessh keeps the private key unexported.
type sshIdentity struct {
	age.Identity
	auditSecret []byte
}

// withAuditSecret wraps id, parsed from the unencrypted OpenSSH key pem,
// with that key's private scalar.
func withAuditSecret(id age.Identity, pem []byte) age.Identity {
	k, err := ssh.ParseRawPrivateKey(pem)
	if err != nil {
		return id
	}
	var secret []byte
	switch k := k.(type) {
	case *ed25519.PrivateKey:
		secret = k.Seed()
	case ed25519.PrivateKey:
		secret = k.Seed()
	case *rsa.PrivateKey:
		secret = k.D.Bytes()
	default:
		return id
	}
	return &sshIdentity{Identity: id, auditSecret: append([]byte("okv ssh identity\n"), secret...)}
}

// auditHead anchors the log's end in audit.head: how many records the
// log held after the last keyed append and that record's MAC, itself
// MAC'd. A log cut at its end no longer reaches the count; a writer of
// audit.jsonl without the identity cannot make a head that matches a cut
// log (only put back an older head it kept).
type auditHead struct {
	Records int    `json:"records"`
	Last    string `json:"last"`
	Key     string `json:"key"`
	MAC     string `json:"mac,omitempty"`
}

func (h auditHead) sum(k *AuditKey) string {
	h.MAC = ""
	b, _ := json.Marshal(h)
	return k.mac("okv audit head v1\n", b)
}

// AuditPath is the audit log's file.
func (v *Vault) AuditPath() string { return filepath.Join(v.Dir, auditFile) }

// AuditHeadPath is the file that anchors the audit log's end.
func (v *Vault) AuditHeadPath() string { return filepath.Join(v.Dir, auditHeadFile) }

// AuditHeadMismatchError: a keyed record was appended, but the head
// anchor does not match the log it was appended to (lines cut from the
// end, or audit.head removed or replaced). The head is left as it was,
// so 'okv log --verify' keeps reporting it.
type AuditHeadMismatchError struct{ Reason string }

func (e *AuditHeadMismatchError) Error() string {
	return "the audit log does not match its head anchor (" + e.Reason + "): run 'okv log --verify'"
}

// Audit appends r to the audit log under the vault lock, chained to the
// last record. With key it is keyed and audit.head is moved to it; with
// nil (no identity with a readable secret at hand) it is only hashed, and 'okv log
// --verify' will report it as not authenticated.
func (v *Vault) Audit(r AuditRecord, key *AuditKey) error {
	unlock, err := v.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	return v.auditLocked(r, key)
}

func (v *Vault) auditLocked(r AuditRecord, key *AuditKey) error {
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
	last, size, err := lastLine(f, fi.Size())
	if err != nil {
		return err
	}
	var prev AuditRecord
	if len(last) > 0 {
		if err := json.Unmarshal(last, &prev); err != nil {
			return fmt.Errorf("audit log %s: last line is not a record; run okv log --verify", path)
		}
		r.Prev = prev.link()
	}
	if r.Time.IsZero() {
		r.Time = v.Now()
	}
	r.Time = r.Time.UTC()
	r.Seq, r.Hash, r.Key, r.MAC = 0, "", "", ""
	if key == nil {
		r.Hash = hashRecord(r)
	} else {
		switch {
		case len(last) == 0:
			r.Seq = 1
		case prev.Keyed():
			r.Seq = prev.Seq + 1
		default:
			// After hashed-only records (an older okv's, or written
			// without the key): count the lines once.
			n, err := countLines(f, size)
			if err != nil {
				return err
			}
			r.Seq = n + 1
		}
		r.Key = key.ID
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if key != nil {
		// The MAC covers the record without it; MAC is the record's last
		// field and hex, so the keyed line is that encoding with the
		// field added at the end, as json.Marshal would write it
		// (TestAuditLineIsMarshal): one encoding per append, not two.
		r.MAC = key.mac("okv audit record v2\n", line)
		line = append(append(append(line[:len(line)-1:len(line)-1], `,"mac":"`...), r.MAC...), `"}`...)
	}
	line = append(line, '\n')
	if _, err := f.WriteAt(line, size); err != nil {
		return err
	}
	// A torn final line longer than this record must not survive past it
	// (only then: one system call less on every run).
	if end := size + int64(len(line)); fi.Size() > end {
		if err := f.Truncate(end); err != nil {
			return err
		}
	}
	if key == nil {
		return nil
	}
	return v.moveHead(key, prev, len(last) > 0, r)
}

// moveHead points audit.head at r, the keyed record just appended after
// prev, but only when the head it replaces matches the log: a head that
// counts more records than the log holds (a cut tail), that is missing
// while the log holds keyed records, or that this key cannot check is
// left alone as evidence.
func (v *Vault) moveHead(key *AuditKey, prev AuditRecord, hadPrev bool, r AuditRecord) error {
	f, old, size, err := v.openHead()
	if f != nil {
		defer f.Close()
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if hadPrev && prev.Keyed() {
			return &AuditHeadMismatchError{"audit.head is missing"}
		}
		if v.Config.IsProject() {
			if err := v.gitignoreHead(); err != nil {
				return err
			}
		}
	case errors.As(err, new(*LinkError)):
		// A linked head (a symbolic link, or a file with other names: a
		// hard link) is not moved: moving it would write the link's other
		// file. The record is in the log and the head
		// lags behind it, as after a crash between the two writes, which
		// the next move and verify accept.
		return err
	case err != nil:
		return &AuditHeadMismatchError{err.Error()}
	case old.Key != key.ID:
		return &AuditHeadMismatchError{"audit.head was written with another identity's key"}
	case !hmac.Equal([]byte(old.sum(key)), []byte(old.MAC)):
		return &AuditHeadMismatchError{"audit.head was edited"}
	case !prev.Keyed() && hadPrev:
		// Hashed-only records after the head: verify reports them.
	case prev.Seq < old.Records:
		return &AuditHeadMismatchError{fmt.Sprintf("the head counts %d records, the log ends at record %d", old.Records, prev.Seq)}
	case prev.Seq == old.Records && prev.MAC != old.Last:
		return &AuditHeadMismatchError{"the last record is not the one the head names"}
	}
	h := auditHead{Records: r.Seq, Last: r.MAC, Key: key.ID}
	h.MAC = h.sum(key)
	b, _ := json.Marshal(h)
	if f == nil {
		// The first head: a temp file renamed into place, so that a
		// killed okv leaves no head or a whole one.
		return replaceFile(v.AuditHeadPath(), append(b, '\n'))
	}
	// Moved in place, under the lock, with one write at offset 0 (okv
	// run's start-up, issue 21: a temp file, chmod and rename cost about
	// 0.2 ms). The head is a couple of hundred bytes, within one page,
	// and a write within a page reaches the page cache whole or not at
	// all: a killed okv leaves the old head or the new one, as the rename
	// did. It never shrinks: a shorter head (it never is with one key:
	// the record count only grows) is padded with spaces, which JSON
	// ignores, so no truncate can be left undone. Power loss is as before
	// (neither file is synced): see replaceFile.
	if pad := int(size) - len(b) - 1; pad > 0 {
		b = append(b, bytes.Repeat([]byte(" "), pad)...)
	}
	_, err = f.WriteAt(append(b, '\n'), 0)
	return err
}

// replaceFile is WriteFileAtomic without the fsyncs: a temp file renamed
// over path, so a killed okv leaves the old head or the new one. The
// fsyncs cost 11 ms of every okv run here (BenchmarkAuditAppend) and the
// log itself is not synced either; after a power loss the head can be
// ahead of the log, which verify reports as a cut (README says so).
func replaceFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := f.Chmod(filePerm); err != nil && runtime.GOOS != "windows" {
		f.Close()
		os.Remove(tmp)
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// gitignoreHead adds audit.head to a project vault's .gitignore written
// by an okv that did not know it: the anchor is per checkout (keyed with
// its owner's identity), and a teammate's committed one would stop
// everyone else's from moving.
func (v *Vault) gitignoreHead() error {
	path := filepath.Join(v.Dir, ".gitignore")
	f, err := openVaultFile(path, os.O_RDONLY, 0) // a cloned .okv's links are never followed
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return err
	}
	for _, l := range bytes.Split(data, []byte("\n")) {
		if string(bytes.TrimSpace(l)) == auditHeadFile {
			return nil
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	return WriteFileAtomic(path, append(data, "# okv: the audit log's anchor, per checkout\n"+auditHeadFile+"\n"...))
}

func (v *Vault) readHead() (auditHead, error) {
	data, err := readChecked(v.AuditHeadPath())
	if err != nil {
		return auditHead{}, err
	}
	return parseHead(data)
}

// openHead opens audit.head for moveHead to rewrite in place, with what
// it holds and its size; f is nil when it cannot be opened (err says why:
// a head with other names, a hard link, is a LinkError).
func (v *Vault) openHead() (f *os.File, h auditHead, size int64, err error) {
	path := v.AuditHeadPath()
	if f, err = openVaultFile(path, os.O_RDWR, 0); err != nil {
		return nil, h, 0, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkPerm(path, fi)
	}
	if err == nil && fi.Size() > 64<<10 {
		err = errors.New("audit.head is damaged")
	}
	if err != nil {
		f.Close()
		return nil, h, 0, err
	}
	data := make([]byte, fi.Size())
	n, err := io.ReadFull(f, data)
	if err != nil {
		f.Close()
		return nil, h, 0, err
	}
	h, err = parseHead(data[:n])
	return f, h, fi.Size(), err
}

func parseHead(data []byte) (auditHead, error) {
	var h auditHead
	if err := json.Unmarshal(data, &h); err != nil || h.MAC == "" {
		return h, errors.New("audit.head is damaged")
	}
	return h, nil
}

// countLines counts the newlines in f's first size bytes.
func countLines(f *os.File, size int64) (int, error) {
	n := 0
	buf := make([]byte, 64<<10)
	for off := int64(0); off < size; {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		n += bytes.Count(buf[:k], []byte{'\n'})
		off += int64(k)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if k == 0 {
			break
		}
	}
	return n, nil
}

// lastLine returns the last complete line of f (without its newline) and
// the offset where the next line goes, in f's first size bytes. A torn final line (no newline, from
// a crash mid-write) is overwritten by the next record. It reads a 4 KiB
// tail first (a record is a few hundred bytes: this runs on every okv run)
// and 64 KiB, the longest line it accepts, only when that is not enough.
func lastLine(f *os.File, size int64) ([]byte, int64, error) {
	for _, chunk := range []int64{4 << 10, 64 << 10} {
		line, next, found, err := lastLineIn(f, size, chunk)
		if found || err != nil || chunk >= size {
			return line, next, err
		}
	}
	return nil, 0, errors.New("audit log line longer than 64 KiB")
}

// lastLineIn looks for the last complete line in f's last chunk bytes;
// found is false when the chunk is too short to tell.
func lastLineIn(f *os.File, size, chunk int64) (line []byte, next int64, found bool, err error) {
	start := max(size-chunk, 0)
	buf := make([]byte, size-start)
	if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, false, err
	}
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		if start == 0 {
			return nil, 0, true, nil
		}
		return nil, 0, false, nil
	}
	body := buf[:end]
	i := bytes.LastIndexByte(body, '\n')
	if i < 0 && start > 0 {
		return nil, 0, false, nil
	}
	return body[i+1:], start + int64(end) + 1, true, nil
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

// AuditBreak describes where the log is broken. Line 0 is the log as a
// whole (its head anchor).
type AuditBreak struct {
	Line   int
	Reason string
}

// AuditCheck is what VerifyAudit found.
type AuditCheck struct {
	Records int // lines in the log
	Legacy  int // hashed-only records before the first keyed one
	Keyed   int
	Breaks  []AuditBreak
}

// VerifyAudit checks the log with keys (from AuditKeys): every keyed
// record's MAC, the chain of links, and the head anchor. It holds the
// vault lock, so no append is seen half-done.
func (v *Vault) VerifyAudit(keys []*AuditKey) (AuditCheck, error) {
	unlock, err := v.Lock()
	if err != nil {
		return AuditCheck{}, err
	}
	defer unlock()
	f, err := openVaultFile(v.AuditPath(), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		f = nil
	} else if err != nil {
		return AuditCheck{}, err
	}
	var r io.Reader = bytes.NewReader(nil)
	if f != nil {
		defer f.Close()
		r = f
	}
	var head *auditHead
	switch h, err := v.readHead(); {
	case err == nil:
		head = &h
	case errors.Is(err, fs.ErrNotExist):
	default:
		head = &auditHead{} // damaged: reported below
	}
	byID := map[string]*AuditKey{}
	for _, k := range keys {
		byID[k.ID] = k
	}
	return verifyStream(r, head, byID)
}

// verifyStream checks an audit log read from r against head (nil: there
// is none) with the keys by their id.
func verifyStream(r io.Reader, head *auditHead, byID map[string]*AuditKey) (AuditCheck, error) {
	var c AuditCheck
	brk := func(line int, format string, args ...any) {
		c.Breaks = append(c.Breaks, AuditBreak{line, fmt.Sprintf(format, args...)})
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prevLink, prevSeq := "", 0
	macs := map[int]string{} // seq → MAC of valid keyed records, for the head
	lastSeq := 0
	seenKeyed := false
	n := 0
	for sc.Scan() {
		n++
		var rec AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			brk(n, "not a valid record")
			prevLink, prevSeq = "?", 0
			continue
		}
		ok := true
		if rec.Keyed() {
			seenKeyed = true
			k := byID[rec.Key]
			mac := rec.MAC
			rec.MAC = ""
			b, _ := json.Marshal(rec)
			rec.MAC = mac
			switch {
			case k == nil:
				brk(n, "the record is keyed with a key you do not hold (%s): written with another identity, or forged", rec.Key)
				ok = false
			case !hmac.Equal([]byte(k.mac("okv audit record v2\n", b)), []byte(mac)):
				brk(n, "the record was edited or forged (its MAC does not match)")
				ok = false
			}
		} else {
			switch {
			case hashRecord(rec) != rec.Hash:
				brk(n, "the record was edited (its hash does not match its content)")
				ok = false
			case seenKeyed:
				brk(n, "the record is not authenticated: written after the log was keyed by an okv that had no key (a plugin identity), or forged")
				ok = false
			}
		}
		switch {
		case !ok || prevLink == "?":
		case rec.Prev != prevLink && n == 1:
			brk(n, "the first record points to an earlier one: lines were deleted from the start")
			ok = false
		case rec.Prev != prevLink:
			brk(n, "the record does not follow the one before it: a line was deleted, inserted or reordered")
			ok = false
		case rec.Keyed() && rec.Seq != n && (prevSeq == 0 || rec.Seq != prevSeq+1):
			// Only a forger with the key could get here.
			brk(n, "the record says it is record %d", rec.Seq)
			ok = false
		}
		if ok && rec.Keyed() {
			c.Keyed++
			macs[rec.Seq] = rec.MAC
			lastSeq = max(lastSeq, rec.Seq)
		} else if ok {
			c.Legacy++
		}
		prevLink, prevSeq = rec.link(), rec.Seq
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	c.Records = n
	switch {
	case head == nil && seenKeyed:
		brk(0, "audit.head, the anchor of the log's end, is missing: lines may have been cut from the end")
	case head == nil:
		// Nothing keyed yet: a log from before keying (reported as legacy).
	case head.MAC == "":
		brk(0, "audit.head is damaged")
	case byID[head.Key] == nil:
		brk(0, "audit.head is keyed with a key you do not hold (%s)", head.Key)
	case !hmac.Equal([]byte(head.sum(byID[head.Key])), []byte(head.MAC)):
		brk(0, "audit.head was edited or forged (its MAC does not match)")
	case head.Records > lastSeq && head.Records > n:
		brk(0, "%d record(s) were cut from the end: audit.head counts %d, the log holds %d", head.Records-n, head.Records, n)
	case macs[head.Records] != head.Last && (macs[head.Records] != "" || len(c.Breaks) == 0):
		// (A record at the head already reported broken is not reported twice.)
		brk(0, "record %d is not the one audit.head anchors: records were cut from the end (and others appended), or replaced", head.Records)
	}
	return c, nil
}
