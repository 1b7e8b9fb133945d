// Package adopt finds provider keys left in the places people leave them
// (shell rc files, shell histories, ~/.npmrc, ~/.netrc, ~/.config files,
// .env files) with scan's rules, and rewrites those files once the keys
// are in the vault: an rc line becomes a comment pointing at okv, a history
// entry is removed, a .env value becomes an okv:// reference. Every rewrite
// is atomic, keeps a 0600 backup, and is refused when the file changed
// since it was read. It never prints: cmd/adopt.go does.
package adopt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/okvault/okv/limits"
	"github.com/okvault/okv/scan"
)

// Kind is what sort of file a key was found in; it decides the rewrite.
type Kind int

const (
	RC          Kind = iota // shell rc file, .envrc, ~/.npmrc: the line becomes a comment
	BashHistory             // the entry (and its #timestamp line) is removed
	ZshHistory              // ": 1700000000:0;cmd" entries, continued by a trailing backslash
	FishHistory             // "- cmd: …" entries with their indented lines
	DotEnv                  // the value becomes an okv:// reference
	ReadOnly                // ~/.netrc, ~/.config files: listed and imported, edited by hand
)

// Action says in words what a rewrite does to a finding's file.
func (k Kind) Action() string {
	switch k {
	case RC:
		return "line commented out"
	case BashHistory, ZshHistory, FishHistory:
		return "history entry removed"
	case DotEnv:
		return "value replaced by a reference"
	}
	return "not rewritten: edit it by hand"
}

// IsHistory reports whether k is a shell history.
func (k Kind) IsHistory() bool { return k == BashHistory || k == ZshHistory || k == FishHistory }

// Finding is one key in one file.
type Finding struct {
	Line     int    // 1-based line of the key
	Rule     string // scan's rule
	Provider string // "openai"
	Name     string // the variable it was assigned to, else the provider's usual one
	Value    string // the key itself: never printed
	Start    int    // byte range of the key in the file
	End      int
	// The rewrite's unit: the line (RC), the history entry, or the key (DotEnv).
	EntryStart, EntryEnd int
}

// File is a file holding keys, as it was read.
type File struct {
	Path     string // as found (a link's path)
	Target   string // the file read and rewritten (the link's target)
	Kind     Kind
	Findings []Finding
	sum      [32]byte
	mode     fs.FileMode
}

// Options says where to look.
type Options struct {
	Home  string   // the home folder: rc files, histories, ~/.npmrc, ~/.netrc, ~/.config
	Roots []string // folders searched for .env* files (absolute)
	Skip  []string // folders never read (the vault, its backups)
	// Progress is called now and then with the folders and files searched
	// so far and the folder being searched.
	Progress func(dirs, files int, dir string)
}

// Result is what Find found, and how far it got.
type Result struct {
	Files    []*File
	Dirs     int // folders searched
	Searched int // files read
	TimedOut bool
	Errors   []error // files that could not be read (never fatal)
}

// maxFileSize bounds what is read: larger files are not rc files,
// histories or .env files.
const maxFileSize = 16 << 20

// skipDirs are never searched for .env files: dependencies, vendored
// trees, caches, VCS internals.
var skipDirs = map[string]bool{
	"node_modules": true, ".git": true, ".hg": true, ".svn": true, "vendor": true, "third_party": true,
	"bower_components": true, ".venv": true, "venv": true, "site-packages": true, "__pycache__": true,
	".tox": true, ".cache": true, ".npm": true, ".yarn": true, ".pnpm-store": true, ".cargo": true,
	".rustup": true, ".gradle": true, ".m2": true, "Library": true, ".Trash": true, ".local": true,
	".terraform": true, "target": true,
}

