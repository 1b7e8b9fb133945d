package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// FormatVersion is the version of the profile document this okv writes.
const FormatVersion = 1

// MaxHistory is how many retired values a secret keeps.
const MaxHistory = 5

// Document is the plaintext of one profile file.
type Document struct {
	Okv     int                `json:"okv"`
	Profile string             `json:"profile"`
	Secrets map[string]*Secret `json:"secrets"`

	// Removed keeps secrets 'okv rm' removed, with their history, so that
	// 'okv rollback' can restore them. They are not part of the profile.
	Removed map[string]*Secret `json:"removed,omitempty"`

	// Recipients and Policy pin, inside the encryption, what config.toml
	// (plaintext, and in a project vault anyone's commit) may say: okv
	// refuses to encrypt to a recipient, or to use the profile under a
	// policy (confirm, proxy, upstream, limits), that a reader of this
	// document did not approve through okv.
	Recipients []string `json:"recipients,omitempty"`
	Policy     *Pin     `json:"policy,omitempty"`
	// Upstream is the pin of documents written before Policy existed;
	// their next write moves it into Policy.
	Upstream string `json:"upstream,omitempty"`
}

// Secret is one stored value with its rotation metadata.
type Secret struct {
	Value     string    `json:"value"`
	CreatedAt time.Time `json:"created_at"`
	RotatedAt time.Time `json:"rotated_at"`
	History   []Retired `json:"history,omitempty"`
	// RemovedAt is when 'okv rm' removed it (secrets in Document.Removed).
	RemovedAt time.Time `json:"removed_at,omitzero"`
}

// Retired is a previous value of a secret.
type Retired struct {
	Value     string    `json:"value"`
	RetiredAt time.Time `json:"retired_at"`
}

// NewDocument returns an empty document for profile.
func NewDocument(profile string) *Document {
	return &Document{Okv: FormatVersion, Profile: profile, Secrets: map[string]*Secret{}, Policy: &Pin{}}
}

// Names returns the secret names in sorted order.
func (d *Document) Names() []string {
	names := make([]string, 0, len(d.Secrets))
	for n := range d.Secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CorruptError reports a profile document that decrypted but is not a valid
// okv profile. It never includes document content.
type CorruptError struct {
	Profile string
	Reason  string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("profile %q is not a valid okv document: %s", e.Profile, e.Reason)
}

// MismatchError reports a profile file whose document names another profile:
// a renamed or swapped file, which must never silently switch keys.
type MismatchError struct {
	File, Inside string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("profile file %q holds profile %q: the file was renamed or swapped", e.File, e.Inside)
}

// DecodeDocument parses and validates a profile plaintext. want is the
// profile name taken from the file name; the document must name the same
// profile. Errors never quote the input: it holds secrets.
func DecodeDocument(data []byte, want string) (*Document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wireDocument
	if err := dec.Decode(&w); err != nil {
		return nil, &CorruptError{Profile: want, Reason: describeJSONError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &CorruptError{Profile: want, Reason: "trailing data after the document"}
	}
	d := Document{Okv: w.Okv, Profile: w.Profile, Secrets: w.Secrets, Removed: w.Removed, Recipients: w.Recipients, Upstream: w.Upstream}
	pin, err := decodePin(w.Policy)
	if err != nil {
		return nil, &CorruptError{Profile: want, Reason: err.Error()}
	}
	d.Policy = pin
	switch {
	case d.Okv == 0:
		return nil, &CorruptError{Profile: want, Reason: `missing "okv" format version`}
	case d.Okv > FormatVersion:
		return nil, &CorruptError{Profile: want, Reason: fmt.Sprintf("format version %d is newer than this okv understands (%d): upgrade okv", d.Okv, FormatVersion)}
	case d.Okv < 0:
		return nil, &CorruptError{Profile: want, Reason: "negative format version"}
	}
	if err := ValidateProfileName(d.Profile); err != nil {
		return nil, &CorruptError{Profile: want, Reason: err.Error()}
	}
	if d.Profile != want {
		return nil, &MismatchError{File: want, Inside: d.Profile}
	}
	if d.Secrets == nil {
		d.Secrets = map[string]*Secret{}
	}
	for _, m := range []map[string]*Secret{d.Secrets, d.Removed} {
		for name, s := range m {
			if err := validateSecret(want, name, s); err != nil {
				return nil, err
			}
		}
	}
	return &d, nil
}

// wireDocument is Document as DecodeDocument reads it: the pin is kept
// as its bytes and decoded by decodePin. It repeats Document's fields
// rather than embedding Document, whose name encoding/json would put in
// front of every field its type errors name ("Document.okv"). encoding/json analyses every type
// a value reaches the first time it meets it, encoders included, and a
// fresh okv run meets Document once: Pin's graph (limits, providers) cost
// about 70 µs of okv run's start-up for a pin that is "{}" in most
// profiles (make bench, issue 21).
type wireDocument struct {
	Okv        int                `json:"okv"`
	Profile    string             `json:"profile"`
	Secrets    map[string]*Secret `json:"secrets"`
	Removed    map[string]*Secret `json:"removed,omitempty"`
	Recipients []string           `json:"recipients,omitempty"`
	Policy     json.RawMessage    `json:"policy,omitempty"`
	Upstream   string             `json:"upstream,omitempty"`
}

// decodePin reads a document's "policy" member as Document.Policy would
// hold it: nil when absent or null, the empty pin for {}, else decoded as
// strictly as the rest of the document.
func decodePin(raw json.RawMessage) (*Pin, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil
	case raw[0] == '{' && len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0:
		// raw is one JSON value (the document's decoder checked it), so
		// '{' … '}' with only white space between is the empty object.
		return &Pin{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var p Pin
	if err := dec.Decode(&p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// As the whole document's decoder names it.
			field := "policy"
			if te.Field != "" {
				field += "." + te.Field
			}
			return nil, fmt.Errorf("field %q has the wrong type", field)
		}
		return nil, errors.New(describeJSONError(err))
	}
	return &p, nil
}

// validateSecret checks one stored secret like DecodeDocument does.
func validateSecret(profile, name string, s *Secret) error {
	if err := ValidateSecretName(name); err != nil {
		return &CorruptError{Profile: profile, Reason: err.Error()}
	}
	if s == nil {
		return &CorruptError{Profile: profile, Reason: fmt.Sprintf("secret %s is null", name)}
	}
	if err := ValidateValue([]byte(s.Value)); err != nil {
		return &CorruptError{Profile: profile, Reason: fmt.Sprintf("secret %s: %v", name, err)}
	}
	if len(s.History) > MaxHistory {
		s.History = s.History[len(s.History)-MaxHistory:]
	}
	return nil
}

// describeJSONError keeps the position and kind of a JSON error but drops
// any quoted input, which could be part of a secret.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	default:
		// json's unknown-field error quotes the field name, never a value.
		if msg := err.Error(); len(msg) < 200 && bytes.HasPrefix([]byte(msg), []byte("json: unknown field")) {
			return msg[len("json: "):]
		}
		return "malformed JSON"
	}
}

// Encode serialises the document. Keys are sorted by encoding/json, so the
// output is deterministic.
func (d *Document) Encode() ([]byte, error) {
	d.Okv = FormatVersion
	if d.Secrets == nil {
		d.Secrets = map[string]*Secret{}
	}
	return json.MarshalIndent(d, "", "  ")
}
