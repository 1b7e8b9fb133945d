// Command okvscan runs scan.Scan over a corpus written by gencorpus, for
// the benchmark (so it does not need the okv CLI), and compares what okv
// and, optionally, gitleaks found with the corpus manifest.
//
//	okvscan -dir DIR -manifest FILE [-report FILE] [-gitleaks-report FILE]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/okvault/okv/scan"
	"github.com/okvault/okv/scan/corpus"
)

func main() {
	dir := flag.String("dir", "", "corpus folder")
	manifest := flag.String("manifest", "", "corpus manifest")
	report := flag.String("report", "", "write okv's findings here as JSON")
	workers := flag.Int("workers", 0, "scan workers (0: GOMAXPROCS)")
	glReport := flag.String("gitleaks-report", "", "also score this gitleaks JSON report")
	recall := flag.Bool("recall", false, "print recall against the manifest (and timings) on stdout")
	hf := flag.String("hyperfine", "", "with -recall: also report the timings in this hyperfine JSON export")
	jsonOut := flag.String("json", "", "with -recall: also write the scores as JSON here")
	flag.Parse()
	m, err := corpus.ReadManifest(*manifest)
	check(err)
	res, err := scan.Scan(context.Background(), scan.Options{Paths: []string{*dir}, Known: m.Known, Workers: *workers})
	check(err)
	if *report != "" {
		f, err := os.Create(*report)
		check(err)
		check(scan.WriteJSON(f, res))
		check(f.Close())
	}
	if !*recall {
		check(scan.WriteSummary(os.Stderr, res))
		return
	}
	okv := scoreOKV(*dir, m, res)
	out := map[string]any{"okv": okv, "corpus": map[string]any{"files": m.Files, "bytes": m.Bytes, "plants": len(m.Plants), "decoys": len(m.Decoys), "binary_files": len(m.Binary)}}
	fmt.Printf("corpus: %d files, %.1f MB, %d planted secrets, %d decoys, %d binary files\n", m.Files, float64(m.Bytes)/1e6, len(m.Plants), len(m.Decoys), len(m.Binary))
	printScore("okv", okv)
	if *glReport != "" {
		gl := scoreGitleaks(*dir, m, *glReport)
		out["gitleaks"] = gl
		printScore("gitleaks", gl)
	}
	if *hf != "" {
		t := readHyperfine(*hf)
		out["timings"] = t
		var okvMean float64
		for _, r := range t.Results {
			if r.Command == "okv" {
				okvMean = r.Mean
			}
		}
		for _, r := range t.Results {
			fmt.Printf("time %-9s %7.2f s ± %.2f (min %.2f, max %.2f) = %6.1f MB/s", r.Command, r.Mean, r.Stddev, r.Min, r.Max, float64(m.Bytes)/r.Mean/1e6)
			if okvMean > 0 && r.Command != "okv" {
				fmt.Printf("  (%.1f× okv's time)", r.Mean/okvMean)
			}
			fmt.Println()
		}
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(out, "", "  ")
		check(err)
		check(os.WriteFile(*jsonOut, b, 0o644))
	}
}

type hyperfine struct {
	Results []struct {
		Command string  `json:"command"`
		Mean    float64 `json:"mean"`
		Stddev  float64 `json:"stddev"`
		Min     float64 `json:"min"`
		Max     float64 `json:"max"`
	} `json:"results"`
}

func readHyperfine(path string) hyperfine {
	b, err := os.ReadFile(path)
	check(err)
	var h hyperfine
	check(json.Unmarshal(b, &h))
	return h
}

func printScore(name string, s score) {
	fmt.Printf("recall %-9s all forms %d/%d (%.1f%%), literal OpenAI keys %d/%d (%.1f%%), false positives %d",
		name, s.Found, s.Plants, 100*s.Recall, s.LiteralFound, s.LiteralPlants, 100*s.LiteralRecall, s.FalsePositives)
	if s.InBinaryFiles > 0 {
		fmt.Printf(", %d in binary files", s.InBinaryFiles)
	}
	fmt.Println()
}

type score struct {
	Plants         int     `json:"plants"`
	Found          int     `json:"found"`
	Recall         float64 `json:"recall"`
	LiteralPlants  int     `json:"literal_openai_plants"` // OpenAI-shaped keys standing as they are
	LiteralFound   int     `json:"literal_openai_found"`
	LiteralRecall  float64 `json:"literal_openai_recall"`
	FalsePositives int     `json:"false_positives"` // findings at no plant, outside binary files
	InBinaryFiles  int     `json:"in_binary_files"` // findings in the corpus's binary files (okv skips them)
	Findings       int     `json:"findings"`
}

type loc struct {
	file string
	line int
}

func rel(dir, file string) string {
	r, err := filepath.Rel(dir, file)
	if err != nil {
		return file
	}
	return filepath.ToSlash(r)
}

func scoreOKV(dir string, m *corpus.Manifest, res scan.Result) score {
	found := map[loc][]scan.Finding{}
	for _, f := range res.Findings {
		l := loc{rel(dir, f.File), f.Line}
		found[l] = append(found[l], f)
	}
	s := score{Findings: len(res.Findings)}
	planted := map[loc]bool{}
	for _, p := range m.Plants {
		l := loc{p.File, p.Line}
		planted[l] = true
		hit := false
		for _, f := range found[l] {
			if f.Rule == p.Rule && f.Name == p.Name && f.Profile == p.Profile {
				hit = true
			}
		}
		s.add(p, hit)
	}
	for l, fs := range found {
		if !planted[l] {
			s.FalsePositives += len(fs)
		}
	}
	s.finish()
	return s
}

func (s *score) add(p corpus.Plant, hit bool) {
	s.Plants++
	if hit {
		s.Found++
	}
	if p.Literal {
		s.LiteralPlants++
		if hit {
			s.LiteralFound++
		}
	}
}

func (s *score) finish() {
	if s.Plants > 0 {
		s.Recall = float64(s.Found) / float64(s.Plants)
	}
	if s.LiteralPlants > 0 {
		s.LiteralRecall = float64(s.LiteralFound) / float64(s.LiteralPlants)
	}
}

// gitleaks' JSON report: the fields we need.
type glFinding struct {
	File      string
	StartLine int
	Secret    string
}

func scoreGitleaks(dir string, m *corpus.Manifest, path string) score {
	b, err := os.ReadFile(path)
	check(err)
	var fs []glFinding
	check(json.Unmarshal(b, &fs))
	found := map[loc][]glFinding{}
	for _, f := range fs {
		file := f.File
		if filepath.IsAbs(file) {
			file = rel(dir, file)
		} else {
			file = rel(dir, file)
			if strings.HasPrefix(file, "..") {
				file = filepath.ToSlash(f.File)
			}
		}
		l := loc{file, f.StartLine}
		found[l] = append(found[l], f)
	}
	s := score{Findings: len(fs)}
	planted := map[loc]bool{}
	for _, p := range m.Plants {
		l := loc{p.File, p.Line}
		planted[l] = true
		hit := false
		for _, f := range found[l] {
			if strings.Contains(f.Secret, p.Secret) || (p.Literal && f.Secret != "" && strings.Contains(p.Secret, f.Secret)) {
				hit = true
			}
		}
		s.add(p, hit)
	}
	binary := map[string]bool{}
	for _, b := range m.Binary {
		binary[b] = true
	}
	for l, fs := range found {
		switch {
		case binary[l.file]:
			s.InBinaryFiles += len(fs)
		case !planted[l]:
			s.FalsePositives += len(fs)
		}
	}
	s.finish()
	return s
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "okvscan: error:", err)
		os.Exit(2)
	}
}
