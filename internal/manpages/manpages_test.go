package manpages

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/okvault/okv/cmd"
)

// The pages under man/ ship in archives and packages; they must match the
// command tree. Each is compared with what the generator writes at the
// page's own date. Regenerate with `make man`.
func TestManPagesUpToDate(t *testing.T) {
	pages, err := ManPages(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	r := renderer{}
	for _, p := range pages {
		want[p.Name] = true
		got, err := os.ReadFile(filepath.Join("..", "..", "man", p.Name))
		if err != nil {
			t.Errorf("%v (run 'make man' and commit the result)", err)
			continue
		}
		d, ok := ManPageDate(got)
		if !ok {
			t.Errorf("man/%s has no date in its .TH line: run 'make man'", p.Name)
			continue
		}
		fresh, err := r.page(p.Name, d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, fresh) {
			t.Errorf("man/%s is stale: run 'make man' and commit the result", p.Name)
		}
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "man", "*.1"))
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("man/%s documents no command: run 'make man' and commit the result", filepath.Base(f))
		}
	}
}

// One page per available command, subcommands included, under the names
// man(1) finds with `man okv-profile-create`.
func TestManPagesCoverCommands(t *testing.T) {
	pages, err := ManPages(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]byte{}
	for _, p := range pages {
		byName[p.Name] = p.Body
	}
	for _, name := range []string{"okv.1", "okv-run.1", "okv-profile-create.1", "okv-version.1", "okv-completion.1"} {
		if byName[name] == nil {
			t.Errorf("no page %s", name)
		}
	}
	root := cmd.CommandTree()
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() && byName["okv-"+c.Name()+".1"] == nil {
			t.Errorf("command %q has no man page", c.Name())
		}
	}
	run := string(byName["okv-run.1"])
	if !strings.Contains(run, `.TH "OKV-RUN" "1" "Jan 2026" "okv" "okv manual"`) {
		t.Errorf("okv-run.1 header: %q", strings.SplitN(run, "\n", 3)[1])
	}
	// Long texts are markdown to cobra/doc: an unescaped <profile> would vanish.
	if !strings.Contains(run, "OKV_PROFILE=<profile>") {
		t.Error("okv-run.1 lost the text OKV_PROFILE=<profile>")
	}
	if strings.Contains(run, "Auto generated") {
		t.Error("okv-run.1 carries cobra's generated-on line (it would make every page stale each day)")
	}
}

// An unchanged page keeps its file and date; a changed one is rewritten
// and dated now; a page of a removed command goes.
func TestWriteManPagesKeepsDates(t *testing.T) {
	dir := t.TempDir()
	jan := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	mar := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	if err := WriteManPages(dir, jan); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "okv-run.1")
	ls := filepath.Join(dir, "okv-ls.1")
	orig, _ := os.ReadFile(ls)
	if err := os.WriteFile(run, []byte(".TH \"OKV-RUN\" \"1\" \"Jan 2026\" \"okv\" \"okv manual\"\nold text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(dir, "okv-removed.1")
	if err := os.WriteFile(gone, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteManPages(dir, mar); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(ls); !bytes.Equal(b, orig) {
		t.Error("unchanged okv-ls.1 was rewritten")
	}
	b, _ := os.ReadFile(run)
	if d, _ := ManPageDate(b); !d.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) || strings.Contains(string(b), "old text") {
		t.Errorf("changed okv-run.1 not regenerated and dated Mar 2026: date %v", d)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Error("okv-removed.1 was not removed")
	}
}

func TestGzipManPages(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := WriteManPages(src, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dst, "okv-removed.1.gz")
	if err := os.WriteFile(stale, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := GzipManPages(src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("okv-removed.1.gz was left for the packages")
	}
	plain, _ := os.ReadFile(filepath.Join(src, "okv-run.1"))
	z, err := os.ReadFile(filepath.Join(dst, "okv-run.1.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if !bytes.Equal(got, plain) {
		t.Error("okv-run.1.gz does not hold okv-run.1")
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q / time %v: packages would not be reproducible", zr.Name, zr.ModTime)
	}
	if err := GzipManPages(t.TempDir(), dst); err == nil {
		t.Error("no error for a folder without pages")
	}
}
