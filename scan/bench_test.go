package scan_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/okvault/okv/scan"
	"github.com/okvault/okv/scan/corpus"
)

// BenchmarkScan scans a 2,000-file corpus (about 8 MB, in the page cache)
// with one worker.
func BenchmarkScan(b *testing.B) {
	dir := b.TempDir()
	m, err := corpus.Generate(corpus.Options{Dir: dir, Files: 2000, Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(m.Bytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := scan.Scan(context.Background(), scan.Options{Paths: []string{dir}, Known: m.Known, Workers: 1})
		if err != nil || len(res.Findings) != len(m.Plants) {
			b.Fatal(err, len(res.Findings))
		}
	}
}

// BenchmarkScanStaged: the pre-commit hook on a first commit of the same
// corpus, every file staged (git diff --cached --raw, then git cat-file
// --batch for every blob).
func BenchmarkScanStaged(b *testing.B) {
	if _, err := exec.LookPath("git"); err != nil {
		b.Skip("git not installed")
	}
	b.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	b.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	dir := b.TempDir()
	m, err := corpus.Generate(corpus.Options{Dir: dir, Files: 2000, Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			b.Fatal(err, string(out))
		}
	}
	b.SetBytes(m.Bytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := scan.ScanStaged(context.Background(), dir, scan.Options{Known: m.Known})
		if err != nil || len(res.Findings) < len(m.Plants) {
			b.Fatal(err, len(res.Findings), len(m.Plants))
		}
	}
}
