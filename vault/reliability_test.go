package vault_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/okvault/okv/vault"
)

// startTogether starts cmds with a closed-stdin start barrier, so none
// begins its work before all have started.
func startTogether(t *testing.T, cmds []*exec.Cmd) []*bytes.Buffer {
	t.Helper()
	var gates []io.WriteCloser
	var stderrs []*bytes.Buffer
	for _, c := range cmds {
		c.Env = append(c.Env, "OKV_TEST_BARRIER=1")
		w, err := c.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		gates = append(gates, w)
		var buf bytes.Buffer
		c.Stderr = &buf
		stderrs = append(stderrs, &buf)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range gates {
		g.Close()
	}
	return stderrs
}

// TestConcurrentProcessesLoseNoWrite: two processes each set 100 distinct
// secrets in the same profile at the same time; every one of the 200
// writes that reported success is there afterwards.
func TestConcurrentProcessesLoseNoWrite(t *testing.T) {
	t.Parallel()
	v, id := fileVault(t)
	const perProcess = 100
	cmds := []*exec.Cmd{
		helperCmd(t, "write", v.Dir, id, "A", perProcess),
		helperCmd(t, "write", v.Dir, id, "B", perProcess),
	}
	stderrs := startTogether(t, cmds)
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer %d: %v: %s", i, err, stderrs[i])
		}
	}
	doc, err := v.Load("dev", ids(id))
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, p := range []string{"A", "B"} {
		for i := range perProcess {
			name := fmt.Sprintf("%s_%d", p, i)
			s := doc.Secrets[name]
			if s == nil || s.Value != valueFor(name) {
				missing++
				if missing <= 5 {
					t.Errorf("secret %s lost or wrong: %+v", name, s)
				}
			}
		}
	}
	if missing > 0 || len(doc.Secrets) != 2*perProcess {
		t.Errorf("%d of %d writes lost; profile holds %d secrets", missing, 2*perProcess, len(doc.Secrets))
	}
	if tmp := tempFiles(t, v.Dir); len(tmp) > 0 {
		t.Errorf("temp files left after clean writes: %v", tmp)
	}
}

// TestKilledWriterLeavesNoTornProfile kills a writer with SIGKILL at
// random moments, over and over. After each kill the profile must still
// decrypt and hold every write the writer reported as done, and temp
// files of killed writers must not pile up.
func TestKilledWriterLeavesNoTornProfile(t *testing.T) {
	t.Parallel()
	v, id := fileVault(t)
	rounds := 120
	if testing.Short() {
		rounds = 30
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	// Kill delays are random in [0, maxDelay], with maxDelay a few write
	// times: fsync makes a write take from under 1 ms to over 10 ms
	// depending on the disk and -race, and kills must land both between
	// and inside writes. (Timing only picks the kill moment; no assertion
	// depends on it.)
	var took []time.Duration
	for i := range 5 {
		start := time.Now()
		mustSet(t, v, id, "dev", fmt.Sprintf("WARMUP_%d", i), "warmup-value")
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	maxDelay := min(max(4*took[2], 2*time.Millisecond), 60*time.Millisecond)
	reported := map[string]bool{}
	var withWrites, tornTemps int
	for round := range rounds {
		cmd := helperCmd(t, "killwrite", v.Dir, id, fmt.Sprintf("R%d", round), 0)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(out)
		if line, err := r.ReadString('\n'); line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: writer did not start: %q %v: %s", round, line, err, stderr.Bytes())
		}
		// The delay counts from "ready" (the writer is about to start its
		// first Update), not from exec, so kills land among the writes.
		time.Sleep(time.Duration(rng.Int64N(int64(maxDelay) + 1)))
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Only complete lines count: a write is reported once its whole
		// line (with newline) was printed after Update returned.
		n := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			reported[strings.TrimSuffix(line, "\n")] = true
			n++
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: writer ended on its own (%v), not by SIGKILL: %s", round, err, stderr.Bytes())
		}
		if n > 0 {
			withWrites++
		}

		doc, err := v.Load("dev", ids(id))
		if err != nil {
			t.Fatalf("round %d: profile unreadable after SIGKILL: %v", round, err)
		}
		for name := range reported {
			if s := doc.Secrets[name]; s == nil || s.Value != valueFor(name) {
				t.Fatalf("round %d: reported write %s is lost (%+v)", round, name, s)
			}
		}
		// A killed writer may leave its one temp file; the next writer's
		// successful Update removes it, so they never pile up.
		tmp := tempFiles(t, v.Dir)
		if len(tmp) > 1 {
			t.Fatalf("round %d: temp files pile up: %v", round, tmp)
		}
		tornTemps += len(tmp)
	}
	t.Logf("kill delay in [0, %v]: %d kills, %d with reported writes, %d left a temp file, %d writes reported", maxDelay, rounds, withWrites, tornTemps, len(reported))

	// The next successful write cleans up whatever the last kill left.
	mustSet(t, v, id, "dev", "AFTER_KILLS", "after-kills-value")
	if tmp := tempFiles(t, v.Dir); len(tmp) > 0 {
		t.Errorf("temp files left after a successful write: %v", tmp)
	}
}

