package scan

import (
	"bytes"
	"strings"
	"testing"
)

func rep(c string, n int) string { return strings.Repeat(c, n) }

func TestOpenAIShapes(t *testing.T) {
	legacy := "sk-" + rep("a1B2", 5) + "T3BlbkFJ" + rep("Zz9y", 5)
	proj := "sk-proj-" + rep("Ab_-", 18) + "cd" + "T3BlbkFJ" + rep("x-Y_", 18) + "zA"
	svc := "sk-svcacct-" + rep("Q9-", 24) + "ab" + "T3BlbkFJ" + rep("w_", 37)
	admin := "sk-admin-" + rep("M", 58) + "T3BlbkFJ" + rep("n", 57) + "A"
	cases := []struct {
		name, in string
		want     []string // matched text
		rules    []string
	}{
		{"legacy in env", "OPENAI_API_KEY=" + legacy + "\n", []string{legacy}, []string{RuleOpenAIKey}},
		{"project quoted", `key = "` + proj + `"`, []string{proj}, []string{RuleOpenAIProjectKey}},
		{"service account", svc, []string{svc}, []string{RuleOpenAIServiceAccountKey}},
		{"admin in backticks", "`" + admin + "`", []string{admin}, []string{RuleOpenAIAdminKey}},
		{"two keys", legacy + " " + proj, []string{legacy, proj}, []string{RuleOpenAIKey, RuleOpenAIProjectKey}},
		{"after dashes", "--" + proj, []string{proj}, []string{RuleOpenAIProjectKey}},
		{"glued to a word", "x" + legacy, nil, nil},
		{"glued after", legacy + "_x", nil, nil},
		{"sk-learn prose", "we use sk-learn and a desk-top", nil, nil},
		{"marker alone", "T3BlbkFJIGlzIGFuIEFJIGNvbXBhbnk=", nil, nil},
		{"old 48-char shape without marker", "sk-" + rep("aB3", 16), nil, nil},
		{"legacy body too short", "sk-abc" + "T3BlbkFJ" + rep("q", 20), nil, nil},
		{"legacy with a dash in the body", "sk-" + rep("ab-", 7) + "T3BlbkFJ" + rep("q", 20), nil, nil},
		{"project too short", "sk-proj-abc" + "T3BlbkFJ" + "def", nil, nil},
		{"endless run", "sk-proj-" + rep("a", 60) + "T3BlbkFJ" + rep("b", 500), nil, nil},
		{"wrong prefix", "pk-" + rep("a", 20) + "T3BlbkFJ" + rep("b", 20), nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got, rules []string
			findOpenAIKeys([]byte(c.in), func(s, e int, rule string) {
				got = append(got, c.in[s:e])
				rules = append(rules, rule)
			})
			if strings.Join(got, "|") != strings.Join(c.want, "|") || strings.Join(rules, "|") != strings.Join(c.rules, "|") {
				t.Errorf("got %q %v, want %q %v", got, rules, c.want, c.rules)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"sk-proj-" + rep("x", 70) + "Ab3d": "sk-proj-…Ab3d",
		"sk-" + rep("y", 40) + "9876":      "sk-…9876",
		"short-pass":                       "…",
		rep("p", 20) + "wxyz":              "…wxyz",
		rep("é", 20):                       "…éééé",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%.12q…) = %q, want %q", in, got, want)
		}
	}
}

// FuzzOpenAIRule: the shape matcher never panics, and what it reports lies
// within the input, in order, without overlap, and has the shape it claims.
func FuzzOpenAIRule(f *testing.F) {
	f.Add([]byte("OPENAI_API_KEY=sk-" + rep("a", 20) + "T3BlbkFJ" + rep("b", 20)))
	f.Add([]byte("sk-proj-" + rep("a_", 37) + "T3BlbkFJ" + rep("-b", 37)))
	f.Add([]byte("T3BlbkFJT3BlbkFJsk-sk-T3BlbkFJ"))
	f.Add([]byte("--sk-admin-" + rep("x", 58) + "T3BlbkFJ" + rep("y", 58) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		last := 0
		findOpenAIKeys(data, func(s, e int, rule string) {
			if s < last || e <= s || e > len(data) {
				t.Fatalf("bad range [%d,%d) after %d in %d bytes", s, e, last, len(data))
			}
			last = e
			m := data[s:e]
			if !bytes.HasPrefix(m, []byte("sk-")) || !bytes.Contains(m, openAIMarker) {
				t.Fatalf("match %q has no key shape", m)
			}
			if rule == "" {
				t.Fatal("empty rule")
			}
		})
	})
}

