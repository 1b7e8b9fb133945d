package scan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"unicode/utf8"
)

// hit is a raw match in a document, before it becomes a Finding.
type hit struct {
	start, end int // byte range in the document
	rule       string
	known      int    // index into engine.known; -1 for a shape rule
	enc        string // vault values only
	secret     string // shape rules only: the key itself
	view       int    // 0 as is, 1 escaped view, 2 joined view
}

// scratch is one worker's reusable memory.
type scratch struct {
	hits   []hit
	un     unescaper
	joined []byte
	segs   []segment
	buf    []byte
	chunk  []byte // scanExact's read buffer
}

func combineEnc(enc, view string) string {
	if enc == EncPlain {
		return view
	}
	return enc + "+" + view
}

// scanDoc returns the matches in data, deduplicated, ordered by position.
func (e *engine) scanDoc(data []byte, sc *scratch) []hit {
	hits := sc.hits[:0]

	findKeys(data, func(s, en int, rule string) {
		hits = append(hits, hit{start: s, end: en, rule: rule, known: -1, secret: string(data[s:en])})
	})
	e.plain.find(data, func(s int, p *pattern) {
		hits = append(hits, hit{start: s, end: s + len(p.text), rule: RuleVaultValue, known: p.known, enc: p.enc})
	})

	// Escaped view: only lines holding a backslash can differ.
	for off := 0; off < len(data); {
		k := bytes.IndexByte(data[off:], '\\')
		if k < 0 {
			break
		}
		b := off + k
		ls := bytes.LastIndexByte(data[:b], '\n') + 1
		le := len(data)
		if n := bytes.IndexByte(data[b:], '\n'); n >= 0 {
			le = b + n
		}
		u := &sc.un
		u.decode(data[ls:le])
		covered := func(s, en int) (int, int, bool) {
			esc := false
			for i := s; i < en; i++ {
				if u.end[i]-u.start[i] != 1 {
					esc = true
					break
				}
			}
			return ls + int(u.start[s]), ls + int(u.end[en-1]), esc
		}
		if len(u.out) != le-ls {
			findKeys(u.out, func(s, en int, rule string) {
				if os, oe, ok := covered(s, en); ok {
					hits = append(hits, hit{start: os, end: oe, rule: rule, known: -1, secret: string(u.out[s:en]), view: 1})
				}
			})
			e.plain.find(u.out, func(s int, p *pattern) {
				if os, oe, ok := covered(s, s+len(p.text)); ok {
					hits = append(hits, hit{start: os, end: oe, rule: RuleVaultValue, known: p.known, enc: combineEnc(p.enc, EncJSONEscaped), view: 1})
				}
			})
		}
		off = le + 1
	}

	// Joined view: matches that span a line break.
	if len(e.known) > 0 && bytes.IndexByte(data, '\n') >= 0 {
		sc.joined, sc.segs = buildJoined(data, sc.joined[:0], sc.segs[:0])
		segs := sc.segs
		e.joined.find(sc.joined, func(s int, p *pattern) {
			en := s + len(p.text)
			si, ei := segmentAt(segs, s), segmentAt(segs, en-1)
			if si == ei {
				return
			}
			os := segs[si].o + s - segs[si].j
			oe := segs[ei].o + en - segs[ei].j
			hits = append(hits, hit{start: os, end: oe, rule: RuleVaultValue, known: p.known, enc: combineEnc(p.enc, EncWrapped), view: 2})
		})
	}
	sc.hits = hits
	return dedupe(hits)
}

// dedupe keeps, among overlapping matches, vault values over shape rules
// (they say more), then the plainest view, then the earliest. It is
// quadratic in the matches of one document, which are few.
func dedupe(hits []hit) []hit {
	if len(hits) < 2 {
		return hits
	}
	rank := func(h hit) int {
		r := h.view
		if h.known < 0 {
			r += 10
		}
		if isUTF16(h.enc) && h.start%2 == 1 {
			// An ASCII value in UTF-16 matches in both byte orders, one
			// byte apart; the code units of a UTF-16 file start at even
			// offsets, which tells the real one.
			r += 5
		}
		return r
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if ri, rj := rank(hits[i]), rank(hits[j]); ri != rj {
			return ri < rj
		}
		if hits[i].start != hits[j].start {
			return hits[i].start < hits[j].start
		}
		return hits[i].end-hits[i].start > hits[j].end-hits[j].start
	})
	kept := hits[:0:0]
	for _, h := range hits {
		dup := false
		for _, k := range kept {
			if h.start < k.end && k.start < h.end && (h.known < 0 || h.known == k.known) {
				dup = true
				break
			}
		}
		if !dup {
			kept = append(kept, h)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool {
		if kept[i].start != kept[j].start {
			return kept[i].start < kept[j].start
		}
		return kept[i].rule < kept[j].rule
	})
	return kept
}

