package scan

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"
)

// exactChunk is how much of a large document scanExact reads at once.
var exactChunk = 4 << 20 // a variable so that tests can cut it

// overlap is how many bytes of one chunk scanExact keeps for the next, so
// that no pattern and no key shape is cut in two by a chunk boundary.
func (e *engine) overlap() int {
	n := 2*openAIMaxLeft + len(openAIMarker) + 2*openAIModernMax
	for _, p := range e.plain.pats {
		n = max(n, len(p.text))
	}
	return n
}

// scanExact searches a document of any size and kind, read from r in
// chunks, for the vault values as they are and in their base64 and UTF-16
// forms, and for key shapes; not for escaped or wrapped forms, which need
// the whole document. It returns the findings, which secret each one is
// (hitKey), and the number of bytes read.
func (e *engine) scanExact(r io.Reader, d docInfo, sc *scratch) ([]Finding, []string, int64, error) {
	ov := e.overlap()
	if cap(sc.buf) < exactChunk+ov {
		sc.buf = make([]byte, 0, exactChunk+ov)
	}
	buf := sc.buf[:0]
	var (
		out     []Finding
		keys    []string
		base    int64 // offset of buf[0] in the document
		n       int64
		line    = 1
		lineAt  int64 // offset where the current line starts
		lastEnd int64 // end of the last reported hit
		bom     bool  // the document starts with a UTF-16 byte order mark
	)
	for eof := false; !eof; {
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		n += int64(m)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			eof = true
		case err != nil:
			return nil, nil, n, err
		}
		// Hits starting before limit are whole in buf; later ones are
		// looked for again with the next chunk.
		// limit is even, so that buf[0] stays at an even offset of the
		// document (UTF-16 code units start there; see dedupe).
		if base == 0 {
			bom = hasBOM(buf)
		}
		limit := (len(buf) - ov) &^ 1
		if eof {
			limit = len(buf)
		}
		hits := sc.hits[:0]
		findOpenAIKeys(buf, func(s, en int, rule string) {
			if s < limit {
				hits = append(hits, hit{start: s, end: en, rule: rule, known: -1, secret: string(buf[s:en])})
			}
		})
		e.plain.find(buf, func(s int, p *pattern) {
			if s < limit {
				hits = append(hits, hit{start: s, end: s + len(p.text), rule: RuleVaultValue, known: p.known, enc: p.enc})
			}
		})
		sc.hits = hits
		counted := 0 // buf[:counted] has had its line breaks counted
		for _, h := range dedupe(hits) {
			if base+int64(h.start) < lastEnd {
				continue
			}
			lastEnd = base + int64(h.end)
			for {
				i := bytes.IndexByte(buf[counted:h.start], '\n')
				if i < 0 {
					break
				}
				counted += i + 1
				line++
				lineAt = base + int64(counted)
			}
			counted = h.start
			var col int
			switch s := int(lineAt - base); {
			case isUTF16(h.enc):
				col = utf16Column(int(base+int64(h.start)-lineAt), line == 1 && bom)
			case s >= 0:
				col = utf8.RuneCount(buf[s:h.start]) + 1
			default: // the line began in an earlier chunk: count bytes
				col = int(base+int64(h.start)-lineAt) + 1
			}
			out = append(out, e.finding(h, d, line, col))
			keys = append(keys, hitKey(h))
		}
		line += bytes.Count(buf[counted:limit], []byte("\n"))
		if i := bytes.LastIndexByte(buf[counted:limit], '\n'); i >= 0 {
			lineAt = base + int64(counted+i+1)
		}
		base += int64(limit)
		buf = buf[:copy(buf, buf[limit:])]
	}
	return out, keys, n, nil
}
