package scan

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"
)

// exactChunk is how much of a large document scanExact reads at once.
const exactChunk = 4 << 20

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
	return e.scanChunks(r, d, sc, exactChunk)
}

// scanChunks is scanExact reading chunk bytes at a time.
func (e *engine) scanChunks(r io.Reader, d docInfo, sc *scratch, chunk int) ([]Finding, []string, int64, error) {
	ov := e.overlap()
	if cap(sc.chunk) < chunk+ov {
		sc.chunk = make([]byte, 0, chunk+ov)
	}
	buf := sc.chunk[: 0 : chunk+ov]
	var (
		out   []Finding
		keys  []string
		base  int64 // offset of buf[0] in the document
		n     int64
		line  = 1
		runes int // code points of the current line before buf[0]
		// lineAt is where the current line starts, relative to buf[0]
		// (negative: in an earlier chunk).
		lineAt  int
		lastEnd = map[string]int64{} // per secret: the end of its last finding
		anyEnd  int64                // the end of the last finding
		bom     bool                 // the document starts with a UTF-16 byte order mark
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
		if base == 0 {
			bom = hasBOM(buf)
		}
		// Hits starting before limit are whole in buf; later ones are
		// looked for again with the next chunk. limit does not split a
		// UTF-8 sequence, so columns count code points as in a whole
		// document.
		limit := len(buf) - ov
		for i := 0; i < utf8.UTFMax-1 && limit > 0 && buf[limit]&0xC0 == 0x80; i++ {
			limit--
		}
		if eof {
			limit = len(buf)
		}
		// UTF-16 code units start at even offsets of the document, which
		// dedupe reads from hit starts: shift them by base's parity.
		shift := int(base & 1)
		hits := sc.hits[:0]
		findKeys(buf, func(s, en int, rule string) {
			if s < limit {
				hits = append(hits, hit{start: s + shift, end: en + shift, rule: rule, known: -1, secret: string(buf[s:en])})
			}
		})
		e.plain.find(buf, func(s int, p *pattern) {
			if s < limit {
				hits = append(hits, hit{start: s + shift, end: s + len(p.text) + shift, rule: RuleVaultValue, known: p.known, enc: p.enc})
			}
		})
		sc.hits = hits
		counted := 0 // buf[:counted] has had its line breaks counted
		for _, h := range dedupe(hits) {
			h.start, h.end = h.start-shift, h.end-shift
			k := hitKey(h)
			start := base + int64(h.start)
			if start < lastEnd[k] || (h.known < 0 && start < anyEnd) {
				continue // overlaps what an earlier chunk reported
			}
			lastEnd[k], anyEnd = base+int64(h.end), max(anyEnd, base+int64(h.end))
			for {
				i := bytes.IndexByte(buf[counted:h.start], '\n')
				if i < 0 {
					break
				}
				counted += i + 1
				line++
				lineAt, runes = counted, 0
			}
			counted = h.start
			var col int
			switch {
			case isUTF16(h.enc):
				col = utf16Column(h.start-lineAt, line == 1 && bom)
			case lineAt >= 0:
				col = utf8.RuneCount(buf[lineAt:h.start]) + 1
			default:
				col = runes + utf8.RuneCount(buf[:h.start]) + 1
			}
			out = append(out, e.finding(h, d, line, col))
			keys = append(keys, k)
		}
		line += bytes.Count(buf[counted:limit], []byte("\n"))
		if i := bytes.LastIndexByte(buf[counted:limit], '\n'); i >= 0 {
			lineAt, runes = counted+i+1, 0
		}
		if lineAt >= 0 {
			runes = utf8.RuneCount(buf[lineAt:limit])
		} else {
			runes += utf8.RuneCount(buf[:limit])
		}
		lineAt -= limit
		base += int64(limit)
		buf = buf[:copy(buf, buf[limit:])]
	}
	return out, keys, n, nil
}
