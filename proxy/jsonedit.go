package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// member is one top-level member of a JSON object, by byte offsets into
// the document: from just after the previous value (or the '{') to just
// after its own value.
type member struct {
	key        string
	start, end int
	val        json.RawMessage // the value's bytes (a slice of the document's)
}

// objectMembers splits a JSON object document into its top-level
// members, in order, with encoding/json's decoder (keys read as tokens,
// values as raw messages). close is the offset of the closing '}'. A
// document that is not one valid JSON object is errNotObject.
func objectMembers(b []byte) (ms []member, close int, err error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, 0, errNotObject
	}
	prev := int(dec.InputOffset())
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, 0, errNotObject
		}
		key, _ := t.(string)
		afterKey := int(dec.InputOffset())
		if err := skipValue(dec); err != nil {
			return nil, 0, errNotObject
		}
		end := int(dec.InputOffset())
		// The value is what follows the key's colon, up to end.
		val := bytes.TrimLeft(b[afterKey:end], " \t\r\n")
		if len(val) == 0 || val[0] != ':' {
			return nil, 0, errNotObject
		}
		val = bytes.TrimLeft(val[1:], " \t\r\n")
		ms = append(ms, member{key: key, start: prev, end: end, val: val})
		prev = end
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, 0, errNotObject
	}
	close = int(dec.InputOffset()) - 1
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, errNotObject // something after the object
	}
	return ms, close, nil
}

// splitBody is a request body split into its members, once per request
// (reqState.split): the provider's Models and StreamUsage both walk the
// body's members, and a split costs some 6 µs per KB of body
// (BenchmarkJSONModels), as much again for a streamed chat.
type splitBody struct {
	body  []byte // the body split, by identity (same array, same length)
	ms    []member
	close int
	err   error
}

// bodyMembers is objectMembers(body), split once per request for the
// body the proxy read (r carries the request's state): callers must not
// modify the members.
func bodyMembers(r *http.Request, body []byte) ([]member, int, error) {
	st := stateOf(r.Context())
	if st == nil || len(body) == 0 {
		return objectMembers(body)
	}
	sp := &st.split
	if len(sp.body) != len(body) || &sp.body[0] != &body[0] {
		sp.ms, sp.close, sp.err = objectMembers(body)
		sp.body = body
	}
	return sp.ms, sp.close, sp.err
}

// skipValue moves dec past one value, read (and checked) once by the
// decoder's scanner and not decoded: Decode with a nil pointer reads the
// whole value, then refuses to store it with an InvalidUnmarshalError,
// and the decoder goes on after the value ("the connection is still
// usable since we read a complete JSON object", encoding/json's
// stream.go). Decoding into a json.RawMessage would scan it a second
// time and copy it; the value's bytes are taken from the document
// instead. Should a later encoding/json refuse before reading, the next
// Token fails and every body is refused: it fails closed.
func skipValue(dec *json.Decoder) error {
	var none *struct{} // a nil pointer: nowhere to store the value
	err := dec.Decode(none)
	var iu *json.InvalidUnmarshalError
	if errors.As(err, &iu) {
		return nil
	}
	if err == nil {
		return errors.New("json: a value was decoded into nil")
	}
	return err
}

// withoutMember returns b without its i-th top-level member (and the
// comma that separated it from the others).
func withoutMember(b []byte, ms []member, i int, close int) []byte {
	from, to := ms[i].start, ms[i].end
	if i == 0 {
		// The first member: drop it and the comma after it.
		from = ms[0].start
		if len(ms) > 1 {
			to = ms[1].start
			if j := bytes.IndexByte(b[to:], ','); j >= 0 {
				to += j + 1
			}
		} else {
			to = close
		}
	}
	out := make([]byte, 0, len(b)-(to-from))
	out = append(out, b[:from]...)
	return append(out, b[to:]...)
}

// replaceValue returns b with the value of member m replaced by v.
func replaceValue(b []byte, m member, v []byte) []byte {
	vs := m.end - len(m.val)
	out := make([]byte, 0, len(b)-len(m.val)+len(v))
	out = append(out, b[:vs]...)
	out = append(out, v...)
	return append(out, b[m.end:]...)
}

// appendMember returns b with `,"key":v` added after its last member
// (b has at least one).
func appendMember(b []byte, ms []member, key string, v []byte) []byte {
	at := ms[len(ms)-1].end
	k, _ := json.Marshal(key)
	out := make([]byte, 0, len(b)+len(k)+len(v)+2)
	out = append(out, b[:at]...)
	out = append(out, ',')
	out = append(out, k...)
	out = append(out, ':')
	out = append(out, v...)
	return append(out, b[at:]...)
}
