package scan_test

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/okvault/okv/scan"
)

func staged(t *testing.T, dir string, opts scan.Options) scan.Result {
	t.Helper()
	if opts.Known == nil {
		opts.Known = known
	}
	res, err := scan.ScanStaged(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func utf16Text(s string, order binary.AppendByteOrder, bom bool) string {
	var b []byte
	if bom {
		b = order.AppendUint16(b, 0xFEFF)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = order.AppendUint16(b, u)
	}
	return string(b)
}

// The hook searches the staged blobs, whatever .gitattributes says and
// whatever their encoding or size, and never the work tree.
func TestStagedEveryKindOfFile(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, ".gitattributes", "*.dat -diff\n*.bin binary\n*.secret -text -diff -merge\n")
	write(t, dir, "a.dat", "KEY="+projKey+"\n")
	write(t, dir, "b.bin", "PW="+otherPass+"\n")
	write(t, dir, "c.secret", "\x00\x01"+projKey)
	// PowerShell 5: `echo "OPENAI_API_KEY=sk-…" > .env` writes UTF-16LE with a BOM.
	write(t, dir, "d.env", utf16Text("# ps\r\nOPENAI_API_KEY="+projKey+"\r\n", binary.LittleEndian, true))
	write(t, dir, "e.txt", utf16Text("PW="+otherPass, binary.BigEndian, false))
	// Over the size limit: searched in chunks, the key far past the first.
	big := strings.Repeat("filler line\n", 1200) + "K=" + projKey + "\n" + strings.Repeat("z", 3000)
	write(t, dir, "f.log", big)
	git(t, dir, "add", ".")
	// The work tree no longer holds the keys; the index does.
	for _, f := range []string{"a.dat", "b.bin", "c.secret", "d.env", "e.txt", "f.log"} {
		write(t, dir, f, "clean\n")
	}
	res := staged(t, dir, scan.Options{MaxFileSize: 1000})
	equal(t, got(t, dir, res), []string{
		"a.dat:1:5 vault-value dev/OPENAI_API_KEY plain",
		"b.bin:1:4 vault-value prod/DB_PASSWORD plain",
		"c.secret:1:3 vault-value dev/OPENAI_API_KEY plain",
		"d.env:2:16 vault-value dev/OPENAI_API_KEY utf-16le",
		"e.txt:1:4 vault-value prod/DB_PASSWORD utf-16be",
		"f.log:1201:3 vault-value dev/OPENAI_API_KEY plain",
	})
	if s := res.Summary; s.Files != 7 || s.ExactOnly != 1 || s.SkippedBinary != 0 || s.SkippedLarge != 0 {
		t.Errorf("summary %+v", s)
	}

	// A key only in the work tree is not staged: not the hook's business.
	git(t, dir, "reset", "-q")
	write(t, dir, "g.txt", "clean\n")
	git(t, dir, "add", "g.txt")
	write(t, dir, "g.txt", projKey)
	if res := staged(t, dir, scan.Options{}); len(res.Findings) != 0 {
		t.Errorf("work tree scanned: %v", got(t, dir, res))
	}
}

// A file over 10 MiB (the default limit) is still searched for exact values.
func TestStagedLargeFileDefaultLimit(t *testing.T) {
	dir := newRepo(t)
	p := filepath.Join(dir, "dump.sql")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("INSERT INTO t VALUES (1, 'lorem ipsum');", 4) + "\n"
	for n := 0; n < 11<<20; n += len(line) {
		f.WriteString(line)
	}
	f.WriteString("-- pw " + otherPass + "\n")
	f.Close()
	git(t, dir, "add", ".")
	res := staged(t, dir, scan.Options{})
	if len(res.Findings) != 1 || res.Findings[0].Name != "DB_PASSWORD" || res.Summary.ExactOnly != 1 {
		t.Errorf("findings %v, summary %+v", got(t, dir, res), res.Summary)
	}
}

// A commit is blocked for the secrets it adds, not for one already
// committed in a file it touches or renames.
func TestStagedReportsWhatIsAdded(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "old.env", "K="+projKey+"\nA=1\n")
	write(t, dir, "big.log", strings.Repeat("x\n", 600)+projKey+"\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "old leak")

	write(t, dir, "old.env", "K="+projKey+"\nA=2\n")
	write(t, dir, "big.log", strings.Repeat("y\n", 600)+projKey+"\n")
	git(t, dir, "add", ".")
	if res := staged(t, dir, scan.Options{MaxFileSize: 1000}); len(res.Findings) != 0 {
		t.Errorf("an old key blocks the commit: %v", got(t, dir, res))
	}
	git(t, dir, "mv", "old.env", "renamed.env")
	if res := staged(t, dir, scan.Options{}); len(res.Findings) != 0 {
		t.Errorf("a rename blocks the commit: %v", got(t, dir, res))
	}
	// A second copy of the key, and a new key, are added.
	write(t, dir, "renamed.env", "K="+projKey+"\nA=2\nPW="+otherPass+"\n")
	write(t, dir, "big.log", strings.Repeat("y\n", 600)+projKey+"\n"+projKey+"\n")
	git(t, dir, "add", ".")
	res := staged(t, dir, scan.Options{MaxFileSize: 1000})
	equal(t, got(t, dir, res), []string{
		"big.log:601:1 vault-value dev/OPENAI_API_KEY plain",
		"big.log:602:1 vault-value dev/OPENAI_API_KEY plain",
		"renamed.env:3:4 vault-value prod/DB_PASSWORD plain",
	})
}

// okv scan --git finds keys in commit messages and in what a merge's
// conflict resolution adds (gitleaks misses both), and does not report
// again, on the merge, the lines it took from a parent.
func TestHistoryMessagesAndMerges(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "f.txt", "a\nb\nc\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "base")
	git(t, dir, "checkout", "-q", "-b", "side")
	write(t, dir, "f.txt", "a\nSIDE "+otherPass+"\nc\n")
	git(t, dir, "commit", "-q", "-am", "side")
	side := git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "checkout", "-q", "main")
	write(t, dir, "f.txt", "a\nMAIN\nc\n")
	git(t, dir, "commit", "-q", "-am", "main\n\ndebugging with OPENAI_API_KEY="+projKey+" for now")
	withMsg := git(t, dir, "rev-parse", "HEAD")
	cmd := exec.Command("git", "-C", dir, "merge", "-q", "side")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("want a conflict: %s", out)
	}
	// The resolution keeps both sides and adds a key of its own.
	write(t, dir, "f.txt", "a\nSIDE "+otherPass+"\nkey: "+projKey+"\nMAIN\nc\n")
	git(t, dir, "add", "f.txt")
	git(t, dir, "commit", "-q", "--no-edit")
	merge := git(t, dir, "rev-parse", "HEAD")

	res, err := scan.ScanHistory(context.Background(), dir, scan.Options{Known: known})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range res.Findings {
		lines = append(lines, f.Commit+" "+f.File+":"+itoa(f.Line)+":"+itoa(f.Column)+" "+f.Name)
	}
	want := []string{
		merge + " f.txt:3:6 OPENAI_API_KEY",
		withMsg + " (commit message):3:31 OPENAI_API_KEY",
		side + " f.txt:2:6 DB_PASSWORD",
	}
	sort.Strings(lines) // commits made in the same second come in any order
	sort.Strings(want)
	equal(t, lines, want)
}
