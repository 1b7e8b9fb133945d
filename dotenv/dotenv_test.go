package dotenv

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// The sample follows dotenv's own test fixture (tests/.env in motdotla/dotenv)
// and dotenvx's documented examples.
const sample = "\xef\xbb\xbfBASIC=basic\r\n" +
	"\n" +
	"# previous line intentionally left blank\n" +
	"AFTER_LINE=after_line\n" +
	"EMPTY=\n" +
	"EMPTY_SINGLE_QUOTES=''\n" +
	"EMPTY_DOUBLE_QUOTES=\"\"\n" +
	"EMPTY_BACKTICKS=``\n" +
	"SINGLE_QUOTES='single_quotes'\n" +
	"SINGLE_QUOTES_SPACED='    single quotes    '\n" +
	"DOUBLE_QUOTES=\"double_quotes\"\n" +
	"DOUBLE_QUOTES_SPACED=\"    double quotes    \"\n" +
	"DOUBLE_QUOTES_INSIDE_SINGLE='double \"quotes\" work inside single quotes'\n" +
	"SINGLE_QUOTES_INSIDE_DOUBLE=\"single 'quotes' work inside double quotes\"\n" +
	"BACKTICKS_INSIDE_SINGLE='`backticks` work inside single quotes'\n" +
	"BACKTICKS=`backticks`\n" +
	"DOUBLE_AND_SINGLE_QUOTES_INSIDE_BACKTICKS=`double \"quotes\" and single 'quotes' work inside backticks`\n" +
	"EXPAND_NEWLINES=\"expand\\nnew\\nlines\"\n" +
	"DONT_EXPAND_UNQUOTED=dontexpand\\nnewlines\n" +
	"DONT_EXPAND_SQUOTED='dontexpand\\nnewlines'\n" +
	"# COMMENTS=work\n" +
	"INLINE_COMMENTS=inline comments # work #very #well\n" +
	"INLINE_COMMENTS_SINGLE_QUOTES='inline comments outside of #singlequotes' # work\n" +
	"INLINE_COMMENTS_DOUBLE_QUOTES=\"inline comments outside of #doublequotes\" # work\n" +
	"INLINE_COMMENTS_BACKTICKS=`inline comments outside of #backticks` # work\n" +
	"INLINE_COMMENTS_SPACE=inline comments start with a#number sign. no space required.\n" +
	"EQUAL_SIGNS=equals==\n" +
	"RETAIN_INNER_QUOTES={\"foo\": \"bar\"}\n" +
	"RETAIN_INNER_QUOTES_AS_STRING='{\"foo\": \"bar\"}'\n" +
	"TRIM_SPACE_FROM_UNQUOTED=    some spaced out string   \n" +
	"USERNAME=therealnerdybeast@example.tld\n" +
	"    SPACED_KEY = parsed\n" +
	"export EXPORTED=yes\n" +
	"YAML_STYLE: colon\n" +
	"ESCAPES=\"tab\\there \\\"quoted\\\" back\\\\slash \\$HOME \\q\"\n" +
	"ESCAPED_SINGLE='it\\'s'\n" +
	"NOT_EXPANDED=${HOME}/$(whoami)\n" +
	"MULTI_DOUBLE_QUOTED=\"THIS\nIS\r\nA\nMULTILINE\"\n" +
	"MULTI_SINGLE_QUOTED='single\nline # not a comment'\n" +
	"MULTI_BACKTICKED=`THIS\nIS\nA\n\"MULTILINE'S\"\nSTRING`\n" +
	"AFTER_MULTI=ok"