// homeFiles are the fixed places in the home folder.
var homeFiles = []struct {
	rel  string
	kind Kind
}{
	{".bashrc", RC}, {".bash_profile", RC}, {".bash_login", RC}, {".profile", RC},
	{".zshrc", RC}, {".zshenv", RC}, {".zprofile", RC}, {".zlogin", RC},
	{".config/fish/config.fish", RC}, {".npmrc", RC},
	{".bash_history", BashHistory}, {".zsh_history", ZshHistory}, {".histfile", ZshHistory},
	{".local/share/fish/fish_history", FishHistory},
	{".netrc", ReadOnly},
}

// Find searches opts' places until ctx is done (then Result.TimedOut).
func Find(ctx context.Context, opts Options) (Result, error) {
	var r Result
	seen := map[string]bool{}
	skip := func(p string) bool {
		for _, s := range opts.Skip {
			if s != "" && (p == s || strings.HasPrefix(p, s+string(filepath.Separator))) {
				return true
			}
		}
		return false
	}
	read := func(path string, kind Kind) {
		if skip(path) {
			return
		}
		f, err := readFile(path, kind, seen)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				r.Errors = append(r.Errors, err)
			}
			return
		}
		if f == nil {
			return
		}
		r.Searched++
		if len(f.Findings) > 0 {
			r.Files = append(r.Files, f)
		}
	}
	if opts.Home != "" {
		for _, h := range homeFiles {
			read(filepath.Join(opts.Home, filepath.FromSlash(h.rel)), h.kind)
		}
		// ~/.config: tools' own files (a few levels deep, small ones).
		cfg := filepath.Join(opts.Home, ".config")
		filepath.WalkDir(cfg, func(p string, d fs.DirEntry, err error) error {
			if err != nil || ctx.Err() != nil {
				return filepath.SkipDir
			}
			if d.IsDir() {
				rel, _ := filepath.Rel(cfg, p)
				if skip(p) || strings.Count(rel, string(filepath.Separator)) >= 3 || skipDirs[d.Name()] {
					return filepath.SkipDir
				}
				r.Dirs++
				return nil
			}
			if d.Type().IsRegular() && p != filepath.Join(opts.Home, ".config/fish/config.fish") {
				if info, err := d.Info(); err == nil && info.Size() <= 1<<20 {
					read(p, ReadOnly)
				}
			}
			return nil
		})
	}
	last := time.Now()
	for _, root := range opts.Roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				r.TimedOut = true
				return filepath.SkipAll
			}
			if err != nil {
				if d != nil && d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				goModCache := d.Name() == "mod" && filepath.Base(filepath.Dir(p)) == "pkg"
				if p != root && (skipDirs[d.Name()] || goModCache || skip(p)) {
					return filepath.SkipDir
				}
				r.Dirs++
				if opts.Progress != nil && time.Since(last) > 200*time.Millisecond {
					last = time.Now()
					opts.Progress(r.Dirs, r.Searched, p)
				}
				return nil
			}
			name := d.Name()
			if !strings.HasPrefix(name, ".env") || !(d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0) {
				return nil
			}
			kind := DotEnv
			if name == ".envrc" {
				kind = RC // direnv: shell syntax
			}
			read(p, kind)
			return nil
		})
	}
	if ctx.Err() != nil {
		r.TimedOut = true
	}
	sort.Slice(r.Files, func(i, j int) bool { return r.Files[i].Path < r.Files[j].Path })
	return r, nil
}

// readFile reads one file (a link is followed once, and a target already
// read is not read again) and finds its keys; nil for what is not a
// small regular text file.
func readFile(path string, kind Kind, seen map[string]bool) (*File, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	if seen[target] {
		return nil, nil
	}
	seen[target] = true
	fi, err := os.Stat(target)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxFileSize {
		return nil, nil
	}
	data, err := os.ReadFile(target)
	if err != nil {
		return nil, err
	}
	if bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0 {
		return nil, nil // binary
	}
	f := &File{Path: path, Target: target, Kind: kind, sum: sha256.Sum256(data), mode: fi.Mode().Perm()}
	f.Findings = findings(data, kind)
	return f, nil
}

