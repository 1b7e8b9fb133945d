package scan

import (
	"bytes"
	"encoding/base64"
	"sort"
)

// Known is a value stored in the vault, to be found wherever it appears.
type Known struct {
	Profile string `json:"profile"`
	Name    string `json:"name"`
	Value   string `json:"value"`
}

// MinKnownLength is the shortest vault value Scan looks for. Shorter values
// would match everywhere (a 4-digit PIN is in every file with a date) and
// are skipped.
const MinKnownLength = 8

// Encodings of a vault value in a finding.
const (
	EncPlain       = "plain"
	EncJSONEscaped = "json-escaped" // JSON/JavaScript string escapes: \/ \u002d \" \xHH …
	EncBase64      = "base64"       // standard alphabet, any of the 3 alignments
	EncBase64URL   = "base64url"    // URL-safe alphabet, any of the 3 alignments
	EncWrapped     = "wrapped"      // broken across lines (indentation, `\` continuation, comment markers)
)

// engine holds everything needed to scan one document; it is shared,
// read-only, by all workers.
type engine struct {
	known  []Known
	plain  *multiMatcher // raw values and their base64 forms
	joined *multiMatcher // the same, with values normalised as the joined view is
}

func newEngine(ks []Known) *engine {
	// Deduplicate by value; the first (by profile, name) names the finding.
	sorted := append([]Known(nil), ks...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Profile != sorted[j].Profile {
			return sorted[i].Profile < sorted[j].Profile
		}
		return sorted[i].Name < sorted[j].Name
	})
	seen := map[string]bool{}
	e := &engine{}
	for _, k := range sorted {
		if len(k.Value) < MinKnownLength || seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		e.known = append(e.known, k)
	}
	var plain, joined []pattern
	differ := false
	for i, k := range e.known {
		v := []byte(k.Value)
		plain = append(plain, pattern{text: v, known: i, enc: EncPlain})
		b64 := base64Patterns(v, i)
		plain = append(plain, b64...)
		n := normaliseValue(v)
		if len(n) >= gramLen {
			joined = append(joined, pattern{text: n, known: i, enc: EncPlain})
		}
		if !bytes.Equal(n, v) {
			differ = true
		}
		joined = append(joined, b64...)
	}
	e.plain = newMultiMatcher(plain)
	if differ {
		e.joined = newMultiMatcher(joined)
	} else {
		e.joined = e.plain
	}
	return e
}

// base64Patterns returns the parts of v's base64 encoding that do not depend
// on the bytes around v, for v starting at each of the three alignments of
// a larger encoded document, in both alphabets. For alignment a the first
// ceil(8a/6) characters mix in the preceding bytes and the characters past
// floor(8(a+n)/6) mix in the following ones, so they are cut off.
func base64Patterns(v []byte, known int) []pattern {
	var out []pattern
	seen := map[string]bool{}
	for a := 0; a < 3; a++ {
		buf := make([]byte, a+len(v))
		copy(buf[a:], v)
		start := (8*a + 5) / 6
		end := 8 * (a + len(v)) / 6
		for _, enc := range []struct {
			name string
			e    *base64.Encoding
		}{{EncBase64, base64.StdEncoding}, {EncBase64URL, base64.URLEncoding}} {
			s := enc.e.EncodeToString(buf)[start:end]
			if len(s) < gramLen || seen[s] {
				continue
			}
			seen[s] = true
			out = append(out, pattern{text: []byte(s), known: known, enc: enc.name})
		}
	}
	return out
}

// normaliseValue applies the joined view's rules to a value, so that a
// multi-line value (a PEM key) re-indented in a YAML file still matches.
func normaliseValue(v []byte) []byte {
	if bytes.IndexByte(v, '\n') < 0 {
		return v
	}
	j, _ := buildJoined(v, nil, nil)
	return j
}
