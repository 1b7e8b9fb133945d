package scan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// DefaultMaxFileSize is the size limit used when Options.MaxFileSize is 0.
const DefaultMaxFileSize = 10 << 20

// binarySniffLen is how much of a file is looked at for a NUL byte.
const binarySniffLen = 8 << 10

// Options says what to scan and how.
type Options struct {
	// Paths are the files and folders to scan; none means ".".
	// ScanStaged and ScanHistory ignore them.
	Paths []string
	// NoIgnore scans files that .gitignore excludes.
	NoIgnore bool
	// MaxFileSize skips larger files (and, in git scans, files whose added
	// lines are larger); 0 means DefaultMaxFileSize, negative means no limit.
	MaxFileSize int64
	// Known are the vault values to look for.
	Known []Known
	// Workers is the number of files scanned at once; 0 means four per
	// CPU, at least 8 and at most 32: opening and reading many small files
	// is bound by I/O latency more than by CPU. Git scans use one per CPU.
	Workers int
}

// Finding is one secret found. It never holds the secret itself.
type Finding struct {
	File     string `json:"file"`
	Line     int    `json:"line"`   // 1-based; in git scans, the line in the new file
	Column   int    `json:"column"` // 1-based, in Unicode code points
	Rule     string `json:"rule"`
	Redacted string `json:"redacted"`
	// Vault, Profile and Name say which vault key was found (rule
	// vault-value).
	Vault    string `json:"vault,omitempty"`
	Profile  string `json:"profile,omitempty"`
	Name     string `json:"name,omitempty"`
	Encoding string `json:"encoding,omitempty"` // how the vault value appeared: plain, base64, json-escaped, wrapped, …
	Commit   string `json:"commit,omitempty"`   // history scans only
	// Fingerprint identifies the finding in .okvignore.
	Fingerprint string `json:"fingerprint"`
}

// Summary counts what a scan did.
type Summary struct {
	Files         int   `json:"files"` // files (or changed files in git scans) scanned
	Bytes         int64 `json:"bytes"`
	Commits       int   `json:"commits,omitempty"` // history scans only
	SkippedBinary int   `json:"skipped_binary"`
	SkippedLarge  int   `json:"skipped_large"`
	// ExactOnly counts staged files larger than MaxFileSize, searched in
	// chunks for exact vault values (and their UTF-16 and base64 forms)
	// and key shapes, but not for escaped or wrapped forms.
	ExactOnly   int `json:"exact_only,omitempty"`
	Allowlisted int `json:"allowlisted"`
	Findings    int `json:"findings"`
}

// FileError is a file that could not be scanned.
type FileError struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// Result is the outcome of a scan. Findings are sorted by file, line,
// column and rule (history scans: by commit order first, newest first).
type Result struct {
	Findings []Finding   `json:"findings"`
	Summary  Summary     `json:"summary"`
	Errors   []FileError `json:"errors,omitempty"`
	// NotSearched lists the vault values that were not looked for.
	NotSearched []NotSearched `json:"not_searched,omitempty"`
}

// Exit codes of `okv scan`. ExitFailed is distinct from okv's usage error
// (2) and locked vault (3), so a CI job can tell a leak from a scan that
// could not be done.
const (
	ExitClean    = 0
	ExitFindings = 1
	ExitFailed   = 4
)

// ExitCode is the exit status policy of `okv scan`: ExitFailed if err is
// not nil, else ExitFindings if there are findings, else ExitFailed if
// some file could not be read, else ExitClean.
func ExitCode(r Result, err error) int {
	switch {
	case err != nil:
		return ExitFailed
	case len(r.Findings) > 0:
		return ExitFindings
	case len(r.Errors) > 0:
		return ExitFailed
	}
	return ExitClean
}

func (o Options) maxSize() int64 {
	switch {
	case o.MaxFileSize == 0:
		return DefaultMaxFileSize
	case o.MaxFileSize < 0:
		return 1<<63 - 1
	}
	return o.MaxFileSize
}