// position turns byte offsets into 1-based lines and columns (in runes),
// walking forward; offsets must be non-decreasing between calls.
type position struct {
	data      []byte
	off       int
	line      int
	lineStart int
}

func (p *position) at(off int) (line, col int) {
	if p.line == 0 {
		p.line = 1
	}
	for {
		i := bytes.IndexByte(p.data[p.off:off], '\n')
		if i < 0 {
			break
		}
		p.off += i + 1
		p.line++
		p.lineStart = p.off
	}
	p.off = off
	return p.line, utf8.RuneCount(p.data[p.lineStart:off]) + 1
}

// docInfo says where a document comes from.
type docInfo struct {
	file     string // path shown in findings
	key      string // path used in fingerprints
	commit   string
	baseLine int // line number of the document's first line
}

// toFindings turns hits into findings.
func (e *engine) toFindings(data []byte, hits []hit, d docInfo, out []Finding) []Finding {
	pos := position{data: data}
	for _, h := range hits {
		line, col := pos.at(h.start)
		if isUTF16(h.enc) {
			col = utf16Column(h.start-pos.lineStart, line == 1 && hasBOM(data))
		}
		out = append(out, e.finding(h, d, line+d.baseLine-1, col))
	}
	return out
}

func isUTF16(enc string) bool { return enc == EncUTF16LE || enc == EncUTF16BE }

// utf16Column is the 1-based column, in UTF-16 code units, of a match off
// bytes into its line; a byte order mark does not count.
func utf16Column(off int, bom bool) int {
	if bom {
		off -= 2
	}
	return off/2 + 1
}

func hasBOM(data []byte) bool {
	return len(data) >= 2 && (data[0] == 0xFF && data[1] == 0xFE || data[0] == 0xFE && data[1] == 0xFF)
}

// finding turns one hit at line and col into a Finding.
func (e *engine) finding(h hit, d docInfo, line, col int) Finding {
	f := Finding{File: d.file, Line: line, Column: col, Rule: h.rule, Commit: d.commit}
	secret := h.secret
	if h.known >= 0 {
		k := e.known[h.known]
		secret = k.Value
		f.Vault, f.Profile, f.Name, f.Encoding = k.Vault, k.Profile, k.Name, h.enc
	}
	f.Redacted = Redact(secret)
	f.Fingerprint = fingerprint(d.key, h.rule, secret)
	return f
}

// hitKey says which secret a hit is, whatever its position and encoding.
func hitKey(h hit) string {
	if h.known >= 0 {
		return "known\x00" + strconv.Itoa(h.known)
	}
	return h.rule + "\x00" + h.secret
}

func fingerprint(path, rule, secret string) string {
	sh := sha256.Sum256([]byte(secret))
	fp := sha256.Sum256([]byte(path + ":" + rule + ":" + hex.EncodeToString(sh[:])))
	return hex.EncodeToString(fp[:16])
}

// Redact shows what a secret is without showing it: a known key prefix,
// an ellipsis and the last four characters (sk-proj-…Ab3d); for short
// values (under 16 bytes) nothing but the ellipsis.
func Redact(secret string) string {
	if len(secret) < 16 {
		return "…"
	}
	prefix := ""
	for _, p := range []string{"sk-proj-", "sk-svcacct-", "sk-admin-", "sk-ant-", "sk-"} {
		if len(secret) >= len(p)+16 && secret[:len(p)] == p {
			prefix = p
			break
		}
	}
	i := len(secret)
	for n := 0; n < 4 && i > 0; n++ {
		_, size := utf8.DecodeLastRuneInString(secret[:i])
		i -= size
	}
	return prefix + "…" + secret[i:]
}