func TestParseSample(t *testing.T) {
	got, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	type kvl struct {
		Key, Value string
		Line       int
	}
	want := []kvl{
		{"BASIC", "basic", 1},
		{"AFTER_LINE", "after_line", 4},
		{"EMPTY", "", 5},
		{"EMPTY_SINGLE_QUOTES", "", 6},
		{"EMPTY_DOUBLE_QUOTES", "", 7},
		{"EMPTY_BACKTICKS", "", 8},
		{"SINGLE_QUOTES", "single_quotes", 9},
		{"SINGLE_QUOTES_SPACED", "    single quotes    ", 10},
		{"DOUBLE_QUOTES", "double_quotes", 11},
		{"DOUBLE_QUOTES_SPACED", "    double quotes    ", 12},
		{"DOUBLE_QUOTES_INSIDE_SINGLE", `double "quotes" work inside single quotes`, 13},
		{"SINGLE_QUOTES_INSIDE_DOUBLE", "single 'quotes' work inside double quotes", 14},
		{"BACKTICKS_INSIDE_SINGLE", "`backticks` work inside single quotes", 15},
		{"BACKTICKS", "backticks", 16},
		{"DOUBLE_AND_SINGLE_QUOTES_INSIDE_BACKTICKS", `double "quotes" and single 'quotes' work inside backticks`, 17},
		{"EXPAND_NEWLINES", "expand\nnew\nlines", 18},
		{"DONT_EXPAND_UNQUOTED", `dontexpand\nnewlines`, 19},
		{"DONT_EXPAND_SQUOTED", `dontexpand\nnewlines`, 20},
		{"INLINE_COMMENTS", "inline comments", 22},
		{"INLINE_COMMENTS_SINGLE_QUOTES", "inline comments outside of #singlequotes", 23},
		{"INLINE_COMMENTS_DOUBLE_QUOTES", "inline comments outside of #doublequotes", 24},
		{"INLINE_COMMENTS_BACKTICKS", "inline comments outside of #backticks", 25},
		// node's dotenv cuts here ("inline comments start with a"); docker
		// compose, python-dotenv and a shell keep the '#' inside a word.
		{"INLINE_COMMENTS_SPACE", "inline comments start with a#number sign. no space required.", 26},
		{"EQUAL_SIGNS", "equals==", 27},
		{"RETAIN_INNER_QUOTES", `{"foo": "bar"}`, 28},
		{"RETAIN_INNER_QUOTES_AS_STRING", `{"foo": "bar"}`, 29},
		{"TRIM_SPACE_FROM_UNQUOTED", "some spaced out string", 30},
		{"USERNAME", "therealnerdybeast@example.tld", 31},
		{"SPACED_KEY", "parsed", 32},
		{"EXPORTED", "yes", 33},
		{"YAML_STYLE", "colon", 34},
		{"ESCAPES", "tab\there \"quoted\" back\\slash $HOME \\q", 35},
		{"ESCAPED_SINGLE", "it's", 36},
		{"NOT_EXPANDED", "${HOME}/$(whoami)", 37},
		{"MULTI_DOUBLE_QUOTED", "THIS\nIS\nA\nMULTILINE", 38},
		{"MULTI_SINGLE_QUOTED", "single\nline # not a comment", 42},
		{"MULTI_BACKTICKED", "THIS\nIS\nA\n\"MULTILINE'S\"\nSTRING", 44},
		{"AFTER_MULTI", "ok", 49},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		if g := (kvl{got[i].Key, got[i].Value, got[i].Line}); g != want[i] {
			t.Errorf("entry %d: got %#v, want %#v", i, g, want[i])
		}
	}
}

// TestParseComments: after an unquoted value only a '#' after a blank
// starts a comment (docker compose's rule); one inside a word is kept and
// flagged, since node's dotenv would cut the value there.
func TestParseComments(t *testing.T) {
	for _, c := range []struct {
		in, value       string
		quoted, flagged bool
	}{
		{"K=pa#ss\n", "pa#ss", false, true},
		{"K=http://x/#frag # the docs\n", "http://x/#frag", false, true},
		{"K=value # comment\n", "value", false, false},
		{"K=value\t#comment\n", "value", false, false},
		{"K=#start\n", "#start", false, true},
		{"K= # only a comment\n", "", false, false},
		{"K='pa#ss' # c\n", "pa#ss", true, false},
		{"K=\"pa#ss\"#c\n", "pa#ss", true, false},
	} {
		got, err := Parse([]byte(c.in))
		if err != nil || len(got) != 1 {
			t.Errorf("%q: %v, %d entries", c.in, err, len(got))
			continue
		}
		if e := got[0]; e.Value != c.value || e.Quoted != c.quoted || e.AmbiguousHash() != c.flagged {
			t.Errorf("%q: value %q quoted %v flagged %v, want %q %v %v", c.in, e.Value, e.Quoted, e.AmbiguousHash(), c.value, c.quoted, c.flagged)
		}
	}
}

