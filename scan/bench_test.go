package scan_test

import (
	"context"
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
