package proxy

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// A small scanner for the top level of JSON objects. The proxy needs one or
// two members ("model" of a request, "usage" of a response) out of bodies
// that can be large; decoding whole bodies with encoding/json costs several
// times more. Keys are compared exactly, after unescaping, as the upstream
// compares them (encoding/json's struct matching is case-insensitive).

// eachMember calls fn with the (unescaped) key and the raw value of each
// member of the JSON object b, in order, until fn returns false. It reports
// false when b is not a valid JSON object.
func eachMember(b []byte, fn func(key, val []byte) bool) bool {
	if !json.Valid(b) {
		return false
	}
	return eachMemberLoose(b, fn)
}

// eachMemberLoose is eachMember without the validation: on valid JSON it
// gives what eachMember gives; on anything else it may give wrong members
// or stop early, but never reads out of b. Usage counting takes it, as a
// response body's validity does not matter there and validating cost the
// proxy more than the rest of its reading of the body; the model check of
// requests, which must see what the upstream will see, does not.
func eachMemberLoose(b []byte, fn func(key, val []byte) bool) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		ks := i
		i = skipString(b, i)
		if i-1 <= ks || b[i-1] != '"' {
			return false
		}
		key := b[ks+1 : i-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var s string
			if json.Unmarshal(b[ks:i], &s) != nil {
				return false
			}
			key = []byte(s)
		}
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return false
		}
		vs := i
		i = skipValue(b, i)
		if !fn(key, b[vs:i]) {
			return true
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '}':
			return true
		case ',':
			i = skipSpace(b, i+1)
		default:
			return false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// jsonString decodes the raw JSON string value v.
func jsonString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}
