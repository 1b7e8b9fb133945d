package scan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// WriteText writes one line per finding:
//
//	FILE:LINE:COLUMN: RULE REDACTED [[VAULT:]PROFILE/NAME] [(ENCODING)] [commit SHA] fingerprint FP
func WriteText(w io.Writer, r Result) error {
	bw := bufio.NewWriter(w)
	for _, f := range r.Findings {
		fmt.Fprintf(bw, "%s:%d:%d: %s %s", f.File, f.Line, f.Column, f.Rule, f.Redacted)
		if f.Name != "" {
			bw.WriteByte(' ')
			if f.Vault != "" {
				fmt.Fprintf(bw, "%s:", f.Vault)
			}
			fmt.Fprintf(bw, "%s/%s", f.Profile, f.Name)
		}
		if f.Encoding != "" && f.Encoding != EncPlain {
			fmt.Fprintf(bw, " (%s)", f.Encoding)
		}
		if f.Commit != "" {
			fmt.Fprintf(bw, " commit %s", f.Commit)
		}
		fmt.Fprintf(bw, " fingerprint %s\n", f.Fingerprint)
	}
	return bw.Flush()
}

// WriteSummary writes a one-line account of the scan, meant for stderr.
func WriteSummary(w io.Writer, r Result) error {
	s := r.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "%d finding%s in %d file%s", s.Findings, plural(s.Findings), s.Files, plural(s.Files))
	if s.Commits > 0 {
		fmt.Fprintf(&b, " across %d commit%s", s.Commits, plural(s.Commits))
	}
	fmt.Fprintf(&b, " (%s scanned", humanBytes(s.Bytes))
	if s.SkippedBinary > 0 {
		fmt.Fprintf(&b, ", %d binary skipped", s.SkippedBinary)
	}
	if s.SkippedLarge > 0 {
		fmt.Fprintf(&b, ", %d too large skipped", s.SkippedLarge)
	}
	if s.ExactOnly > 0 {
		fmt.Fprintf(&b, ", %d over the size limit searched for exact values only", s.ExactOnly)
	}
	if s.Allowlisted > 0 {
		fmt.Fprintf(&b, ", %d allowlisted", s.Allowlisted)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, ", %d unreadable", len(r.Errors))
	}
	b.WriteString(")\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// WriteJSON writes the result as one indented JSON document:
// {"findings": [...], "summary": {...}, "errors": [...]}.
func WriteJSON(w io.Writer, r Result) error {
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// SARIF 2.1.0, the subset okv writes.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool       sarifTool     `json:"tool"`
	ColumnKind string        `json:"columnKind"`
	Results    []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	ShortDescription sarifMessage `json:"shortDescription"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifMessage      `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]string `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           sarifRegion   `json:"region"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn"`
}

// SARIFSchema is the schema URI written in SARIF output.
const SARIFSchema = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

// WriteSARIF writes the result as a SARIF 2.1.0 log with one run, for code
// scanning dashboards. Each result carries the finding's fingerprint in
// partialFingerprints["okv/v1"].
func WriteSARIF(w io.Writer, r Result) error {
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name:           "okv",
			InformationURI: "https://github.com/okvault/okv",
		}},
		ColumnKind: "unicodeCodePoints",
		Results:    []sarifResult{},
	}
	index := map[string]int{}
	for i, ri := range Rules {
		index[ri.ID] = i
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: ri.ID, ShortDescription: sarifMessage{ri.Description}})
	}
	for _, f := range r.Findings {
		msg := ruleDescription(f.Rule) + ": " + f.Redacted
		props := map[string]string{}
		if f.Name != "" {
			msg = fmt.Sprintf("Vault key %s/%s found: %s", f.Profile, f.Name, f.Redacted)
			if f.Vault != "" {
				msg = fmt.Sprintf("Vault key %s/%s of the %s vault found: %s", f.Profile, f.Name, f.Vault, f.Redacted)
				props["vault"] = f.Vault
			}
			props["profile"], props["name"], props["encoding"] = f.Profile, f.Name, f.Encoding
		}
		if f.Commit != "" {
			msg += " in commit " + f.Commit
			props["commit"] = f.Commit
		}
		if len(props) == 0 {
			props = nil
		}
		run.Results = append(run.Results, sarifResult{
			RuleID:    f.Rule,
			RuleIndex: index[f.Rule],
			Level:     "error",
			Message:   sarifMessage{msg},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{
				ArtifactLocation: sarifArtifact{URI: sarifURI(f.File)},
				Region:           sarifRegion{StartLine: f.Line, StartColumn: f.Column},
			}}},
			PartialFingerprints: map[string]string{"okv/v1": f.Fingerprint},
			Properties:          props,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(sarifLog{Schema: SARIFSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}

func ruleDescription(id string) string {
	for _, r := range Rules {
		if r.ID == id {
			return r.Description
		}
	}
	return id
}

// sarifURI turns a path into a URI reference: relative paths stay relative
// (resolved against the scan's working folder), absolute ones get file://.
func sarifURI(path string) string {
	p := filepath.ToSlash(path)
	u := url.URL{Path: p}
	if filepath.IsAbs(path) {
		u.Scheme = "file"
		if !strings.HasPrefix(p, "/") {
			u.Path = "/" + p // C:/x on Windows
		}
	}
	return u.String()
}
