// Package dotenv reads and writes .env files, for `okv import` and `okv
// export`.
//
// The dialect: the syntax of dotenv and dotenvx (their LINE expression and
// clean step), with docker compose's (and python-dotenv's, and the shell's)
// rule for comments after an unquoted value:
//
//	# a comment line
//	KEY=value                  unquoted: trimmed
//	KEY=value # comment        a '#' after a blank starts a comment
//	KEY=pa#ss                  a '#' inside a word is kept (node's dotenv
//	                           would cut the value there: Entry.Quoted and
//	                           the value tell the caller to warn)
//	export KEY=value           the export prefix is ignored
//	KEY: value                 YAML-style separator (':' and a blank)
//	KEY=                       empty value
//	KEY='single $quoted \n'    literal; \' stands for '
//	KEY="a\tb\n"               escapes \n \r \t \" \\ \$; others stay as they are
//	KEY=`backticks`            literal
//	KEY="several
//	lines"                     quoted values may span lines
//
// CRLF and lone CR line ends read as LF, a leading UTF-8 byte order mark is
// skipped, and names are [A-Za-z0-9_.-]+ as dotenv allows (okv checks its
// own, stricter, rule). Values are never expanded: ${VAR} and $(cmd) are
// kept as they are, so importing a file never runs or reads anything.
//
// Where dotenv silently skips or guesses, Parse reports an error naming the
// line: a line without '=', an unterminated quote, text after a closing
// quote. Errors never quote the value.
package dotenv

import (
	"bytes"
	"fmt"
	"strings"
)

// Entry is one assignment, in file order. Line is where its name stands;
// Quoted says the value was in quotes.
type Entry struct {
	Key    string
	Value  string
	Line   int
	Quoted bool
}

// AmbiguousHash reports whether e's value reads differently in node's
// dotenv, which cuts an unquoted value at any '#': e.g. KEY=pa#ss.
func (e Entry) AmbiguousHash() bool { return !e.Quoted && strings.Contains(e.Value, "#") }

// Last keeps the last assignment of each name, as dotenv, docker compose
// and a shell read a file that assigns a name twice, at the place of its
// first. dups maps each such name to the lines of all its assignments.
func Last(entries []Entry) (out []Entry, dups map[string][]int) {
	last := map[string]int{}
	for i, e := range entries {
		if j, ok := last[e.Key]; ok {
			if dups == nil {
				dups = map[string][]int{}
			}
			if len(dups[e.Key]) == 0 {
				dups[e.Key] = []int{entries[j].Line}
			}
			dups[e.Key] = append(dups[e.Key], e.Line)
		}
		last[e.Key] = i
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if !seen[e.Key] {
			seen[e.Key] = true
			out = append(out, entries[last[e.Key]])
		}
	}
	return out, dups
}

// ParseError is a syntax error at a line.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Parse reads a dotenv file. Entries keep file order; a name assigned twice
// appears twice (dotenv keeps the last one).
func Parse(data []byte) ([]Entry, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if bytes.IndexByte(data, '\r') >= 0 {
		data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
	}
	p := &parser{data: data, line: 1}
	var out []Entry
	for {
		e, ok, err := p.entry()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, e)
	}
}

