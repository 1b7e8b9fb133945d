package scan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// CommitMessageFile is the File of a finding in a commit message.
const CommitMessageFile = "(commit message)"

// ScanHistory scans every commit reachable from any ref (`git log -p --cc
// --all`): the lines each commit adds, its message (findings in
// [CommitMessageFile]), and in a merge the lines its conflict resolution
// adds, that is, lines of the merge result found in none of its parents
// (the combined diff's "++" lines; lines taken from a parent were scanned
// in that parent's commit). Findings carry the commit; line numbers are
// those of the file in that commit, or of the message. Options.Paths is not
// used.
func ScanHistory(ctx context.Context, repoDir string, opts Options) (Result, error) {
	return scanGit(ctx, repoDir, opts, true, "log", "-p", "--cc", "--all", "--format=%x00%H%n%B%x00", "--no-show-signature")
}

// gitDiffConfig pins the settings that change what git diff prints.
var gitDiffConfig = []string{
	"-c", "core.quotePath=false",
	"-c", "diff.noprefix=false",
	"-c", "diff.mnemonicPrefix=false",
	"-c", "diff.relative=false",
	"-c", "log.showRoot=true",
}

var gitDiffFlags = []string{
	"-U0", "--no-color", "--no-ext-diff", "--no-textconv", "-M",
	"--src-prefix=a/", "--dst-prefix=b/",
}

// diffFile is the added content of one file in one diff.
type diffFile struct {
	path   string
	commit string
	binary bool
	size   int64
	hunks  []diffHunk
}

type diffHunk struct {
	line int // first line number in the new file
	data []byte
}

func scanGit(ctx context.Context, repoDir string, opts Options, history bool, sub ...string) (Result, error) {
	top, _ := gitTopLevel(ctx, repoDir)
	if top == "" {
		return Result{}, fmt.Errorf("not inside a git work tree: %s", repoDir)
	}
	eng := newEngine(opts.Known)
	col := &collector{allow: map[string]bool{}, notSearched: eng.notSearched}
	if err := loadAllowlist(filepath.Join(top, AllowlistFile), col.allow); err != nil {
		return Result{}, err
	}

	args := append([]string{"-C", top}, gitDiffConfig...)
	args = append(args, sub[0])
	args = append(args, gitDiffFlags...)
	args = append(args, sub[1:]...)
	cmd := exec.CommandContext(ctx, "git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("cannot run git: %w", err)
	}

	files := make(chan *diffFile, 64)
	var wg sync.WaitGroup
	maxSize := opts.maxSize()
	for w := 0; w < opts.workers(false); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scratch{}
			for f := range files {
				scanDiffFile(eng, f, maxSize, sc, col)
			}
		}()
	}
	commitOrder := map[string]int{}
	perr := parseDiff(stdout, func(f *diffFile) {
		files <- f
	}, func(commit string) {
		commitOrder[commit] = len(commitOrder)
	})
	close(files)
	wg.Wait()
	if perr != nil {
		_, _ = io.Copy(io.Discard, stdout)
	}
	werr := cmd.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if werr != nil {
		return Result{}, fmt.Errorf("git %s failed: %w: %s", sub[0], werr, strings.TrimSpace(stderr.String()))
	}
	if perr != nil {
		return Result{}, fmt.Errorf("cannot read git %s output: %w", sub[0], perr)
	}
	col.sum.Commits = len(commitOrder)
	r := col.result()
	if history {
		sortByCommit(r.Findings, commitOrder)
	}
	return r, nil
}

func sortByCommit(fs []Finding, order map[string]int) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Commit != b.Commit {
			return order[a.Commit] < order[b.Commit]
		}
		return findingLess(a, b)
	})
}

func scanDiffFile(eng *engine, f *diffFile, maxSize int64, sc *scratch, col *collector) {
	switch {
	case f.binary:
		col.add(nil, 0, 0, 1, 0)
		return
	case f.size > maxSize:
		col.add(nil, 0, 0, 0, 1)
		return
	case len(f.hunks) == 0:
		return
	}
	var out []Finding
	for _, h := range f.hunks {
		hits := eng.scanDoc(h.data, sc)
		if len(hits) > 0 {
			out = eng.toFindings(h.data, hits, docInfo{file: f.path, key: f.path, commit: f.commit, baseLine: h.line}, out)
		}
	}
	files := 1
	if f.path == CommitMessageFile {
		files = 0 // counted in Summary.Commits
	}
	col.add(out, files, f.size, 0, 0)
}

