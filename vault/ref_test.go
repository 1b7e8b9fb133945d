package vault

import "testing"

func TestParseRef(t *testing.T) {
	good := map[string]Ref{
		"okv://OPENAI_API_KEY":      {Name: "OPENAI_API_KEY"},
		"okv://prod/OPENAI_API_KEY": {Profile: "prod", Name: "OPENAI_API_KEY"},
	}
	for in, want := range good {
		r, err := ParseRef(in)
		if err != nil || r != want || r.String() != in {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", in, r, err, want)
		}
	}
	for _, in := range []string{"OPENAI_API_KEY", "okv://", "okv://prod/", "okv://a/b/c", "okv://prod/1X", "okv://Bad Profile/X", "okv:/X"} {
		if _, err := ParseRef(in); err == nil {
			t.Errorf("ParseRef(%q) accepted", in)
		}
	}
}

func TestTemplateRefs(t *testing.T) {
	data := []byte("a: {{ okv://A }}\nb: {{okv://p/B}} {{ .Other }}\n{{ okv://A }}")
	refs, err := TemplateRefs(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 3 || refs[0].Line != 1 || refs[1].Line != 2 || refs[2].Line != 3 || refs[1].Ref != (Ref{Profile: "p", Name: "B"}) {
		t.Fatalf("refs = %+v", refs)
	}
	got := string(FillTemplate(data, refs, func(r Ref) string { return "<" + r.String() + ">" }))
	want := "a: <okv://A>\nb: <okv://p/B> {{ .Other }}\n<okv://A>"
	if got != want {
		t.Fatalf("filled %q, want %q", got, want)
	}
	for _, bad := range []string{"x\n{{ okv://A", "{{ okv://A\n}}", "{{ okv://a/b/c }}"} {
		if _, err := TemplateRefs([]byte(bad)); err == nil {
			t.Errorf("TemplateRefs(%q) accepted", bad)
		}
	}
}