// auditLines returns the raw lines of the audit log.
func auditLines(t *testing.T, v *vault.Vault) [][]byte {
	t.Helper()
	data, err := os.ReadFile(v.AuditPath())
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func writeAuditLines(t *testing.T, v *vault.Vault, lines [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(bytes.TrimSuffix(l, []byte("\n")))
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(v.AuditPath(), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// forgeFrom rewrites lines[from:] the way a forger without the identity
// would (the 15 lines of Python): each becomes an unkeyed record with its
// sha256 recomputed and chained to the line before, as okv once wrote them.
func forgeFrom(t *testing.T, lines [][]byte, from int) [][]byte {
	t.Helper()
	type legacy struct {
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
	prev := ""
	if from > 0 {
		var r vault.AuditRecord
		if err := json.Unmarshal(lines[from-1], &r); err != nil {
			t.Fatal(err)
		}
		prev = r.MAC + r.Hash
	}
	for i := from; i < len(lines); i++ {
		var r vault.AuditRecord
		if err := json.Unmarshal(lines[i], &r); err != nil {
			t.Fatal(err)
		}
		l := legacy{r.Time, r.Op, r.Profile, r.Secrets, r.Command, r.Dir, r.PID, prev, ""}
		b, _ := json.Marshal(l)
		sum := sha256.Sum256(b)
		l.Hash = hex.EncodeToString(sum[:])
		lines[i], _ = json.Marshal(l)
		prev = l.Hash
	}
	return lines
}

func appendRuns(t *testing.T, v *vault.Vault, key *vault.AuditKey, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := v.Audit(vault.AuditRecord{Op: "run", Profile: "dev", Secrets: []string{"OPENAI_API_KEY"}, Command: fmt.Sprintf("cmd%d", i), PID: 100 + i}, key); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuditChainDetectsTampering: an edited, forged, deleted, inserted or
// reordered audit line, and lines cut from the end, are reported where the
// chain breaks; an intact log passes.
func TestAuditChainDetectsTampering(t *testing.T) {
	v, id := fileVault(t)
	keys := v.AuditKeys(ids(id))
	appendRuns(t, v, keys[0], 1, 5)
	c, err := v.VerifyAudit(keys)
	if err != nil || c.Records != 5 || c.Keyed != 5 || len(c.Breaks) != 0 {
		t.Fatalf("intact log: %+v, err %v", c, err)
	}
	orig := auditLines(t, v)
	if len(orig) != 5 {
		t.Fatalf("audit log has %d lines, want 5", len(orig))
	}
	head, err := os.ReadFile(v.AuditHeadPath())
	if err != nil {
		t.Fatalf("no head anchor after keyed appends: %v", err)
	}
	clone := func() [][]byte {
		out := make([][]byte, len(orig))
		for i, l := range orig {
			out[i] = bytes.Clone(bytes.TrimSuffix(l, []byte("\n")))
		}
		return out
	}
	other, _ := age.GenerateX25519Identity()

	cases := []struct {
		name      string
		edit      func([][]byte) [][]byte
		editHead  func([]byte) []byte // nil: keep; returning nil removes it
		keys      []*vault.AuditKey
		firstLine int // 0: the end (head anchor)
	}{
		{name: "edit a field", edit: func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`"cmd3"`), []byte(`"cmdX"`), 1)
			return l
		}, firstLine: 3},
		{name: "edit and recompute unkeyed hashes from there on", edit: func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`"cmd3"`), []byte(`"cmdX"`), 1)
			return forgeFrom(t, l, 2)
		}, firstLine: 3},
		{name: "recompute the whole log unkeyed", edit: func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`"cmd3"`), []byte(`"cmdX"`), 1)
			return forgeFrom(t, l, 0)
		}, firstLine: 0},
		{name: "cut the last line", edit: func(l [][]byte) [][]byte { return l[:4] }, firstLine: 0},
		{name: "cut the tail and remove the head", edit: func(l [][]byte) [][]byte { return l[:3] },
			editHead: func([]byte) []byte { return nil }, firstLine: 0},
		{name: "edit the head", editHead: func(h []byte) []byte {
			return bytes.Replace(h, []byte(`"records":5`), []byte(`"records":3`), 1)
		}, firstLine: 0},
		{name: "delete a middle line", edit: func(l [][]byte) [][]byte {
			return append(l[:2], l[3:]...)
		}, firstLine: 3},
		{name: "delete the first line", edit: func(l [][]byte) [][]byte { return l[1:] }, firstLine: 1},
		{name: "reorder two lines", edit: func(l [][]byte) [][]byte {
			l[1], l[2] = l[2], l[1]
			return l
		}, firstLine: 2},
		{name: "insert a copy", edit: func(l [][]byte) [][]byte {
			return append(l[:4], append([][]byte{l[1]}, l[4:]...)...)
		}, firstLine: 5},
		{name: "garbage line", edit: func(l [][]byte) [][]byte {
			l[3] = []byte("not json")
			return l
		}, firstLine: 4},
		{name: "checked with another identity", keys: v.AuditKeys(ids(other)), firstLine: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines := clone()
			if c.edit != nil {
				lines = c.edit(lines)
			}
			writeAuditLines(t, v, lines)
			h := bytes.Clone(head)
			if c.editHead != nil {
				h = c.editHead(h)
			}
			if h == nil {
				os.Remove(v.AuditHeadPath())
			} else if err := os.WriteFile(v.AuditHeadPath(), h, 0o600); err != nil {
				t.Fatal(err)
			}
			k := keys
			if c.keys != nil {
				k = c.keys
			}
			got, err := v.VerifyAudit(k)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Breaks) == 0 {
				t.Fatalf("tampering not detected: %+v", got)
			}
			if got.Breaks[0].Line != c.firstLine {
				t.Errorf("first break at line %d (%s), want line %d", got.Breaks[0].Line, got.Breaks[0].Reason, c.firstLine)
			}
		})
	}
	// The restored log and head verify again.
	writeAuditLines(t, v, clone())
	if err := os.WriteFile(v.AuditHeadPath(), head, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, _ := v.VerifyAudit(keys); len(c.Breaks) != 0 {
		t.Errorf("restored log reports breaks: %v", c.Breaks)
	}
}

