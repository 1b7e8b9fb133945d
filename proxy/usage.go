package proxy

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strings"
)

var usageKey = []byte(`"usage"`)

// geminiUsageKey is Gemini's usage object (gemini.go).
var geminiUsageKey = []byte(`"usageMetadata"`)

// mayHoldUsage is a quick test run before parsing: some "usage" (or
// Gemini's "usageMetadata") key is followed by an object. Most stream
// chunks carry "usage":null or none.
func mayHoldUsage(b []byte) bool {
	return keyHoldsObject(b, usageKey) || keyHoldsObject(b, geminiUsageKey)
}

func keyHoldsObject(b, usageKey []byte) bool {
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

// usageParser is fed an answer's bytes as they pass to the client.
type usageParser interface {
	io.Writer
	result() (Tokens, bool)
}

// maxEventBytes bounds the data of one server-sent event kept for parsing;
// larger events are passed on but not parsed.
const maxEventBytes = 8 << 20

// sseUsage splits a text/event-stream into events as it passes (the
// WHATWG framing: lines ended by CR, LF or CRLF, "data:" fields joined by
// LF, an empty line ends an event) and hands each event's data to the
// provider's usage reader. Write never fails and never keeps the caller's
// slice.
type sseUsage struct {
	usage    func([]byte, *Tokens) bool
	line     []byte
	lineOver bool
	afterCR  bool
	data     []byte
	hasData  bool
	dataOver bool

	last  Tokens
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
	if s.hasData && !s.dataOver && mayHoldUsage(s.data) && s.usage(s.data, &s.last) {
		s.found = true
	}
	s.data, s.hasData, s.dataOver = s.data[:0], false, false
	if cap(s.data) > 64<<10 {
		s.data = nil // do not keep a large buffer for the rest of the stream
	}
}

// result ends the stream: a last event without its blank line still counts.
func (s *sseUsage) result() (Tokens, bool) {
	if len(s.line) > 0 || s.lineOver {
		s.endLine()
	}
	s.dispatch()
	return s.last, s.found
}

// Bounds for reading usage out of a JSON answer.
const (
	maxJSONBuffer = 1 << 20  // whole bodies up to this size are parsed
	jsonTail      = 64 << 10 // beyond it, the usage is looked for in the tail
	maxGunzip     = 16 << 20 // bound on a decompressed body parsed for usage
)

// jsonUsage collects a JSON answer (bounded) to read its usage at the end.
type jsonUsage struct {
	usage    func([]byte, *Tokens) bool
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

func (j *jsonUsage) result() (Tokens, bool) {
	var t Tokens
	if j.total <= maxJSONBuffer {
		b := j.head
		switch strings.ToLower(strings.TrimSpace(j.encoding)) {
		case "", "identity":
		case "gzip", "x-gzip":
			// An upstream that compressed unasked (the Transport asks
			// for gzip itself and decodes what it asked for).
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return t, false
			}
			if b, err = io.ReadAll(io.LimitReader(zr, maxGunzip)); err != nil {
				return t, false
			}
		default:
			return t, false
		}
		if !mayHoldUsage(b) {
			return t, false
		}
		ok := j.usage(b, &t)
		return t, ok
	}
	if j.encoding != "" && !strings.EqualFold(j.encoding, "identity") {
		return t, false
	}
	// A large body (embeddings): the usage object sits near its end.
	// Decode {"usage": <the last usage value>} from there.
	i := bytes.LastIndex(j.tail, usageKey)
	if i < 0 {
		return t, false
	}
	rest := bytes.TrimLeft(j.tail[i+len(usageKey):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return t, false
	}
	var obj json.RawMessage
	if json.NewDecoder(bytes.NewReader(rest[1:])).Decode(&obj) != nil {
		return t, false
	}
	doc := append(append([]byte(`{"usage":`), obj...), '}')
	ok := j.usage(doc, &t)
	return t, ok
}

// usageBody wraps an upstream answer's body: every Read passes straight
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