func TestBase64Patterns(t *testing.T) {
	v := []byte("p?a>s~s-w0rd/1234")
	pats := base64Patterns(v, 0)
	if len(pats) < 3 {
		t.Fatalf("want at least one pattern per alignment, got %d", len(pats))
	}
	for _, p := range pats {
		if len(p.text) < gramLen {
			t.Errorf("pattern %q shorter than %d", p.text, gramLen)
		}
	}
}

func TestUnescaper(t *testing.T) {
	var u unescaper
	in := `a\/b\u002dc\u002D\"\\\x41\ud83d\ude00\q`
	u.decode([]byte(in))
	if want := "a/b-c-\"\\A\U0001F600\\q"; string(u.out) != want {
		t.Fatalf("decode = %q, want %q", u.out, want)
	}
	if len(u.start) != len(u.out) || len(u.end) != len(u.out) {
		t.Fatal("offset maps out of step")
	}
	// 'b' comes from in[3]; the '-' after it from the 6-byte \u002d.
	if u.start[2] != 3 || u.start[3] != 4 || u.end[3] != 10 {
		t.Errorf("offsets: %v %v", u.start[:4], u.end[:4])
	}
}

// FuzzScanDoc: the whole engine (escape decoding, line joining, base64
// forms) never panics and reports ranges within the document.
func FuzzScanDoc(f *testing.F) {
	key := "sk-proj-" + rep("a_", 37) + "T3BlbkFJ" + rep("-b", 37)
	f.Add([]byte("K=" + key + "\n"))
	f.Add([]byte(`{"k": "sk\u002dproj\u002d` + rep("a_", 37) + `T3BlbkFJ` + rep("\\u002db", 37) + `"}`))
	f.Add([]byte("  # " + key[:50] + " \\\r\n  # " + key[50:] + "\n"))
	f.Add([]byte("\\ud83d\\ude00\\x4\\u12\\"))
	eng := newEngine([]Known{{Profile: "dev", Name: "K", Value: key}, {Profile: "dev", Name: "P_PASSWORD", Value: "pa$$w0rd/\"x"}, {Profile: "dev", Name: "M_KEY", Value: "line1\n  line2"}})
	sc := &scratch{}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, h := range eng.scanDoc(data, sc) {
			if h.start < 0 || h.end > len(data) || h.start >= h.end {
				t.Fatalf("hit [%d,%d) outside %d bytes", h.start, h.end, len(data))
			}
		}
	})
}

// TestOpenAIKeyRule: a whole value that is one OpenAI key shape has its
// rule; a value with anything around the key, or another shape, has none.
func TestOpenAIKeyRule(t *testing.T) {
	body := strings.Repeat("Ab3d", 10)
	for v, want := range map[string]string{
		"sk-proj-" + body + "T3BlbkFJ" + body:        RuleOpenAIProjectKey,
		"sk-admin-" + body + "T3BlbkFJ" + body:       RuleOpenAIAdminKey,
		"sk-" + body[:20] + "T3BlbkFJ" + body[:20]:   RuleOpenAIKey,
		"x sk-proj-" + body + "T3BlbkFJ" + body:      "",
		"sk-ant-api03-" + body + "T3BlbkFJ" + body:   "",
		"sk-proj-" + body:                            "",
		"sk-proj-" + body + "T3BlbkFJ" + body + "\n": "",
	} {
		if got := OpenAIKeyRule([]byte(v)); got != want {
			t.Errorf("OpenAIKeyRule(%.30q…) = %q, want %q", v, got, want)
		}
	}
}