// assignment finds the variable a key is assigned to on its line:
// NAME=, export NAME=, NAME: (YAML-ish .env), set -gx NAME (fish),
// setenv NAME (csh).
// (The regexps are compiled when first used, not in package init, which
// every okv run pays for: issue 21.)
var assignment = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?:^|[\s;&|(])(?:(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)(?:=|:\s*)|(?:set\s+(?:-[a-zA-Z]+\s+)*|setenv\s+)([A-Za-z_][A-Za-z0-9_]*)\s+)["']?$`)
})

func findings(data []byte, kind Kind) []Finding {
	var out []Finding
	for _, m := range scan.FindKeys(data) {
		ls := bytes.LastIndexByte(data[:m.Start], '\n') + 1
		le := len(data)
		if i := bytes.IndexByte(data[m.End:], '\n'); i >= 0 {
			le = m.End + i + 1
		}
		provider, name := scan.RuleProvider(m.Rule)
		// An environment variable's name (upper case) is kept; other
		// names (an .npmrc's setting) give way to the provider's variable.
		if sm := assignment().FindSubmatch(data[ls:m.Start]); sm != nil && limits.VarName(string(sm[1])+string(sm[2])) {
			name = string(sm[1]) + string(sm[2])
		}
		f := Finding{Line: 1 + bytes.Count(data[:m.Start], []byte("\n")), Rule: m.Rule, Provider: provider, Name: name,
			Value: string(data[m.Start:m.End]), Start: m.Start, End: m.End}
		switch kind {
		case DotEnv:
			f.EntryStart, f.EntryEnd = m.Start, m.End
		case RC, ReadOnly:
			f.EntryStart, f.EntryEnd = ls, le
		default:
			f.EntryStart, f.EntryEnd = historyEntry(data, kind, ls, le)
		}
		out = append(out, f)
	}
	return out
}

// historyEntry widens the line [ls, le) to the whole history entry.
func historyEntry(data []byte, kind Kind, ls, le int) (int, int) {
	lineStart := func(i int) int { return bytes.LastIndexByte(data[:i], '\n') + 1 }
	prevLine := func(i int) (int, int) { // the line before the one starting at i
		if i == 0 {
			return -1, -1
		}
		return lineStart(i - 1), i
	}
	nextLine := func(i int) (int, int) {
		if i >= len(data) {
			return -1, -1
		}
		if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
			return i, i + j + 1
		}
		return i, len(data)
	}
	switch kind {
	case BashHistory:
		// A "#1700000000" line before the command is its timestamp.
		if ps, pe := prevLine(ls); ps >= 0 && bashStamp().Match(bytes.TrimRight(data[ps:pe], "\n")) {
			ls = ps
		}
	case ZshHistory:
		// Back to the line starting ": <time>:<elapsed>;", while the lines
		// before end in a backslash (a continued entry).
		for !zshStart().Match(data[ls:le]) {
			ps, pe := prevLine(ls)
			if ps < 0 || !bytes.HasSuffix(bytes.TrimRight(data[ps:pe], "\n"), []byte(`\`)) {
				break
			}
			ls = ps
		}
		for bytes.HasSuffix(bytes.TrimRight(data[lineStart(le-1):le], "\n"), []byte(`\`)) {
			_, ne := nextLine(le)
			if ne < 0 {
				break
			}
			le = ne
		}
	case FishHistory:
		for !bytes.HasPrefix(data[ls:le], []byte("- cmd:")) {
			ps, _ := prevLine(ls)
			if ps < 0 {
				break
			}
			ls = ps
		}
		for {
			ns, ne := nextLine(le)
			if ns < 0 || !bytes.HasPrefix(data[ns:ne], []byte(" ")) {
				break
			}
			le = ne
		}
	}
	return ls, le
}

var (
	bashStamp = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^#[0-9]+$`) })
	zshStart  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^: [0-9]+:[0-9]+;`) })
)
