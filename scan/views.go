package scan

import (
	"bytes"
	"sort"
	"unicode/utf16"
	"unicode/utf8"
)

// The scanner looks at each document three ways: as it is, with string
// escapes decoded line by line (the "escaped view"), and with hard line
// wraps undone (the "joined view"). A match in a view is reported only if
// it could not have been seen as it is: one that covers an escape sequence,
// or one that spans a line break.

// segment maps a run of the joined view back to the document.
type segment struct {
	j int // start in the joined view
	o int // start in the document
}

// buildJoined appends to buf the document with every line's indentation,
// leading comment marker ("# ", "// ", "-- ", "; ", "> ", "* "), trailing
// blanks, trailing `\` continuation and line terminator removed, and returns
// it with one segment per line.
func buildJoined(data, buf []byte, segs []segment) ([]byte, []segment) {
	pos := 0
	for pos < len(data) {
		end, next := len(data), len(data)
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			end, next = pos+i, pos+i+1
		}
		s, e := pos, end
		if e > s && data[e-1] == '\r' {
			e--
		}
		for s < e && (data[s] == ' ' || data[s] == '\t') {
			s++
		}
		s = skipCommentMarker(data, s, e)
		for e > s && (data[e-1] == ' ' || data[e-1] == '\t') {
			e--
		}
		if e > s && data[e-1] == '\\' {
			e--
		}
		segs = append(segs, segment{j: len(buf), o: s})
		buf = append(buf, data[s:e]...)
		pos = next
	}
	return buf, segs
}

func skipCommentMarker(data []byte, s, e int) int {
	if s >= e {
		return s
	}
	n := 0
	switch data[s] {
	case '#', ';', '>', '*':
		n = 1
	case '/', '-':
		if e-s >= 2 && data[s+1] == data[s] {
			n = 2
		}
	}
	if n == 0 || (e-s > n && data[s+n] != ' ' && data[s+n] != '\t') {
		return s
	}
	s += n
	for s < e && (data[s] == ' ' || data[s] == '\t') {
		s++
	}
	return s
}

// segmentAt returns the index of the segment holding joined offset j.
func segmentAt(segs []segment, j int) int {
	return sort.Search(len(segs), func(i int) bool { return segs[i].j > j }) - 1
}

// unescaper decodes JSON/JavaScript string escapes in one line and keeps,
// for every decoded byte, where its source starts and ends in the line.
type unescaper struct {
	out   []byte
	start []int32
	end   []int32
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	r := 0
	for _, c := range b[:4] {
		h := hexVal(c)
		if h < 0 {
			return -1
		}
		r = r<<4 | h
	}
	return rune(r)
}

func (u *unescaper) emit(b []byte, s, e int) {
	for _, c := range b {
		u.out = append(u.out, c)
		u.start = append(u.start, int32(s))
		u.end = append(u.end, int32(e))
	}
}

// decode fills u from line. Unknown or malformed escapes are kept as they are.
func (u *unescaper) decode(line []byte) {
	u.out, u.start, u.end = u.out[:0], u.start[:0], u.end[:0]
	var tmp [utf8.UTFMax]byte
	for i := 0; i < len(line); {
		if line[i] != '\\' || i+1 >= len(line) {
			// Copy the run up to the next backslash at once.
			j := i + 1
			if k := bytes.IndexByte(line[j:], '\\'); k >= 0 {
				j += k
			} else {
				j = len(line)
			}
			u.out = append(u.out, line[i:j]...)
			for k := i; k < j; k++ {
				u.start = append(u.start, int32(k))
				u.end = append(u.end, int32(k+1))
			}
			i = j
			continue
		}
		var r rune = -1
		n := 2
		switch line[i+1] {
		case '"', '\\', '/', '\'', '`':
			r = rune(line[i+1])
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'x':
			if i+3 < len(line) && hexVal(line[i+2]) >= 0 && hexVal(line[i+3]) >= 0 {
				u.emit([]byte{byte(hexVal(line[i+2])<<4 | hexVal(line[i+3]))}, i, i+4)
				i += 4
				continue
			}
		case 'u':
			r = hex4(line[i+2:])
			n = 6
			if r >= 0 && utf16.IsSurrogate(r) {
				if i+12 <= len(line) && line[i+6] == '\\' && line[i+7] == 'u' {
					if r2 := hex4(line[i+8:]); r2 >= 0 {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							r, n = d, 12
						}
					}
				}
			}
		}
		if r < 0 {
			u.emit(line[i:i+1], i, i+1)
			i++
			continue
		}
		k := utf8.EncodeRune(tmp[:], r)
		u.emit(tmp[:k], i, i+n)
		i += n
	}
}