// workers is the number of file workers; io says they wait on file I/O.
func (o Options) workers(io bool) int {
	switch {
	case o.Workers > 0:
		return o.Workers
	case io:
		return min(max(4*runtime.GOMAXPROCS(0), 8), 32)
	}
	return runtime.GOMAXPROCS(0)
}

// job is one file to scan.
type job struct {
	path      string // to open
	skipLstat bool   // a regular file per its folder listing, or a path the user named: open it as is
	info      docInfo
}

// collector gathers what workers produce.
type collector struct {
	mu       sync.Mutex
	findings []Finding
	errs     []FileError
	sum      Summary
	allow    map[string]bool
	// notSearched is copied into the result.
	notSearched []NotSearched
}

func (c *collector) add(fs []Finding, files int, bytes int64, binary, large int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range fs {
		if c.allow[f.Fingerprint] {
			c.sum.Allowlisted++
			continue
		}
		c.findings = append(c.findings, f)
	}
	c.sum.Files += files
	c.sum.Bytes += bytes
	c.sum.SkippedBinary += binary
	c.sum.SkippedLarge += large
}

func (c *collector) fail(file string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, FileError{File: file, Error: errText(err)})
}

// errText describes a file error without the path, which the FileError
// already holds.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

func (c *collector) result() Result {
	sort.SliceStable(c.findings, func(i, j int) bool { return findingLess(c.findings[i], c.findings[j]) })
	sort.Slice(c.errs, func(i, j int) bool { return c.errs[i].File < c.errs[j].File })
	c.sum.Findings = len(c.findings)
	r := Result{Findings: c.findings, Summary: c.sum, Errors: c.errs, NotSearched: c.notSearched}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	return r
}

func findingLess(a, b Finding) bool {
	if a.File != b.File {
		return a.File < b.File
	}
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	if a.Column != b.Column {
		return a.Column < b.Column
	}
	return a.Rule < b.Rule
}

