package vault

import (
	"fmt"
	"strings"
)

// RefScheme starts a reference: okv://PROFILE/NAME or okv://NAME.
const RefScheme = "okv://"

// Ref names a secret without holding it: okv://PROFILE/NAME, or
// okv://NAME for the profile the command resolves (-p, OKV_PROFILE, a
// .okv-profile, the default). A file of references can be committed.
type Ref struct {
	Profile string // "" for the resolved profile
	Name    string
}

func (r Ref) String() string {
	if r.Profile == "" {
		return RefScheme + r.Name
	}
	return RefScheme + r.Profile + "/" + r.Name
}

// IsRef reports whether s is written as a reference (starts with okv://),
// valid or not.
func IsRef(s string) bool { return strings.HasPrefix(s, RefScheme) }

// RefError: text that starts with okv:// but is not a valid reference.
type RefError struct {
	Text string
	Msg  string
}

func (e *RefError) Error() string { return fmt.Sprintf("invalid reference %q: %s", e.Text, e.Msg) }

// ParseRef reads okv://PROFILE/NAME or okv://NAME. The names follow the
// vault's rules for profile and secret names.
func ParseRef(s string) (Ref, error) {
	if !IsRef(s) {
		return Ref{}, &RefError{Text: clip(s), Msg: "a reference starts with okv://"}
	}
	rest := s[len(RefScheme):]
	var r Ref
	switch parts := strings.Split(rest, "/"); len(parts) {
	case 1:
		r.Name = parts[0]
	case 2:
		r.Profile, r.Name = parts[0], parts[1]
		if !validProfileName(r.Profile) {
			return Ref{}, &RefError{Text: clip(s), Msg: fmt.Sprintf("%q is not a valid profile name", clip(r.Profile))}
		}
	default:
		return Ref{}, &RefError{Text: clip(s), Msg: "write okv://PROFILE/NAME or okv://NAME"}
	}
	if r.Name == "" {
		return Ref{}, &RefError{Text: clip(s), Msg: "the secret name is missing"}
	}
	if !validSecretName(r.Name) {
		return Ref{}, &RefError{Text: clip(s), Msg: fmt.Sprintf("%q is not a valid secret name", clip(r.Name))}
	}
	return r, nil
}

// TemplateRef is one {{ okv://… }} in a template: its byte range, the
// line it starts on, and the reference inside.
type TemplateRef struct {
	Start, End int
	Line       int
	Ref        Ref
}

// TemplateRefs finds every {{ okv://… }} in data (blanks inside the braces
// are allowed). Other {{ … }} are left alone, so a template may also be
// one of another tool's. A {{ okv:// without a valid reference and closing
// braces is an error naming its line.
func TemplateRefs(data []byte) ([]TemplateRef, error) {
	var out []TemplateRef
	s := string(data)
	off := 0
	for {
		i := strings.Index(s[off:], "{{")
		if i < 0 {
			return out, nil
		}
		start := off + i
		j := start + 2
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if !strings.HasPrefix(s[j:], RefScheme) {
			off = start + 2
			continue
		}
		line := 1 + strings.Count(s[:start], "\n")
		k := strings.Index(s[j:], "}}")
		nl := strings.IndexByte(s[j:], '\n')
		if k < 0 || (nl >= 0 && nl < k) {
			return nil, &TemplateError{Line: line, Msg: "{{ okv://… is not closed by }} on the same line"}
		}
		text := strings.TrimRight(s[j:j+k], " \t")
		r, err := ParseRef(text)
		if err != nil {
			return nil, &TemplateError{Line: line, Msg: err.Error()}
		}
		end := j + k + 2
		out = append(out, TemplateRef{Start: start, End: end, Line: line, Ref: r})
		off = end
	}
}

// TemplateError is a malformed reference at a template's line.
type TemplateError struct {
	Line int
	Msg  string
}

func (e *TemplateError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// FillTemplate replaces each reference found by TemplateRefs with
// value(ref).
func FillTemplate(data []byte, refs []TemplateRef, value func(Ref) string) []byte {
	var b strings.Builder
	prev := 0
	for _, t := range refs {
		b.Write(data[prev:t.Start])
		b.WriteString(value(t.Ref))
		prev = t.End
	}
	b.Write(data[prev:])
	return []byte(b.String())
}