// TestAuditCutTailStaysReported: after lines are cut from the end, the
// next keyed append does not move the head over the cut, so verify keeps
// reporting it.
func TestAuditCutTailStaysReported(t *testing.T) {
	v, id := fileVault(t)
	key := v.AuditKeys(ids(id))[0]
	appendRuns(t, v, key, 1, 4)
	writeAuditLines(t, v, auditLines(t, v)[:2])
	err := v.Audit(vault.AuditRecord{Op: "get", Profile: "dev"}, key)
	var hm *vault.AuditHeadMismatchError
	if !errors.As(err, &hm) {
		t.Fatalf("append after a cut: %v, want an AuditHeadMismatchError", err)
	}
	c, err := v.VerifyAudit([]*vault.AuditKey{key})
	if err != nil {
		t.Fatal(err)
	}
	if c.Records != 3 || len(c.Breaks) != 1 || c.Breaks[0].Line != 0 || !strings.Contains(c.Breaks[0].Reason, "cut from the end") {
		t.Errorf("after a cut and an append: %+v", c)
	}
	// Removing the head as well does not help: it is not re-created
	// while the log holds keyed records.
	os.Remove(v.AuditHeadPath())
	if err := v.Audit(vault.AuditRecord{Op: "get", Profile: "dev"}, key); !errors.As(err, &hm) {
		t.Fatalf("append without a head: %v, want an AuditHeadMismatchError", err)
	}
	if _, err := os.Stat(v.AuditHeadPath()); err == nil {
		t.Errorf("the head was re-created over a cut log")
	}
	if c, _ := v.VerifyAudit([]*vault.AuditKey{key}); len(c.Breaks) == 0 {
		t.Errorf("a log whose head was removed verifies")
	}
}

