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
	"strconv"
	"strings"
	"sync"
)

// ScanStaged scans what the next commit of the git repository holding
// repoDir would add, as a pre-commit hook does. It reads the staged blobs
// themselves (`git cat-file --batch`), not the work tree and not a diff,
// so what .gitattributes says (-diff, binary, textconv) changes nothing:
// every staged file is searched, whatever its kind. A file up to
// MaxFileSize is searched in every form; a larger one in chunks, for the
// exact vault values (with their base64 and UTF-16 forms) and key shapes
// (Summary.ExactOnly counts those). A secret is reported when the staged
// file holds it more often than the file it replaces (HEAD's version, or
// the source of a rename): a commit that only touches a file holding an
// old, already committed key is not blocked for it, while `okv scan --git`
// still finds that key. Submodule entries hold no content of this
// repository and are not searched. Options.Paths is not used.
func ScanStaged(ctx context.Context, repoDir string, opts Options) (Result, error) {
	top, _ := gitTopLevel(ctx, repoDir)
	if top == "" {
		return Result{}, fmt.Errorf("not inside a git work tree: %s", repoDir)
	}
	eng := newEngine(opts.Known)
	col := &collector{allow: map[string]bool{}, notSearched: eng.notSearched}
	if err := loadAllowlist(filepath.Join(top, AllowlistFile), col.allow); err != nil {
		return Result{}, err
	}
	changes, err := stagedChanges(ctx, top)
	if err != nil {
		return Result{}, err
	}
	if len(changes) > 0 {
		if err := scanBlobs(ctx, top, eng, changes, opts.maxSize(), opts.workers(false), col); err != nil {
			return Result{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	return col.result(), nil
}

// stagedChange is one file the next commit adds or changes.
type stagedChange struct {
	path   string
	oldOID string // "" for an added file
	newOID string
}

const nullOID = "0000000000000000000000000000000000000000"

// stagedChanges lists the index's changes against HEAD (against the empty
// tree before the first commit), renames detected. A copy counts as a new
// file.
func stagedChanges(ctx context.Context, top string) ([]stagedChange, error) {
	args := append([]string{"-C", top}, gitDiffConfig...)
	args = append(args, "diff", "--cached", "--raw", "-z", "--no-abbrev", "-M", "--no-ext-diff", "--ignore-submodules=none")
	cmd := exec.CommandContext(ctx, "git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git diff --cached failed: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var changes []stagedChange
	fields := strings.Split(string(out), "\x00")
	for i := 0; i < len(fields); i++ {
		meta := fields[i]
		if meta == "" {
			continue
		}
		// :OLDMODE NEWMODE OLDOID NEWOID STATUS, then one path, or two for
		// renames and copies.
		m := strings.Fields(strings.TrimPrefix(meta, ":"))
		if !strings.HasPrefix(meta, ":") || len(m) != 5 || m[4] == "" || i+1 >= len(fields) {
			return nil, fmt.Errorf("cannot read git diff --raw output")
		}
		status := m[4][0]
		i++
		path := fields[i]
		if status == 'R' || status == 'C' {
			if i+1 >= len(fields) {
				return nil, fmt.Errorf("cannot read git diff --raw output")
			}
			i++
			path = fields[i]
		}
		switch {
		case status == 'D' || status == 'U' || m[3] == nullOID:
			continue // nothing staged to search (deleted, or unmerged)
		case m[1] == "160000":
			continue // a submodule: a commit id, no content of this repository
		}
		c := stagedChange{path: path, newOID: m[3]}
		if m[2] != nullOID && m[0] != "160000" {
			c.oldOID = m[2]
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// blobJob is a staged file read into memory, with the file it replaces.
type blobJob struct {
	c        stagedChange
	old, new []byte
	exact    bool // too large for every form: exact values and shapes only
}

// scanBlobs reads the blobs of changes with one `git cat-file --batch` and
// scans them: small ones on workers, large ones in chunks as they stream.
func scanBlobs(ctx context.Context, top string, eng *engine, changes []stagedChange, maxSize int64, workers int, col *collector) error {
	cmd := exec.CommandContext(ctx, "git", "-C", top, "cat-file", "--batch")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot run git: %w", err)
	}
	go func() {
		bw := bufio.NewWriter(stdin)
		for _, c := range changes {
			if c.oldOID != "" {
				fmt.Fprintln(bw, c.oldOID)
			}
			fmt.Fprintln(bw, c.newOID)
		}
		bw.Flush()
		stdin.Close()
	}()

	jobs := make(chan blobJob, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scratch{}
			for j := range jobs {
				scanBlobPair(eng, j, sc, col)
			}
		}()
	}
	br := bufio.NewReaderSize(stdout, 256<<10)
	rerr := func() error {
		sc := &scratch{}
		for _, c := range changes {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var old []byte
			oldLarge := false
			var oldSize int64
			if c.oldOID != "" {
				size, err := blobHeader(br, c.oldOID)
				if err != nil {
					return err
				}
				oldSize, oldLarge = size, size > maxSize
				if !oldLarge {
					if old, err = readBlob(br, size); err != nil {
						return err
					}
				}
			}
			if oldLarge {
				// Chunk through the old version first, then the new one.
				_, oldKeys, _, err := eng.scanExact(io.LimitReader(br, oldSize), docInfo{}, sc)
				if err == nil {
					err = blobTrailer(br)
				}
				if err != nil {
					return err
				}
				size, err := blobHeader(br, c.newOID)
				if err != nil {
					return err
				}
				if err := scanLargeBlob(eng, c, br, size, oldKeys, sc, col); err != nil {
					return err
				}
				continue
			}
			size, err := blobHeader(br, c.newOID)
			if err != nil {
				return err
			}
			if size > maxSize {
				var oldKeys []string
				if old != nil {
					_, oldKeys, _, _ = eng.scanExact(bytes.NewReader(old), docInfo{}, sc)
				}
				if err := scanLargeBlob(eng, c, br, size, oldKeys, sc, col); err != nil {
					return err
				}
				continue
			}
			data, err := readBlob(br, size)
			if err != nil {
				return err
			}
			jobs <- blobJob{c: c, old: old, new: data}
		}
		return nil
	}()
	close(jobs)
	wg.Wait()
	if rerr != nil {
		_, _ = io.Copy(io.Discard, br)
	}
	werr := cmd.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("git cat-file failed: %w: %s", werr, strings.TrimSpace(stderr.String()))
	}
	if rerr != nil {
		return fmt.Errorf("cannot read the staged files: %w", rerr)
	}
	return nil
}

// blobHeader reads "<oid> <type> <size>\n" of `git cat-file --batch`.
func blobHeader(br *bufio.Reader, oid string) (int64, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	f := strings.Fields(line)
	if len(f) == 2 && f[1] == "missing" {
		return 0, fmt.Errorf("object %s is missing", oid)
	}
	if len(f) != 3 || f[0] != oid {
		return 0, fmt.Errorf("unexpected git cat-file output")
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || size < 0 {
		return 0, fmt.Errorf("unexpected git cat-file output")
	}
	return size, nil
}

func readBlob(br *bufio.Reader, size int64) ([]byte, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(br, data); err != nil {
		return nil, err
	}
	return data, blobTrailer(br)
}

// blobTrailer reads the newline git prints after each object.
func blobTrailer(br *bufio.Reader) error {
	b, err := br.ReadByte()
	if err == nil && b != '\n' {
		err = errors.New("unexpected git cat-file output")
	}
	return err
}

// scanLargeBlob scans a staged blob larger than MaxFileSize as it streams.
func scanLargeBlob(eng *engine, c stagedChange, br *bufio.Reader, size int64, oldKeys []string, sc *scratch, col *collector) error {
	d := docInfo{file: c.path, key: c.path, baseLine: 1}
	fs, keys, n, err := eng.scanExact(io.LimitReader(br, size), d, sc)
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = blobTrailer(br)
	}
	if err != nil {
		return err
	}
	col.add(added(fs, keys, oldKeys), 1, size, 0, 0)
	col.mu.Lock()
	col.sum.ExactOnly++
	col.mu.Unlock()
	return nil
}

// scanBlobPair scans a staged blob and the version it replaces in every
// form, and reports what the staged one adds.
func scanBlobPair(eng *engine, j blobJob, sc *scratch, col *collector) {
	var oldKeys []string
	if j.old != nil {
		for _, h := range eng.scanDoc(j.old, sc) {
			oldKeys = append(oldKeys, hitKey(h))
		}
	}
	hits := eng.scanDoc(j.new, sc)
	var fs []Finding
	var keys []string
	if len(hits) > 0 {
		fs = eng.toFindings(j.new, hits, docInfo{file: j.c.path, key: j.c.path, baseLine: 1}, nil)
		for _, h := range hits {
			keys = append(keys, hitKey(h))
		}
	}
	col.add(added(fs, keys, oldKeys), 1, int64(len(j.new)), 0, 0)
}

// added keeps the findings of the secrets the new version holds more often
// than the old one (all their occurrences: which one is new is unknowable
// in a binary file, and a reviewer wants to see them all).
func added(fs []Finding, keys, oldKeys []string) []Finding {
	if len(oldKeys) == 0 {
		return fs
	}
	count := map[string]int{}
	for _, k := range keys {
		count[k]++
	}
	for _, k := range oldKeys {
		count[k]--
	}
	var out []Finding
	for i, f := range fs {
		if count[keys[i]] > 0 {
			out = append(out, f)
		}
	}
	return out
}
