package prices

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// LiteLLM's model_prices_and_context_window.json: an object keyed by
// model name, each entry with per-token prices (input_cost_per_token,
// output_cost_per_token, cache_read_input_token_cost,
// cache_creation_input_token_cost) and litellm_provider. "sample_spec"
// documents the format and is no model.

// litellmProviders maps LiteLLM's provider names to the providers okv
// proxies; entries of any other provider are skipped.
var litellmProviders = map[string]string{
	"openai":                 "openai",
	"text-completion-openai": "openai",
	"anthropic":              "anthropic",
	"gemini":                 "gemini",
	"azure":                  "azure",
	"azure_text":             "azure",
	"groq":                   "groq",
	"mistral":                "mistral",
	"deepseek":               "deepseek",
	"xai":                    "xai",
	"openrouter":             "openrouter",
	"together_ai":            "together",
}

// ImportError is a malformed prices file: where, and what is wrong.
type ImportError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *ImportError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Imported is what ParseLiteLLM found.
type Imported struct {
	Prices Overrides
	// Skipped counts entries of providers okv does not proxy, and
	// entries with no per-token input price (images, audio, rerank).
	OtherProvider, NoTokenPrice int
}

// ParseLiteLLM reads a file in LiteLLM's format, named name in errors.
// Prices per token become prices per million; each gets checked as its
// Checked day and source as its Source. Any malformed part refuses the
// whole file, naming its line, column and field.
func ParseLiteLLM(name string, data []byte, checked, source string) (*Imported, error) {
	fail := func(off int64, format string, args ...any) error {
		line, col := position(data, off)
		return &ImportError{File: name, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
	}
	syntax := func(err error, off int64) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fail(se.Offset, "not JSON: %s", se.Error())
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fail(int64(len(data)), "not JSON: the file ends early")
		}
		return fail(off, "not JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntax(err, 0)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fail(dec.InputOffset(), "want an object keyed by model name, like LiteLLM's model_prices_and_context_window.json")
	}
	out := &Imported{Prices: Overrides{}}
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			return nil, syntax(err, dec.InputOffset())
		}
		key := keyTok.(string)
		start := valueStart(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntax(err, start)
		}
		if key == "sample_spec" {
			continue
		}
		fields, offs, err := objectFields(raw)
		if err != nil {
			return nil, fail(start, "the entry of %q is not an object", key)
		}
		num := func(field string) (float64, bool, error) {
			v, ok := fields[field]
			if !ok || string(v) == "null" {
				return 0, false, nil
			}
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
				return 0, false, fail(start+offs[field], "%q of %q is %s, not a number", field, key, short(v))
			}
			if f < 0 || math.IsInf(f, 0) {
				return 0, false, fail(start+offs[field], "%q of %q is %s, not a price ≥ 0", field, key, short(v))
			}
			// Per token to per million, kept to 10⁻⁶ $ per million.
			return math.Round(f*1e12) / 1e6, true, nil
		}
		var p Price
		var has [4]bool
		for i, f := range []struct {
			name string
			dst  *float64
		}{{"input_cost_per_token", &p.Input}, {"output_cost_per_token", &p.Output},
			{"cache_read_input_token_cost", &p.CachedInput}, {"cache_creation_input_token_cost", &p.CacheWrite}} {
			v, ok, err := num(f.name)
			if err != nil {
				return nil, err
			}
			*f.dst, has[i] = v, ok
		}
		provRaw, ok := fields["litellm_provider"]
		var lp string
		if ok && json.Unmarshal(provRaw, &lp) != nil {
			return nil, fail(start+offs["litellm_provider"], "%q of %q is %s, not a string", "litellm_provider", key, short(provRaw))
		}
		prov, known := litellmProviders[lp]
		if !known {
			out.OtherProvider++
			continue
		}
		if !has[0] {
			out.NoTokenPrice++
			continue
		}
		p.Checked = checked
		if err := p.Check(); err != nil {
			return nil, fail(start, "%q: %v", key, err)
		}
		model := key
		if first, rest, ok := strings.Cut(key, "/"); ok && (first == lp || first == prov) {
			model = rest
		}
		provider, model, err := ParseKey(prov + "/" + model)
		if err != nil {
			return nil, fail(start, "model %q: %v", key, err)
		}
		out.Prices[provider+"/"+model] = Override{Price: p, Source: source}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntax(err, dec.InputOffset())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail(dec.InputOffset(), "more after the object")
	}
	return out, nil
}

// objectFields reads the fields of a JSON object and the offset (in raw)
// of each one's value.
func objectFields(raw []byte) (map[string]json.RawMessage, map[string]int64, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("not an object")
	}
	fields := map[string]json.RawMessage{}
	offs := map[string]int64{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		off := valueStart(raw, dec.InputOffset())
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		fields[k.(string)], offs[k.(string)] = v, off
	}
	return fields, offs, nil
}

// valueStart is the offset of the value after a key ending at off: past
// white space and the colon.
func valueStart(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ':':
			off++
		default:
			return off
		}
	}
	return off
}

// position is the 1-based line and column (in bytes) of offset off.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// short is a JSON value for a message, cut when long.
func short(v json.RawMessage) string {
	s := string(v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}