// TestAuditLegacyLogMigrates: a log of unkeyed records (as okv wrote them
// before the log was keyed) verifies as legacy; the first keyed record
// chains to it, and from then on the legacy records are covered: a forger
// who edits one and recomputes the unkeyed hashes breaks the first keyed
// link. An unkeyed record after keyed ones is reported.
func TestAuditLegacyLogMigrates(t *testing.T) {
	v, id := fileVault(t)
	key := v.AuditKeys(ids(id))[0]
	appendRuns(t, v, nil, 1, 3) // unkeyed: the legacy format
	for _, l := range auditLines(t, v) {
		if bytes.Contains(l, []byte(`"mac"`)) || !bytes.Contains(l, []byte(`"hash"`)) {
			t.Fatalf("an unkeyed record is not in the legacy format: %s", l)
		}
	}
	c, err := v.VerifyAudit([]*vault.AuditKey{key})
	if err != nil || len(c.Breaks) != 0 || c.Legacy != 3 || c.Keyed != 0 {
		t.Fatalf("legacy log: %+v, %v", c, err)
	}
	appendRuns(t, v, key, 4, 2)
	c, _ = v.VerifyAudit([]*vault.AuditKey{key})
	if len(c.Breaks) != 0 || c.Legacy != 3 || c.Keyed != 2 {
		t.Fatalf("migrated log: %+v", c)
	}
	lines := auditLines(t, v)
	for i := range lines {
		lines[i] = bytes.TrimSuffix(lines[i], []byte("\n"))
	}
	orig := make([][]byte, len(lines))
	copy(orig, lines)

	lines[1] = bytes.Replace(lines[1], []byte(`"cmd2"`), []byte(`"cmdX"`), 1)
	forged := forgeFrom(t, append([][]byte(nil), lines[:3]...), 1)
	writeAuditLines(t, v, append(forged, lines[3:]...))
	if c, _ := v.VerifyAudit([]*vault.AuditKey{key}); len(c.Breaks) == 0 || c.Breaks[0].Line != 4 {
		t.Errorf("a rewritten legacy prefix: %+v, want a break at line 4", c.Breaks)
	}

	writeAuditLines(t, v, orig)
	appendRuns(t, v, nil, 6, 1)
	if c, _ := v.VerifyAudit([]*vault.AuditKey{key}); len(c.Breaks) != 1 || c.Breaks[0].Line != 6 || !strings.Contains(c.Breaks[0].Reason, "not authenticated") {
		t.Errorf("an unkeyed record after keyed ones: %+v", c.Breaks)
	}
}

// TestAuditConcurrentAppendsKeepChain: two processes appending at once
// keep the chain valid and lose no record.
func TestAuditConcurrentAppendsKeepChain(t *testing.T) {
	t.Parallel()
	v, id := fileVault(t)
	const perProcess = 40
	cmds := []*exec.Cmd{
		helperCmd(t, "audit", v.Dir, id, "A", perProcess),
		helperCmd(t, "audit", v.Dir, id, "B", perProcess),
	}
	stderrs := startTogether(t, cmds)
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("appender %d: %v: %s", i, err, stderrs[i])
		}
	}
	c, err := v.VerifyAudit(v.AuditKeys(ids(id)))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Records
	if len(c.Breaks) != 0 || c.Keyed != n {
		t.Errorf("chain broken by concurrent appends: %v (%d of %d keyed)", c.Breaks, c.Keyed, n)
	}
	recs, err := v.ReadAudit()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Command] = true
	}
	if n != 2*perProcess || len(seen) != 2*perProcess {
		t.Errorf("%d records, %d distinct, want %d", n, len(seen), 2*perProcess)
	}
	for _, p := range []string{"A", "B"} {
		for i := range perProcess {
			if c := fmt.Sprintf("%s_%d", p, i); !seen[c] {
				t.Errorf("record %s missing", c)
			}
		}
	}
}

