package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// refJSONModels is jsonModels written with encoding/json's tokenizer.
func refJSONModels(b []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errNotObject
	}
	var models []string
	var merr error
	seen := false
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, errNotObject
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errNotObject
		}
		if kt.(string) != "model" || merr != nil {
			continue
		}
		if seen {
			merr = errModelTwice
			continue
		}
		seen = true
		if string(raw) == "null" {
			continue
		}
		var m string
		if err := json.Unmarshal(raw, &m); err != nil {
			merr = errModelNotText
			continue
		}
		models = append(models, m)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotObject
	}
	if merr != nil {
		return nil, merr
	}
	return models, nil
}

// refParseUsage is parseUsage written with encoding/json.
func refParseUsage(b []byte) (tokens, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil {
		return tokens{}, false
	}
	get := func(raw json.RawMessage) (tokens, bool) {
		var m map[string]json.RawMessage
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
			return tokens{}, false
		}
		n := func(k string) int64 {
			v, err := strconv.ParseInt(string(m[k]), 10, 64)
			if err != nil || v < 0 {
				return 0
			}
			return v
		}
		t := tokens{prompt: n("prompt_tokens"), completion: n("completion_tokens"), total: n("total_tokens")}
		if t.prompt == 0 {
			t.prompt = n("input_tokens")
		}
		if t.completion == 0 {
			t.completion = n("output_tokens")
		}
		if t.total == 0 {
			t.total = t.prompt + t.completion
		}
		return t, true
	}
	if t, ok := get(top["usage"]); ok {
		return t, true
	}
	var resp map[string]json.RawMessage
	if r := top["response"]; len(r) > 0 && r[0] == '{' && json.Unmarshal(r, &resp) == nil {
		return get(resp["usage"])
	}
	return tokens{}, false
}

var scanSeeds = []string{
	`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi \"model\": x"}]}`,
	`{"model":"a","model":"b"}`,
	`{"mod\u0065l":"o1", "x": [1, {"model": "y"}], "y": "}"}`,
	` { "model" : null } `,
	`{"model":5}`,
	`{"model":"gpt-\u00e9"}`,
	`[{"model":"x"}]`,
	`{}`,
	`{"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`,
	`{"usage":null,"response":{"id":"r","usage":{"input_tokens":4,"output_tokens":6}}}`,
	`{"usage":{"total_tokens":-1,"prompt_tokens":1e3}}`,
	`{"choices":[{"delta":{"content":"\"usage\":{\"total_tokens\":99}"}}],"usage":{"total_tokens":7}}`,
	"{\"model\":\"a\xffb\"}",
	`[1,-0,0.5,-1.25e+10,2E-3,1e5,true,false,null,"\u00e9\"\\\/\b\f\n\r\t"]`,
	`[01]`, `[1.]`, `[.5]`, `[-]`, `[1e]`, `[+1]`, `[tru]`, `[nulll]`, `["\x"]`, `["\u12G4"]`,
	"[\"a\tb\"]", `{"a":1,}`, `[1,]`, `{"a" 1}`, `{1:2}`, `[[[]]]`, `{"a":{"b":[{}]}}`, ` `, `"x"`, `1 2`,
}

func TestScanMatchesEncodingJSON(t *testing.T) {
	for _, s := range scanSeeds {
		checkScan(t, []byte(s))
	}
}

func checkScan(t *testing.T, b []byte) {
	t.Helper()
	if v, rv := validJSON(b), json.Valid(b); v != rv {
		t.Fatalf("validJSON(%q) = %v; json.Valid: %v", b, v, rv)
	}
	m, err := jsonModels(b)
	rm, rerr := refJSONModels(b)
	if err != rerr || !slices.Equal(m, rm) {
		t.Fatalf("jsonModels(%q) = %q, %v; encoding/json: %q, %v", b, m, err, rm, rerr)
	}
	u, ok := parseUsage(b) // on invalid JSON: anything, but no panic
	ru, rok := refParseUsage(b)
	if json.Valid(b) && (u != ru || ok != rok) {
		t.Fatalf("parseUsage(%q) = %+v, %v; encoding/json: %+v, %v", b, u, ok, ru, rok)
	}
}

// validJSON stops at encoding/json's nesting limit, as json.Valid does.
func TestValidJSONNesting(t *testing.T) {
	for _, n := range []int{maxNesting - 1, maxNesting, maxNesting + 1} {
		for _, open := range []string{"[", "{\"a\":"} {
			closer := "]"
			if open != "[" {
				closer = "}"
			}
			b := []byte(strings.Repeat(open, n) + "1" + strings.Repeat(closer, n))
			e := []byte(strings.Repeat(open, n-1) + "[]" + strings.Repeat(closer, n-1))
			for _, x := range [][]byte{b, e} {
				if v, rv := validJSON(x), json.Valid(x); v != rv {
					t.Errorf("depth %d of %q: validJSON %v, json.Valid %v", n, open, v, rv)
				}
			}
		}
	}
}

// FuzzScan checks the top-level JSON scanner against encoding/json.
func FuzzScan(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkScan(t, b) })
}

// BenchmarkJSONModels reads the model of a chat request with a 4 KB
// prompt, as the model restriction and the ledger do for every request.
func BenchmarkJSONModels(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"` +
		strings.Repeat(`Summarize this: \"quoted\" text, a path C:\\tmp and more words. `, 64) + `"}],"temperature":0.2}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if m, err := jsonModels(body); err != nil || len(m) != 1 {
			b.Fatal(m, err)
		}
	}
}
