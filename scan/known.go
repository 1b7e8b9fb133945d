package scan

import (
	"bytes"
	"encoding/base64"
	"sort"
	"unicode/utf16"
	"unicode/utf8"
)

// Known is a value stored in the vault, to be found wherever it appears.
type Known struct {
	// Vault names the vault the value comes from ("personal", "project").
	Vault   string `json:"vault,omitempty"`
	Profile string `json:"profile"`
	Name    string `json:"name"`
	Value   string `json:"value"`
}

// MinKnownLength is the shortest vault value Scan looks for. Shorter values
// would match everywhere (a 4-digit PIN is in every file with a date) and
// are skipped.
const MinKnownLength = 8

// NotSearched is a vault value that is not looked for, and why (see
// [Searched]). It holds no value.
type NotSearched struct {
	Vault   string `json:"vault,omitempty"`
	Profile string `json:"profile"`
	Name    string `json:"name"`
	Reason  string `json:"reason"`
}

// Encodings of a vault value in a finding.
const (
	EncPlain       = "plain"
	EncJSONEscaped = "json-escaped" // JSON/JavaScript string escapes: \/ \u002d \" \xHH …
	EncBase64      = "base64"       // standard alphabet, any of the 3 alignments
	EncBase64URL   = "base64url"    // URL-safe alphabet, any of the 3 alignments
	EncWrapped     = "wrapped"      // broken across lines (indentation, `\` continuation, comment markers)
	EncUTF16LE     = "utf-16le"     // what PowerShell 5's > and Windows Notepad write
	EncUTF16BE     = "utf-16be"
)

// engine holds everything needed to scan one document; it is shared,
// read-only, by all workers.
type engine struct {
	known       []Known
	notSearched []NotSearched
	plain       *multiMatcher // raw values and their base64 forms
	joined      *multiMatcher // the same, with values normalised as the joined view is
}

func newEngine(ks []Known) *engine {
	// Deduplicate by value; the first (by vault, profile, name) names the
	// finding.
	sorted := append([]Known(nil), ks...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Vault != sorted[j].Vault {
			return sorted[i].Vault < sorted[j].Vault
		}
		if sorted[i].Profile != sorted[j].Profile {
			return sorted[i].Profile < sorted[j].Profile
		}
		return sorted[i].Name < sorted[j].Name
	})
	seen := map[string]bool{}
	e := &engine{}
	for _, k := range sorted {
		if ok, why := Searched(k); !ok {
			e.notSearched = append(e.notSearched, NotSearched{Vault: k.Vault, Profile: k.Profile, Name: k.Name, Reason: why})
			continue
		}
		if seen[k.Value] {
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
		plain = append(plain, utf16Patterns(v, i)...)
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

// utf16Patterns returns v in UTF-16, little- and big-endian, as Windows
// tools write text files; none if v is not UTF-8.
func utf16Patterns(v []byte, known int) []pattern {
	if !utf8.Valid(v) {
		return nil
	}
	units := utf16.Encode([]rune(string(v)))
	le := make([]byte, 0, 2*len(units))
	be := make([]byte, 0, 2*len(units))
	for _, u := range units {
		le = append(le, byte(u), byte(u>>8))
		be = append(be, byte(u>>8), byte(u))
	}
	return []pattern{{text: le, known: known, enc: EncUTF16LE}, {text: be, known: known, enc: EncUTF16BE}}
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