type parser struct {
	data []byte
	pos  int
	line int
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return &ParseError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\v' || c == '\f' }

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

func (p *parser) skipBlanks() {
	for p.pos < len(p.data) && isBlank(p.data[p.pos]) {
		p.pos++
	}
}

// skipLine moves past the next newline.
func (p *parser) skipLine() {
	if i := bytes.IndexByte(p.data[p.pos:], '\n'); i >= 0 {
		p.pos += i + 1
		p.line++
	} else {
		p.pos = len(p.data)
	}
}

func (p *parser) atEOL() bool { return p.pos >= len(p.data) || p.data[p.pos] == '\n' }

// entry reads up to and including the next assignment.
func (p *parser) entry() (Entry, bool, error) {
	for {
		p.skipBlanks()
		if p.pos >= len(p.data) {
			return Entry{}, false, nil
		}
		if c := p.data[p.pos]; c == '\n' || c == '#' {
			p.skipLine()
			continue
		}
		break
	}
	line := p.line
	if rest := p.data[p.pos:]; bytes.HasPrefix(rest, []byte("export")) && len(rest) > 6 && isBlank(rest[6]) {
		p.pos += 6
		p.skipBlanks()
	}
	start := p.pos
	for p.pos < len(p.data) && isKeyChar(p.data[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return Entry{}, false, p.errorf(line, "expected a variable name")
	}
	key := string(p.data[start:p.pos])
	p.skipBlanks()
	switch {
	case p.pos < len(p.data) && p.data[p.pos] == '=':
		p.pos++
	case p.pos < len(p.data) && p.data[p.pos] == ':' && (p.pos+1 == len(p.data) || isBlank(p.data[p.pos+1]) || p.data[p.pos+1] == '\n'):
		p.pos++
	default:
		return Entry{}, false, p.errorf(line, "expected '=' after the variable name")
	}
	p.skipBlanks()
	quoted := p.pos < len(p.data) && strings.IndexByte("'\"`", p.data[p.pos]) >= 0
	value, err := p.value(line)
	if err != nil {
		return Entry{}, false, err
	}
	return Entry{Key: key, Value: value, Line: line, Quoted: quoted}, true, nil
}

func (p *parser) value(line int) (string, error) {
	if p.atEOL() {
		p.skipLine()
		return "", nil
	}
	q := p.data[p.pos]
	if q != '\'' && q != '"' && q != '`' {
		// A '#' starts a comment after a blank (or right after the '=' of
		// "KEY= #…", where blanks were skipped), as in docker compose.
		end := p.pos
		for end < len(p.data) && p.data[end] != '\n' && !(p.data[end] == '#' && isBlank(p.data[end-1])) {
			end++
		}
		v := strings.TrimRight(string(p.data[p.pos:end]), " \t\v\f")
		p.pos = end
		p.skipLine()
		return v, nil
	}
	// Quoted: find the closing quote; a backslash protects the next byte
	// in double quotes, and the quote itself in single quotes and backticks.
	i := p.pos + 1
	for {
		if i >= len(p.data) {
			return "", p.errorf(line, "unterminated %s quote", quoteName(q))
		}
		c := p.data[i]
		if c == '\\' && i+1 < len(p.data) && (q == '"' || p.data[i+1] == q) {
			i += 2
			continue
		}
		if c == q {
			break
		}
		i++
	}
	raw := p.data[p.pos+1 : i]
	p.line += bytes.Count(raw, []byte("\n"))
	p.pos = i + 1
	p.skipBlanks()
	if !p.atEOL() && p.data[p.pos] != '#' {
		return "", p.errorf(p.line, "unexpected text after the closing %s quote", quoteName(q))
	}
	p.skipLine()
	switch q {
	case '\'':
		return strings.ReplaceAll(string(raw), `\'`, `'`), nil
	case '`':
		return string(raw), nil
	}
	return unescapeDouble(raw), nil
}

func quoteName(q byte) string {
	switch q {
	case '\'':
		return "single"
	case '`':
		return "backtick"
	}
	return "double"
}

func unescapeDouble(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 == len(raw) {
			b.WriteByte(c)
			continue
		}
		i++
		switch raw[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '"', '\\', '$':
			b.WriteByte(raw[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(raw[i])
		}
	}
	return b.String()
}

// Format writes entries as a dotenv file that Parse, dotenv and dotenvx
// read back to the same values: bare when the value is plain, in single
// quotes (literal, never expanded) when it can be, in backticks when it
// holds a single quote but no $, else in double quotes with \n \r \t \"
// \\ \$ escapes (only the first three are documented by dotenvx, so that
// last form is the least portable). Keys are written as they are.
func Format(entries []Entry) []byte {
	var b bytes.Buffer
	for _, e := range entries {
		b.WriteString(e.Key)
		b.WriteByte('=')
		writeValue(&b, e.Value)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func bareSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-./:@%+=,^~", c) >= 0) {
			return false
		}
	}
	return true
}

func writeValue(b *bytes.Buffer, v string) {
	switch {
	case bareSafe(v):
		b.WriteString(v)
	case !strings.ContainsAny(v, "'\\\r\n"):
		b.WriteByte('\'')
		b.WriteString(v)
		b.WriteByte('\'')
	case !strings.ContainsAny(v, "`$\\\r\n"):
		// Backticks are literal too, but dotenvx expands $ in them.
		b.WriteByte('`')
		b.WriteString(v)
		b.WriteByte('`')
	default:
		b.WriteByte('"')
		for i := 0; i < len(v); i++ {
			switch c := v[i]; c {
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '"', '\\', '$':
				b.WriteByte('\\')
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	}
}