// TestLast: a name assigned twice keeps its last value, reported once with
// the lines of every assignment.
func TestLast(t *testing.T) {
	in, err := Parse([]byte("A=1\nB=2\nA=3\nC=\nA=5\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, dups := Last(in)
	var got []string
	for _, e := range out {
		got = append(got, e.Key+"="+e.Value)
	}
	if strings.Join(got, " ") != "A=5 B=2 C=" {
		t.Errorf("Last kept %v", got)
	}
	if len(dups) != 1 || fmt.Sprint(dups["A"]) != "[1 3 5]" {
		t.Errorf("dups %v, want A on lines 1 3 5", dups)
	}
}

func TestParseErrors(t *testing.T) {
	const secret = "sk-proj-SECRETVALUE"
	for _, c := range []struct {
		in   string
		line int
	}{
		{"A=1\nNO_EQUALS_" + secret + "\n", 2},
		{"A=1\n\nB=\"" + secret + "\nstill open\n", 3},
		{"A='" + secret, 1},
		{"A=`" + secret, 1},
		{"A=\"" + secret + "\"trailing\n", 1},
		{"A=1\n=" + secret + "\n", 2},
		{"A:" + secret + "\n", 1},
		{"export \n", 1},
	} {
		_, err := Parse([]byte(c.in))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != c.line {
			t.Errorf("Parse(%q) = %v, want an error at line %d", c.in, err, c.line)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error shows the value: %v", err)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	entries := []Entry{
		{Key: "PLAIN", Value: "sk-proj-abc_DEF-123"},
		{Key: "EMPTY", Value: ""},
		{Key: "SPACES", Value: "  two words  "},
		{Key: "HASH", Value: "pa#ss"},
		{Key: "DOLLAR", Value: "$HOME and ${X}"},
		{Key: "QUOTES", Value: `it's "quoted"`},
		{Key: "ALL_QUOTES", Value: "it's \"$quoted\" `x`"},
		{Key: "BACKSLASH", Value: `C:\path\n`},
		{Key: "MULTI", Value: "line1\nline2\r\n\tend"},
		{Key: "PEM", Value: "-----BEGIN KEY-----\nMIIB\n-----END KEY-----\n"},
		{Key: "UNICODE", Value: "ключ 🔑"},
		{Key: "export", Value: "x"},
	}
	out := Format(entries)
	want := "PLAIN=sk-proj-abc_DEF-123\nEMPTY=\nSPACES='  two words  '\nHASH='pa#ss'\nDOLLAR='$HOME and ${X}'\n" +
		"QUOTES=`it's \"quoted\"`\nALL_QUOTES=\"it's \\\"\\$quoted\\\" `x`\"\nBACKSLASH=\"C:\\\\path\\\\n\"\nMULTI=\"line1\\nline2\\r\\n\\tend\"\n" +
		"PEM=\"-----BEGIN KEY-----\\nMIIB\\n-----END KEY-----\\n\"\nUNICODE='ключ 🔑'\nexport=x\n"
	if string(out) != want {
		t.Errorf("Format:\n%s\nwant:\n%s", out, want)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if back[i].Key != e.Key || back[i].Value != e.Value || back[i].Line != i+1 {
			t.Errorf("round trip %d: got %#v, want %#v", i, back[i], e)
		}
	}
}

var validName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("A=\"\\"))
	f.Add([]byte("export  B : 'x\\'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := Parse(data)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Key == "" || e.Line < 1 {
				t.Fatalf("bad entry %#v", e)
			}
		}
	})
}

// FuzzRoundTrip: any names matching ^[A-Za-z_][A-Za-z0-9_]*$ with values
// without NUL come back from Format and Parse unchanged.
func FuzzRoundTrip(f *testing.F) {
	f.Add("OPENAI_API_KEY", "sk-proj-abc", "B", "multi\nline 'x' \"y\" \\ $z #")
	f.Add("_", "", "x9", "\r\r\n\t ")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		if !validName.MatchString(k1) || !validName.MatchString(k2) || strings.ContainsRune(v1+v2, 0) {
			return
		}
		in := []Entry{{Key: k1, Value: v1, Line: 1}, {Key: k2, Value: v2}}
		out, err := Parse(Format(in))
		if err != nil {
			t.Fatalf("Parse(Format(%#v)): %v\n%s", in, err, Format(in))
		}
		if len(out) != 2 || out[0].Key != k1 || out[0].Value != v1 || out[1].Key != k2 || out[1].Value != v2 {
			t.Fatalf("round trip of %#v gave %#v\n%s", in, out, Format(in))
		}
	})
}
