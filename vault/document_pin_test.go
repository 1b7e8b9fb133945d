package vault

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// TestDecodePinAsWholeDocument: DecodeDocument reads "policy" apart from
// the rest (decodePin, for okv run's start-up); every document must decode
// as one strict decode of Document does, errors included.
func TestDecodePinAsWholeDocument(t *testing.T) {
	whole := func(data []byte) (*Document, string) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var d Document
		if err := dec.Decode(&d); err != nil {
			return nil, describeJSONError(err)
		}
		return &d, ""
	}
	head := `{"okv":1,"profile":"dev","secrets":{"K":{"value":"v","created_at":"2026-01-02T03:04:05Z","rotated_at":"2026-01-02T03:04:05Z"}}`
	// The rest of the document is read through wireDocument: its errors
	// must name the fields as before.
	for _, doc := range []string{
		`{"okv":"1","profile":"dev","secrets":{}}`,
		`{"okv":1,"profile":"dev","secrets":{"K":{"value":1}}}`,
		`{"okv":1,"profile":"dev","secrets":{},"nonsense":1}`,
	} {
		_, wantErr := whole([]byte(doc))
		if _, err := DecodeDocument([]byte(doc), "dev"); wantErr == "" || err == nil || err.(*CorruptError).Reason != wantErr {
			t.Errorf("%s: error %v, want reason %q", doc, err, wantErr)
		}
	}
	for _, policy := range []string{
		``,
		`,"policy":null`,
		`,"policy":{}`,
		`,"policy": {  }`,
		"\n,\"policy\": {\n\t}\n",
		`,"policy":{"confirm":true,"proxy":true,"upstream":"https://api.example.com"}`,
		`,"policy":{"rpm":10,"tpm":1000,"models":["gpt-4o*"],"endpoints":["/v1/chat/completions"],"max_body":1024,"daily_tokens":5,"daily_usd":1.5,"monthly_usd":20,"warn_usd":1,"max_output_tokens":100}`,
		`,"policy":{"providers":{"anthropic":{"upstream":"https://a.example","key_var":"K","rpm":3}}}`,
		`,"policy":{"rpm":"ten"}`,
		`,"policy":{"providers":{"anthropic":{"rpm":"x"}}}`,
		`,"policy":{"nonsense":1}`,
		`,"policy":{"providers":{"anthropic":{"nonsense":1}}}`,
		`,"policy":[]`,
		`,"policy":"proxy"`,
		`,"policy":{"rpm":1,"rpm":2}`,
	} {
		data := []byte(head + policy + `}`)
		want, wantErr := whole(data)
		got, err := DecodeDocument(data, "dev")
		if wantErr != "" {
			ce, ok := err.(*CorruptError)
			if !ok || ce.Reason != wantErr {
				t.Errorf("policy %q: error %v, want reason %q", policy, err, wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("policy %q: %v", policy, err)
			continue
		}
		if !reflect.DeepEqual(got.Policy, want.Policy) {
			t.Errorf("policy %q: pin %#v, want %#v", policy, got.Policy, want.Policy)
		}
		if (got.Policy == nil) != (want.Policy == nil) {
			t.Errorf("policy %q: nil pin %v, want %v", policy, got.Policy == nil, want.Policy == nil)
		}
	}
}
