package proxy

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strconv"
	"strings"
)

// tokens is what one response used.
type tokens struct {
	prompt, completion, total int64
}

// usageOf reads a raw "usage" object. Chat completions, completions and
// embeddings count prompt_tokens/completion_tokens, the Responses API
// input_tokens/output_tokens; both have total_tokens.
func usageOf(v []byte) (tokens, bool) {
	if len(v) == 0 || v[0] != '{' {
		return tokens{}, false
	}
	var prompt, completion, input, output, total int64
	eachMemberLoose(v, func(key, val []byte) bool {
		n, err := strconv.ParseInt(string(val), 10, 64)
		if err != nil || n < 0 {
			return true
		}
		switch string(key) {
		case "prompt_tokens":
			prompt = n
		case "completion_tokens":
			completion = n
		case "input_tokens":
			input = n
		case "output_tokens":
			output = n
		case "total_tokens":
			total = n
		}
		return true
	})
	t := tokens{prompt: prompt, completion: completion, total: total}
	if t.prompt == 0 {
		t.prompt = input
	}
	if t.completion == 0 {
		t.completion = output
	}
	if t.total == 0 {
		t.total = t.prompt + t.completion
	}
	return t, true
}

// parseUsage finds the usage in one JSON document (a response body or an
// event's data): the top-level "usage" (chat completions, completions,
// embeddings, the Responses API) or else "response"."usage" (Responses API
// stream events).
func parseUsage(b []byte) (tokens, bool) {
	var top, nested []byte
	if !eachMemberLoose(b, func(key, val []byte) bool {
		switch string(key) {
		case "usage":
			top = val
		case "response":
			nested = nil
			eachMemberLoose(val, func(k, v []byte) bool {
				if string(k) == "usage" {
					nested = v
				}
				return true
			})
		}
		return true
	}) {
		return tokens{}, false
	}
	if t, ok := usageOf(top); ok {
		return t, true
	}
	return usageOf(nested)
}

var usageKey = []byte(`"usage"`)

// mayHoldUsage is a quick test run before parsing: some "usage" key is
// followed by an object. Stream chunks mostly carry "usage":null.
func mayHoldUsage(b []byte) bool {
	for {
		i := bytes.Index(b, usageKey)
		if i < 0 {
			return false
		}
		b = b[i+len(usageKey):]
		rest := bytes.TrimLeft(b, " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			if rest = bytes.TrimLeft(rest[1:], " \t\r\n"); len(rest) > 0 && rest[0] == '{' {
				return true
			}
		}
	}
}

// maxEventBytes bounds the data of one server-sent event kept for parsing;
// larger events are passed on but not parsed.
const maxEventBytes = 8 << 20

// sseUsage parses a text/event-stream incrementally and remembers the usage
// of the last event that carried one. Write never fails and never holds on
// to the caller's slice.
type sseUsage struct {
	line     []byte
	lineOver bool
	afterCR  bool
	data     []byte
	hasData  bool
	dataOver bool

	last  tokens
	found bool
}

func (s *sseUsage) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if s.afterCR {
			s.afterCR = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			s.appendLine(p)
			break
		}
		s.appendLine(p[:i])
		s.afterCR = p[i] == '\r'
		p = p[i+1:]
		s.endLine()
	}
	return n, nil
}

func (s *sseUsage) appendLine(p []byte) {
	if s.lineOver {
		return
	}
	if len(s.line)+len(p) > maxEventBytes {
		s.lineOver = true
		s.line = s.line[:0]
		return
	}
	s.line = append(s.line, p...)
}

func (s *sseUsage) endLine() {
	line := s.line
	switch {
	case s.lineOver:
		s.dataOver = true
	case len(line) == 0:
		s.dispatch()
	case line[0] == ':': // comment
	default:
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		if string(field) == "data" && !s.dataOver {
			if len(s.data)+len(value)+1 > maxEventBytes {
				s.dataOver = true
				s.data = s.data[:0]
			} else {
				if s.hasData {
					s.data = append(s.data, '\n')
				}
				s.data = append(s.data, value...)
			}
			s.hasData = true
		}
	}
	s.line, s.lineOver = s.line[:0], false
}

func (s *sseUsage) dispatch() {
	if s.hasData && !s.dataOver && mayHoldUsage(s.data) {
		if t, ok := parseUsage(s.data); ok {
			s.last, s.found = t, true
		}
	}
	s.data, s.hasData, s.dataOver = s.data[:0], false, false
	if cap(s.data) > 64<<10 {
		s.data = nil // do not keep a large buffer for the rest of the stream
	}
}

// result ends the stream: a last event without its blank line still counts.
func (s *sseUsage) result() (tokens, bool) {
	if len(s.line) > 0 || s.lineOver {
		s.endLine()
	}
	s.dispatch()
	return s.last, s.found
}

// Bounds for reading usage out of a JSON response.
const (
	maxJSONBuffer = 1 << 20  // whole bodies up to this size are parsed
	jsonTail      = 64 << 10 // beyond it, the usage is looked for in the tail
	maxGunzip     = 16 << 20 // bound on a decompressed body parsed for usage
)

// jsonUsage collects a JSON response body (bounded) to read its usage.
type jsonUsage struct {
	head     []byte
	tail     []byte
	total    int64
	encoding string // Content-Encoding of the body
}

func (j *jsonUsage) Write(p []byte) (int, error) {
	j.total += int64(len(p))
	if j.total <= maxJSONBuffer {
		j.head = append(j.head, p...)
		return len(p), nil
	}
	if j.head != nil {
		j.tail = append(j.tail, j.head...)
		j.head = nil
	}
	j.tail = append(j.tail, p...)
	if len(j.tail) > 2*jsonTail {
		n := copy(j.tail, j.tail[len(j.tail)-jsonTail:])
		j.tail = j.tail[:n]
	}
	return len(p), nil
}

func (j *jsonUsage) result() (tokens, bool) {
	if j.total <= maxJSONBuffer {
		b := j.head
		switch strings.ToLower(strings.TrimSpace(j.encoding)) {
		case "", "identity":
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return tokens{}, false
			}
			b, err = io.ReadAll(io.LimitReader(zr, maxGunzip))
			if err != nil {
				return tokens{}, false
			}
		default:
			return tokens{}, false
		}
		if !mayHoldUsage(b) {
			return tokens{}, false
		}
		return parseUsage(b)
	}
	if j.encoding != "" && !strings.EqualFold(j.encoding, "identity") {
		return tokens{}, false
	}
	// A large body (embeddings): the usage object sits near its end.
	i := bytes.LastIndex(j.tail, usageKey)
	if i < 0 {
		return tokens{}, false
	}
	rest := bytes.TrimLeft(j.tail[i+len(usageKey):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return tokens{}, false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '{' {
		return tokens{}, false
	}
	obj := rest[:skipValue(rest, 0)]
	if !json.Valid(obj) {
		return tokens{}, false
	}
	return usageOf(obj)
}

// usageParser is fed the response bytes as they pass.
type usageParser interface {
	io.Writer
	result() (tokens, bool)
}

// usageBody wraps an upstream response body: every Read passes straight
// through and is also fed to the parser.
type usageBody struct {
	rc io.ReadCloser
	p  usageParser
}

func (b *usageBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		_, _ = b.p.Write(p[:n])
	}
	return n, err
}

func (b *usageBody) Close() error { return b.rc.Close() }
