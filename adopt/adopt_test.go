package adopt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeKey builds an OpenAI-shaped key at test time (no key literal in the
// repository for scanners to flag); i makes it distinct.
func fakeKey(i int) string {
	return "sk-proj-" + strings.Repeat(fmt.Sprintf("Fk%02d", i), 10) + "T3Blbk" + "FJ" + strings.Repeat("z9Yx", 10)
}

type fixture struct {
	home, outside string
	files         map[string]string // relative to home → content
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	fx := &fixture{home: filepath.Join(dir, "home"), outside: filepath.Join(dir, "outside"), files: map[string]string{
		".bashrc":                        "alias ll='ls -l'\nexport OPENAI_API_KEY=" + fakeKey(1) + "\nexport PATH=$PATH:~/bin\n",
		".zsh_history":                   ": 1700000000:0;ls\n: 1700000001:0;export OPENAI_API_KEY=" + fakeKey(2) + "\n: 1700000002:0;echo a \\\n" + fakeKey(3) + " b\n: 1700000003:0;git status\n",
		".bash_history":                  "#1700000000\nls\n#1700000001\ncurl -H \"Authorization: Bearer " + fakeKey(1) + "\" https://api.openai.com\n#1700000002\npwd\n",
		".local/share/fish/fish_history": "- cmd: ls\n  when: 1700000000\n- cmd: set -gx OPENAI_ADMIN_KEY sk-admin-" + strings.Repeat("Ad12", 10) + "T3Blbk" + "FJ" + strings.Repeat("Ad12", 10) + "\n  when: 1700000001\n  paths:\n    - x\n- cmd: pwd\n  when: 1700000002\n",
		".npmrc":                         "registry=https://registry.npmjs.org/\nopenai_key=" + fakeKey(4) + "\n",
		"code/a/.env":                    "PORT=3000\nOPENAI_API_KEY=\"" + fakeKey(5) + "\"\n",
		"code/b/.env.local":              "OPENAI_API_KEY=" + fakeKey(5) + "\nOTHER=1\n",
		"code/c/.env.production":         "# prod\nMY_KEY: " + fakeKey(6) + "\n",
		"code/c/node_modules/x/.env":     "OPENAI_API_KEY=" + fakeKey(7) + "\n",
		"code/c/.git/.env":               "OPENAI_API_KEY=" + fakeKey(7) + "\n",
		"code/c/README.md":               "OPENAI_API_KEY=" + fakeKey(7) + "\n", // not a .env file
	}}
	for rel, data := range fx.files {
		write(t, filepath.Join(fx.home, rel), data)
	}
	write(t, filepath.Join(fx.outside, "proj", ".env"), "OPENAI_API_KEY="+fakeKey(8)+"\n")
	return fx
}

func (fx *fixture) find(t *testing.T) Result {
	t.Helper()
	r, err := Find(context.Background(), Options{Home: fx.home, Roots: []string{fx.home}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFindAndRewrite(t *testing.T) {
	fx := newFixture(t)
	r := fx.find(t)
	got := map[string][]string{}
	for _, f := range r.Files {
		rel, _ := filepath.Rel(fx.home, f.Path)
		for _, fd := range f.Findings {
			got[rel] = append(got[rel], fmt.Sprintf("%d:%s", fd.Line, fd.Name))
			if strings.Contains(fd.Value, "Fk07") || strings.Contains(fd.Value, "Fk08") {
				t.Errorf("%s: found a key that is in a skipped or outside place", rel)
			}
		}
	}
	want := map[string][]string{
		".bashrc":                        {"2:OPENAI_API_KEY"},
		".zsh_history":                   {"2:OPENAI_API_KEY", "4:OPENAI_API_KEY"},
		".bash_history":                  {"4:OPENAI_API_KEY"},
		".local/share/fish/fish_history": {"3:OPENAI_ADMIN_KEY"},
		".npmrc":                         {"2:OPENAI_API_KEY"},
		"code/a/.env":                    {"2:OPENAI_API_KEY"},
		"code/b/.env.local":              {"1:OPENAI_API_KEY"},
		"code/c/.env.production":         {"2:MY_KEY"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("found\n%v\nwant\n%v", got, want)
	}

	ref := func(f Finding) string { return "okv://dev/" + f.Name }
	backups := filepath.Join(t.TempDir(), "backups")
	for i, f := range r.Files {
		if _, err := f.Apply(backups, ref, time.Unix(int64(i), 0)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(fx.home, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	wantAfter := map[string]string{
		".bashrc":                        "alias ll='ls -l'\n# okv adopt: a key was here; OPENAI_API_KEY is okv://dev/OPENAI_API_KEY (use it with 'okv run -- CMD')\nexport PATH=$PATH:~/bin\n",
		".zsh_history":                   ": 1700000000:0;ls\n: 1700000003:0;git status\n",
		".bash_history":                  "#1700000000\nls\n#1700000002\npwd\n",
		".local/share/fish/fish_history": "- cmd: ls\n  when: 1700000000\n- cmd: pwd\n  when: 1700000002\n",
		".npmrc":                         "registry=https://registry.npmjs.org/\n# okv adopt: a key was here; OPENAI_API_KEY is okv://dev/OPENAI_API_KEY (use it with 'okv run -- CMD')\n",
		"code/a/.env":                    "PORT=3000\nOPENAI_API_KEY=\"okv://dev/OPENAI_API_KEY\"\n",
		"code/b/.env.local":              "OPENAI_API_KEY=okv://dev/OPENAI_API_KEY\nOTHER=1\n",
		"code/c/.env.production":         "# prod\nMY_KEY: okv://dev/MY_KEY\n",
	}
	for rel, w := range wantAfter {
		if g := read(rel); g != w {
			t.Errorf("%s after the rewrite:\n%q\nwant\n%q", rel, g, w)
		}
	}
	if fi, _ := os.Stat(filepath.Join(fx.home, ".bashrc")); fi.Mode().Perm() != 0o644 {
		t.Errorf(".bashrc's mode changed to %v", fi.Mode().Perm())
	}
	// Every rewrite is reversible from its backup, which is 0600.
	ents, err := os.ReadDir(backups)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(r.Files) {
		t.Fatalf("%d backups for %d files", len(ents), len(r.Files))
	}
	for _, e := range ents {
		orig := BackupOriginal(e.Name())
		rel, err := filepath.Rel(fx.home, orig)
		if err != nil || fx.files[rel] == "" {
			t.Fatalf("backup %s names %s", e.Name(), orig)
		}
		b, _ := os.ReadFile(filepath.Join(backups, e.Name()))
		if string(b) != fx.files[rel] {
			t.Errorf("backup of %s differs from the original", rel)
		}
		if fi, _ := os.Stat(filepath.Join(backups, e.Name())); fi.Mode().Perm() != 0o600 {
			t.Errorf("backup of %s is %v", rel, fi.Mode().Perm())
		}
	}
	// A second run finds nothing.
	if r2 := fx.find(t); len(r2.Files) != 0 {
		t.Fatalf("second run found %d files, first %s", len(r2.Files), r2.Files[0].Path)
	}
	if n, err := CleanBackups(backups); err != nil || n != len(r.Files) {
		t.Fatalf("CleanBackups = %d, %v", n, err)
	}
	if _, err := os.Stat(backups); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("backups left after CleanBackups")
	}
}

func TestChangedFileLeftAlone(t *testing.T) {
	fx := newFixture(t)
	r := fx.find(t)
	hist := filepath.Join(fx.home, ".zsh_history")
	// A live shell appends between listing and rewriting.
	changed := fx.files[".zsh_history"] + ": 1700000009:0;make\n"
	write(t, hist, changed)
	backups := filepath.Join(t.TempDir(), "b")
	for _, f := range r.Files {
		_, err := f.Apply(backups, func(f Finding) string { return "okv://dev/" + f.Name }, time.Now())
		var ce *ChangedError
		if f.Path == hist {
			if !errors.As(err, &ce) {
				t.Fatalf("changed history: %v", err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(hist); string(b) != changed {
		t.Fatal("the changed file was rewritten")
	}
}

func TestTimeBound(t *testing.T) {
	fx := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := Find(ctx, Options{Roots: []string{fx.home}})
	if err != nil || !r.TimedOut || len(r.Files) != 0 {
		t.Fatalf("cancelled Find: %+v, %v", r, err)
	}
}

// The backups hold keys in plaintext: a backup folder that is a link (a
// planted one in the vault folder) is refused, and nothing is rewritten.
func TestBackupFolderLinkRefused(t *testing.T) {
	fx := newFixture(t)
	r := fx.find(t)
	elsewhere := t.TempDir()
	backups := filepath.Join(t.TempDir(), "b")
	if err := os.Symlink(elsewhere, backups); err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Files {
		before, _ := os.ReadFile(f.Target)
		if _, err := f.Apply(backups, func(f Finding) string { return "okv://dev/" + f.Name }, time.Now()); err == nil {
			t.Errorf("%s: rewritten with a linked backup folder", f.Path)
		}
		if after, _ := os.ReadFile(f.Target); string(after) != string(before) {
			t.Errorf("%s changed", f.Path)
		}
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("%d backups written through the link", len(ents))
	}
}