// Scan scans files and folders. It fails only when a path does not exist or
// ctx is done; files it cannot read are listed in Result.Errors.
func Scan(ctx context.Context, opts Options) (Result, error) {
	paths := opts.Paths
	if len(paths) == 0 {
		paths = []string{"."}
	}
	eng := newEngine(opts.Known)
	col := &collector{allow: map[string]bool{}, notSearched: eng.notSearched}
	type root struct {
		path   string
		isDir  bool
		top    string // git work tree top, "" outside git
		prefix string // path of the root's folder below top, "sub/dir/"
	}
	var roots []root
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return Result{}, fmt.Errorf("cannot scan %s: %w", p, unwrapPathErr(err))
		}
		dir := p
		if !st.IsDir() {
			dir = filepath.Dir(p)
		}
		top, prefix := gitTopLevel(ctx, dir)
		roots = append(roots, root{path: p, isDir: st.IsDir(), top: top, prefix: prefix})
		allowDir := top
		if allowDir == "" {
			allowDir = dir
		}
		if err := loadAllowlist(filepath.Join(allowDir, AllowlistFile), col.allow); err != nil {
			return Result{}, err
		}
	}

	jobs := make(chan job, 256)
	var wg sync.WaitGroup
	maxSize := opts.maxSize()
	for w := 0; w < opts.workers(true); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scratch{}
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				scanFile(eng, j, maxSize, sc, col)
			}
		}()
	}

	var walkErr error
	seen := map[string]bool{}
	send := func(path string, skipLstat bool, info docInfo) bool {
		if seen[path] {
			return true
		}
		seen[path] = true
		select {
		case jobs <- job{path: path, skipLstat: skipLstat, info: info}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, r := range roots {
		if walkErr != nil || ctx.Err() != nil {
			break
		}
		// Fingerprint paths: relative to the work tree's top (as in git
		// scans), else to the scanned folder; string operations only.
		keyOf := func(path string) string {
			rel, err := filepath.Rel(r.path, path)
			if err != nil {
				rel = path
			}
			return r.prefix + filepath.ToSlash(rel)
		}
		if !r.isDir {
			send(r.path, true, docInfo{file: r.path, key: r.prefix + filepath.Base(r.path), baseLine: 1})
			continue
		}
		if r.top != "" && !opts.NoIgnore {
			files, err := gitListFiles(ctx, r.path)
			if err == nil {
				for _, f := range files {
					p := filepath.Join(r.path, filepath.FromSlash(f))
					if !send(p, false, docInfo{file: p, key: keyOf(p), baseLine: 1}) {
						break
					}
				}
				continue
			}
			// git failed (too old, broken repository): fall back to walking.
		}
		walkErr = filepath.WalkDir(r.path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == r.path {
					return err
				}
				col.fail(p, err)
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.Name() == ".git" && p != r.path {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			// A regular file per the folder listing: no need to lstat it again.
			if !send(p, true, docInfo{file: p, key: keyOf(p), baseLine: 1}) {
				return ctx.Err()
			}
			return nil
		})
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if walkErr != nil {
		return Result{}, fmt.Errorf("cannot scan: %w", walkErr)
	}
	return col.result(), nil
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// scanFile reads and scans one file.
func scanFile(eng *engine, j job, maxSize int64, sc *scratch, col *collector) {
	if !j.skipLstat {
		st, err := os.Lstat(j.path)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				col.fail(j.info.file, err)
			}
			return
		}
		if !st.Mode().IsRegular() {
			return // symbolic link, submodule, socket…
		}
	}
	f, err := os.Open(j.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return // listed by git but deleted in the work tree
		}
		col.fail(j.info.file, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		col.fail(j.info.file, err)
		return
	}
	if !st.Mode().IsRegular() {
		return
	}
	if st.Size() > maxSize {
		col.add(nil, 0, 0, 0, 1)
		return
	}
	size := int(st.Size())
	if cap(sc.buf) < size+1 {
		sc.buf = make([]byte, size+1)
	}
	buf := sc.buf[:cap(sc.buf)]
	n, err := io.ReadFull(f, buf[:size])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		col.fail(j.info.file, err)
		return
	}
	data := buf[:n]
	if isBinary(data) {
		if hasBOM(data) {
			// UTF-16 text (PowerShell 5's >, Notepad's "Unicode"): its NUL
			// bytes do not make it binary. Its vault values are found in
			// their UTF-16 forms.
			fs, _, _, err := eng.scanChunks(bytes.NewReader(data), j.info, sc, len(data)+1)
			if err != nil {
				col.fail(j.info.file, err)
				return
			}
			col.add(fs, 1, int64(n), 0, 0)
			return
		}
		col.add(nil, 0, 0, 1, 0)
		return
	}
	hits := eng.scanDoc(data, sc)
	var fs []Finding
	if len(hits) > 0 {
		fs = eng.toFindings(data, hits, j.info, nil)
	}
	col.add(fs, 1, int64(n), 0, 0)
}

func isBinary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), binarySniffLen)], 0) >= 0
}

// gitTopLevel returns the top of the git work tree holding dir and dir's
// path below it ("" or "sub/dir/"), or "", "" outside a work tree.
func gitTopLevel(ctx context.Context, dir string) (top, prefix string) {
	cmd := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--is-inside-work-tree", "--show-toplevel", "--show-prefix")
	out, err := cmd.Output()
	if err != nil {
		return "", ""
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) < 2 || lines[0] != "true" {
		return "", ""
	}
	if len(lines) > 2 {
		prefix = lines[2]
	}
	return lines[1], prefix
}

// gitListFiles lists the files under dir (relative to it) that git does not
// ignore: tracked ones and untracked ones not excluded.
func gitListFiles(ctx context.Context, dir string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "git", "-C", dir, "-c", "core.quotePath=false",
		"ls-files", "-z", "--cached", "--others", "--exclude-standard")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var files []string
	r := bufio.NewReaderSize(out, 64<<10)
	for {
		name, err := r.ReadString(0)
		if len(name) > 1 {
			files = append(files, strings.TrimSuffix(name, "\x00"))
		}
		if err != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git ls-files: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return files, nil
}
