package vault_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okvault/okv/vault"
)

// FuzzDecodeDocument: DecodeDocument never panics; a document it accepts
// holds only valid names and values and survives Encode → DecodeDocument
// unchanged; and its errors never quote a value from the input.
func FuzzDecodeDocument(f *testing.F) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	d := vault.NewDocument("dev")
	d.SetSecret("OPENAI_API_KEY", []byte("sk-proj-AbCdEfGh0123456789T3BlbkFJxyz"), now)
	d.Rotate("OPENAI_API_KEY", []byte("sk-proj-second-value-0123456789"), now.Add(time.Hour))
	d.SetSecret("OPENAI_ORG_ID", []byte("org-0123456789abcdef"), now)
	enc, err := d.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add([]byte(`{"okv":1,"profile":"dev","secrets":{}}`))
	f.Add([]byte(`{"okv":1,"profile":"dev","secrets":{"K":{"value":"a\u00e9\n\"b","created_at":"2025-01-01T00:00:00+02:00","rotated_at":"2025-01-01T00:00:00Z","history":[{"value":"x","retired_at":"2024-12-31T23:59:59.999999999Z"}]}}}`))
	f.Add([]byte(`{"okv":1,"profile":"prod","secrets":{"K":{"value":"sk-prod-value-0123456789"}}}`))
	f.Add([]byte(`{"okv":1,"profile":"dev","secrets":{"K":{"value":"sk-proj-0123456789abcdef","note":"x"}}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := vault.DecodeDocument(data, "dev")
		if err != nil {
			checkNoValueInError(t, data, err.Error())
			return
		}
		if doc.Profile != "dev" || doc.Okv != vault.FormatVersion {
			t.Fatalf("accepted document okv=%d profile=%q", doc.Okv, doc.Profile)
		}
		for name, s := range doc.Secrets {
			if err := vault.ValidateSecretName(name); err != nil {
				t.Fatalf("accepted secret name %q: %v", name, err)
			}
			if err := vault.ValidateValue([]byte(s.Value)); err != nil {
				t.Fatalf("accepted value of %s: %v", name, err)
			}
			if len(s.History) > vault.MaxHistory {
				t.Fatalf("accepted %d history entries", len(s.History))
			}
		}
		enc, err := doc.Encode()
		if err != nil {
			t.Fatalf("an accepted document does not encode: %v", err)
		}
		again, err := vault.DecodeDocument(enc, "dev")
		if err != nil {
			t.Fatalf("Encode output is refused: %v\n%s", err, enc)
		}
		if !sameDocument(doc, again) {
			t.Fatalf("round trip changed the document:\n%s", enc)
		}
		enc2, err := again.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %v", err)
		}
	})
}

func sameDocument(a, b *vault.Document) bool {
	if a.Okv != b.Okv || a.Profile != b.Profile || len(a.Secrets) != len(b.Secrets) {
		return false
	}
	for name, sa := range a.Secrets {
		sb := b.Secrets[name]
		if sb == nil || sa.Value != sb.Value || !sa.CreatedAt.Equal(sb.CreatedAt) || !sa.RotatedAt.Equal(sb.RotatedAt) || len(sa.History) != len(sb.History) {
			return false
		}
		for i := range sa.History {
			if sa.History[i].Value != sb.History[i].Value || !sa.History[i].RetiredAt.Equal(sb.History[i].RetiredAt) {
				return false
			}
		}
	}
	return true
}

// valueRE finds what looks like a value in a possibly broken document:
// the string after a "value" key, up to its closing quote (or the end).
var valueRE = regexp.MustCompile(`"value"\s*:\s*"((?:[^"\\]|\\.)*)`)

// inputValues returns the value strings of data, raw and (when the
// document is valid JSON) decoded.
func inputValues(data []byte) []string {
	var out []string
	for _, m := range valueRE.FindAllSubmatch(data, -1) {
		out = append(out, string(m[1]))
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, v := range x {
				if s, ok := v.(string); ok && k == "value" {
					out = append(out, s)
				}
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	var generic any
	if json.Unmarshal(data, &generic) == nil {
		walk(generic)
	}
	return out
}

// checkNoValueInError fails when msg contains 12 or more bytes of a value
// in data. A piece that also occurs in data outside every value (say, in
// a secret name the error rightly names) does not count.
func checkNoValueInError(t *testing.T, data []byte, msg string) {
	t.Helper()
	values := inputValues(data)
	rest := string(data)
	for _, v := range values {
		if v != "" {
			rest = strings.ReplaceAll(rest, v, "\x00")
		}
	}
	const n = 12
	for _, v := range values {
		for i := 0; i+n <= len(v); i++ {
			piece := v[i : i+n]
			if strings.Contains(msg, piece) && !strings.Contains(rest, piece) {
				t.Fatalf("error quotes %q from a value: %s", piece, msg)
			}
		}
	}
}
