package proxy

import (
	"bytes"
	"encoding/json"
	"io"
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
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, 0, errNotObject
		}
		end := int(dec.InputOffset())
		// The raw value is the last len(val) bytes before end: point
		// into b rather than keep the decoder's copy.
		ms = append(ms, member{key: key, start: prev, end: end, val: b[end-len(val) : end]})
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