// TestAuditKeysFromSSHIdentity: an SSH key read from a file keys the log
// like an age identity, with the same key each time it is read, and a
// different one from another key.
func TestAuditKeysFromSSHIdentity(t *testing.T) {
	v, _ := fileVault(t)
	read := func(pemBytes []byte) *vault.AuditKey {
		t.Helper()
		path := filepath.Join(t.TempDir(), "id_ed25519")
		if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := vault.ReadIdentityFile(path)
		if err != nil {
			t.Fatal(err)
		}
		keys := v.AuditKeys(got)
		if len(keys) != 1 {
			t.Fatalf("%d audit keys from an SSH identity, want 1", len(keys))
		}
		return keys[0]
	}
	gen := func() []byte {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		blk, err := ssh.MarshalPrivateKey(priv, "me@laptop")
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(blk)
	}
	a, b := gen(), gen()
	if read(a).ID != read(a).ID {
		t.Errorf("the same SSH key gives two audit keys")
	}
	if read(a).ID == read(b).ID {
		t.Errorf("two SSH keys give the same audit key")
	}
	key := read(a)
	appendRuns(t, v, key, 1, 2)
	if c, _ := v.VerifyAudit([]*vault.AuditKey{read(a)}); len(c.Breaks) != 0 || c.Keyed != 2 {
		t.Errorf("a log keyed with an SSH identity: %+v", c)
	}
}

// TestAuditChainsAfterLongRecords: the append reads a short tail of the
// log first (issue 21); records longer than that tail (a run of a
// 1,000-secret profile names every secret) and one torn longer line still
// chain and verify as when the whole 64 KiB were read.
func TestAuditChainsAfterLongRecords(t *testing.T) {
	v, id := fileVault(t)
	key := v.AuditKeys(ids(id))[0]
	var names []string
	for i := range 600 {
		names = append(names, fmt.Sprintf("KEY_%04d", i))
	}
	for i := range 3 {
		if err := v.Audit(vault.AuditRecord{Op: "run", Profile: "dev", Secrets: names[:200*(i+1)], Command: "true"}, key); err != nil {
			t.Fatal(err)
		}
	}
	lines := auditLines(t, v)
	if len(lines) != 3 || len(lines[2]) < 5<<10 {
		t.Fatalf("want 3 records, the last longer than 5 KiB: %d lines", len(lines))
	}
	// A torn final line (a crash mid-write) longer than the short tail.
	f, err := os.OpenFile(v.AuditPath(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"` + strings.Repeat("x", 6<<10))
	f.Close()
	if err := v.Audit(vault.AuditRecord{Op: "get", Profile: "dev"}, key); err != nil {
		t.Fatal(err)
	}
	c, err := v.VerifyAudit([]*vault.AuditKey{key})
	if err != nil || c.Records != 4 || c.Keyed != 4 || len(c.Breaks) != 0 {
		t.Fatalf("log of long records: %+v, err %v", c, err)
	}
	// A last line over 64 KiB is still refused, as before.
	f, _ = os.OpenFile(v.AuditPath(), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(strings.Repeat("y", 65<<10) + "\n")
	f.Close()
	if err := v.Audit(vault.AuditRecord{Op: "get", Profile: "dev"}, key); err == nil || !strings.Contains(err.Error(), "64 KiB") {
		t.Fatalf("append after a 65 KiB line: %v, want the 64 KiB refusal", err)
	}
}

// TestAuditLineIsMarshal: the appended keyed line (the MAC spliced onto
// the encoding it covers, issue 21) is byte for byte json.Marshal of the
// record, and verifies.
func TestAuditLineIsMarshal(t *testing.T) {
	v, id := fileVault(t)
	key := v.AuditKeys(ids(id))[0]
	recs := []vault.AuditRecord{
		{Op: "run", Profile: "dev", Secrets: []string{"A", "B"}, Command: "true", Dir: `/tmp/"quoted" \ dir`, PID: 7},
		{Op: "get", Profile: "dev"},
		{Op: "init"},
	}
	for _, r := range recs {
		if err := v.Audit(r, key); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range auditLines(t, v) {
		l = bytes.TrimSuffix(l, []byte("\n"))
		var r vault.AuditRecord
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(r)
		if !bytes.Equal(l, want) {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, l, want)
		}
		if r.MAC == "" {
			t.Errorf("line %d is not keyed", i+1)
		}
	}
	c, err := v.VerifyAudit([]*vault.AuditKey{key})
	if err != nil || c.Keyed != 3 || len(c.Breaks) != 0 {
		t.Fatalf("verify: %+v, %v", c, err)
	}
}