// parseDiff reads unified and combined diffs with zero context (and, for
// git log, a commit line "\x00<sha>" followed by the message and a line
// "\x00"), calling file for each file's added lines and each message.
func parseDiff(r io.Reader, file func(*diffFile), commitFn func(string)) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var (
		cur         *diffFile
		commit      string
		inHunk      bool
		left, right int // lines of the current hunk still to read
		hunk        *diffHunk
		msg         *diffFile // the commit message being read
		parents     int       // of a combined diff's current hunk; 0 in a plain diff
		next        int       // combined: the result's line number of the next line
		hunkEnd     int       // combined: the line after the current hunk's last
	)
	flush := func() {
		if cur != nil && cur.path != "" {
			file(cur)
		}
		cur, hunk, inHunk = nil, nil, false
	}
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))

		if msg != nil {
			if len(line) == 1 && line[0] == 0 {
				if msg.size > 0 {
					file(msg)
				}
				msg = nil
			} else {
				msg.hunks[0].data = append(append(msg.hunks[0].data, line...), '\n')
				msg.size += int64(len(line)) + 1
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return err
			}
			continue
		}

		if inHunk && parents > 0 {
			if p, ok := combinedPrefix(line, parents); ok {
				switch {
				case p == '+': // in the result and in no parent: the merge added it
					if hunk == nil || hunkEnd != next {
						cur.hunks = append(cur.hunks, diffHunk{line: next})
						hunk = &cur.hunks[len(cur.hunks)-1]
					}
					hunk.data = append(append(hunk.data, line[parents:]...), '\n')
					cur.size += int64(len(line) - parents)
					next++
					hunkEnd = next
				case p == ' ': // in the result, from a parent
					next++
				}
				if err != nil {
					if errors.Is(err, io.EOF) {
						break
					}
					return err
				}
				continue
			}
			inHunk = false
		}

		if inHunk {
			switch {
			case len(line) > 0 && line[0] == '+' && right > 0:
				hunk.data = append(hunk.data, line[1:]...)
				hunk.data = append(hunk.data, '\n')
				cur.size += int64(len(line))
				right--
			case len(line) > 0 && line[0] == '-' && left > 0:
				left--
			case len(line) > 0 && line[0] == '\\': // "\ No newline at end of file"
			case len(line) > 0 && line[0] == ' ':
				left--
				right--
			default:
				inHunk = false
			}
			if inHunk {
				if left <= 0 && right <= 0 {
					inHunk = false
				}
				if err != nil {
					if errors.Is(err, io.EOF) {
						break
					}
					return err
				}
				continue
			}
		}

		switch {
		case len(line) > 0 && line[0] == 0:
			flush()
			commit = string(bytes.TrimSpace(line[1:]))
			commitFn(commit)
			msg = &diffFile{path: CommitMessageFile, commit: commit, hunks: []diffHunk{{line: 1}}}
		case bytes.HasPrefix(line, []byte("diff --git ")), bytes.HasPrefix(line, []byte("diff --cc ")):
			flush()
			cur = &diffFile{commit: commit}
		case cur == nil:
		case bytes.HasPrefix(line, []byte("+++ ")):
			cur.path = diffPath(line[4:])
		case bytes.HasPrefix(line, []byte("Binary files ")):
			cur.binary = true
			if cur.path == "" {
				cur.path = binaryDiffPath(line)
			}
		case bytes.HasPrefix(line, []byte("@@@")):
			n, start, ok := parseCombinedHunkHeader(line)
			if !ok {
				return fmt.Errorf("malformed hunk header")
			}
			parents, next, hunk, inHunk = n, start, nil, true
		case bytes.HasPrefix(line, []byte("@@ ")):
			l, r, start, ok := parseHunkHeader(line)
			if !ok {
				return fmt.Errorf("malformed hunk header")
			}
			left, right, parents = l, r, 0
			cur.hunks = append(cur.hunks, diffHunk{line: start})
			hunk = &cur.hunks[len(cur.hunks)-1]
			inHunk = left > 0 || right > 0
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
	}
	flush()
	return nil
}

// diffPath decodes the path of a "+++ " line; "" for /dev/null.
func diffPath(b []byte) string {
	s := strings.TrimSuffix(string(b), "\t")
	if strings.HasPrefix(s, "\"") {
		if u, err := strconv.Unquote(s); err == nil {
			s = u
		}
	}
	if s == "/dev/null" {
		return ""
	}
	return strings.TrimPrefix(s, "b/")
}

// binaryDiffPath takes the new path from "Binary files a/x and b/y differ".
func binaryDiffPath(line []byte) string {
	s := strings.TrimSuffix(string(line), " differ")
	if i := strings.LastIndex(s, " and "); i >= 0 {
		return diffPath([]byte(s[i+5:]))
	}
	return ""
}

// combinedPrefix reads the first parents columns of a combined diff line:
// '+' when every column is '+' (a line no parent has), '-' when some
// column is '-' (not in the result), ' ' otherwise; ok is false when the
// line is not a hunk line.
func combinedPrefix(line []byte, parents int) (p byte, ok bool) {
	if len(line) < parents {
		return 0, false
	}
	p = '+'
	for _, c := range line[:parents] {
		switch c {
		case '-':
			p = '-'
		case ' ':
			if p == '+' {
				p = ' '
			}
		case '+':
		default:
			return 0, false
		}
	}
	return p, true
}

// parseCombinedHunkHeader reads "@@@ -a,b -c,d +e,f @@@" (one "-" range
// per parent): the number of parents and the first line of the result.
func parseCombinedHunkHeader(line []byte) (parents, start int, ok bool) {
	f := strings.Fields(string(line))
	if len(f) < 4 {
		return 0, 0, false
	}
	parents = len(f[0]) - 1
	if parents < 2 || len(f) < parents+2 || !strings.HasPrefix(f[parents+1], "+") {
		return 0, 0, false
	}
	a, _, _ := strings.Cut(f[parents+1][1:], ",")
	start, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, false
	}
	return parents, start, true
}

// parseHunkHeader reads "@@ -a[,b] +c[,d] @@": the number of removed and
// added lines, and the first added line.
func parseHunkHeader(line []byte) (left, right, start int, ok bool) {
	f := strings.Fields(string(line))
	if len(f) < 3 || !strings.HasPrefix(f[1], "-") || !strings.HasPrefix(f[2], "+") {
		return 0, 0, 0, false
	}
	num := func(s string) (int, int, bool) {
		a, b, found := strings.Cut(s, ",")
		x, err := strconv.Atoi(a)
		if err != nil {
			return 0, 0, false
		}
		n := 1
		if found {
			if n, err = strconv.Atoi(b); err != nil {
				return 0, 0, false
			}
		}
		return x, n, true
	}
	_, l, ok1 := num(f[1][1:])
	s, r, ok2 := num(f[2][1:])
	return l, r, s, ok1 && ok2
}
