package scan_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/okvault/okv/scan"
	"github.com/okvault/okv/scan/corpus"
)

// TestCorpusRecall plants every key shape and every form of every vault
// value, plus decoys, and wants all plants found and nothing else.
func TestCorpusRecall(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "tree")
	m, err := corpus.Generate(corpus.Options{Dir: root, Files: 300, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.Scan(context.Background(), scan.Options{Paths: []string{root}, Known: m.Known})
	if err != nil {
		t.Fatal(err)
	}
	checkRecall(t, root, m, res)
	if res.Summary.SkippedBinary != len(m.Binary) {
		t.Errorf("skipped %d binary files, want %d", res.Summary.SkippedBinary, len(m.Binary))
	}
}

func checkRecall(t *testing.T, root string, m *corpus.Manifest, res scan.Result) {
	t.Helper()
	type loc struct {
		file string
		line int
	}
	found := map[loc][]scan.Finding{}
	for _, f := range res.Findings {
		rel, err := filepath.Rel(root, f.File)
		if err != nil {
			t.Fatal(err)
		}
		l := loc{filepath.ToSlash(rel), f.Line}
		found[l] = append(found[l], f)
	}
	matched := map[loc]int{}
	missed := 0
	for _, p := range m.Plants {
		l := loc{p.File, p.Line}
		ok := false
		for _, f := range found[l] {
			if f.Rule == p.Rule && f.Profile == p.Profile && f.Name == p.Name && (p.Rule != scan.RuleVaultValue || f.Encoding == p.Encoding) {
				ok = true
			}
		}
		if !ok {
			missed++
			if missed <= 20 {
				t.Errorf("missed plant %s:%d rule %s %s/%s encoding %s; found there: %v", p.File, p.Line, p.Rule, p.Profile, p.Name, p.Encoding, describe(found[l]))
			}
		}
		matched[l]++
	}
	extra := 0
	for l, fs := range found {
		if n := matched[l]; len(fs) > n {
			extra++
			if extra <= 20 {
				t.Errorf("unexpected finding(s) at %s:%d: %v", l.file, l.line, describe(fs))
			}
		}
	}
	for _, d := range m.Decoys {
		if fs := found[loc{d.File, d.Line}]; len(fs) > 0 {
			t.Errorf("decoy %s matched at %s:%d: %v", d.Kind, d.File, d.Line, describe(fs))
		}
	}
	t.Logf("%d plants, %d missed, %d unexpected, %d decoys", len(m.Plants), missed, extra, len(m.Decoys))
}

func describe(fs []scan.Finding) string {
	s := ""
	for _, f := range fs {
		s += fmt.Sprintf("[%s %s/%s %s col %d] ", f.Rule, f.Profile, f.Name, f.Encoding, f.Column)
	}
	return s
}
