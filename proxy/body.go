package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/okvault/okv/limits"
)

// DefaultMaxBody is the request body limit when Limits.MaxBody is 0.
const DefaultMaxBody = limits.DefaultMaxBody

var errBodyTooLarge = errors.New("request body too large")

// readBounded reads all of r, failing with errBodyTooLarge past max bytes.
func readBounded(r io.Reader, max int64, sizeHint int64) ([]byte, error) {
	if sizeHint > 0 && sizeHint <= max && sizeHint <= 1<<20 {
		// The size is known: read it into a buffer of that size.
		buf := make([]byte, sizeHint)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		var one [1]byte
		n, err := io.ReadFull(r, one[:])
		if n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		// Longer than it said: go on as if the size were unknown.
		rest, err := readBounded(r, max-sizeHint-1, 0)
		if err != nil {
			return nil, err
		}
		return append(append(buf, one[0]), rest...), nil
	}
	n := sizeHint
	if n <= 0 || n > max {
		n = 512
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+1))
	got, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if got > max {
		return nil, errBodyTooLarge
	}
	return buf.Bytes(), nil
}

// limitedBody streams a request body to the upstream, failing (and
// remembering it) once more than left bytes arrive.
type limitedBody struct {
	rc       io.ReadCloser
	left     int64
	tooLarge *atomic.Bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		b.tooLarge.Store(true)
		b.left = 0
		return 0, errBodyTooLarge
	}
	b.left -= int64(n)
	return n, err
}

// Close leaves the client's body to net/http's server, which reads what
// is left of it after the handler (up to 256 KiB) to keep the connection.
// The Transport closes a request body when the upstream answers before
// reading it whole; closing the server's body then would make the server
// drop the connection instead.
func (b *limitedBody) Close() error { return nil }

// bodyKind is how a request body is inspected for its model.
type bodyKind int

const (
	bodyOpaque bodyKind = iota // streamed, not inspected
	bodyJSON
	bodyMultipart
	bodyForm
)

func classifyBody(contentType string) (bodyKind, map[string]string) {
	switch contentType { // what the SDKs and the API send, without parsing
	case "application/json", "application/json; charset=utf-8":
		return bodyJSON, nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return bodyOpaque, nil
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return bodyJSON, params
	case mt == "multipart/form-data":
		return bodyMultipart, params
	case mt == "application/x-www-form-urlencoded":
		return bodyForm, params
	}
	return bodyOpaque, params
}

// looksJSON reports whether b starts, after white space, with '{'.
func looksJSON(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

var (
	errNotObject    = errors.New("the request body is not a JSON object")
	errModelTwice   = errors.New(`the request names "model" more than once`)
	errModelNotText = errors.New(`"model" is not a string`)
)

// jsonModels returns the top-level "model" of a JSON object body, read
// with encoding/json's decoder (objectMembers: keys as tokens, other
// values skipped, each read once and not decoded). Keys are matched
// exactly, as the upstream does, and a key given twice is an error, so
// the proxy and the upstream cannot disagree on which model was asked
// for. A body that is not one valid JSON object is an error.
//
// Cost (one run of BenchmarkJSONModels against
// BenchmarkJSONModelsTokenRaw, the former walk that decoded each value
// into a json.RawMessage, 4 KB prompt, loaded 2-core machine, median of
// 5): 24.8 µs and 15.9 KB against 35.4 µs and 20.5 KB.
func jsonModels(b []byte) ([]string, error) {
	ms, _, err := objectMembers(b)
	if err != nil {
		return nil, err
	}
	var models []string
	seen := false
	for _, m := range ms {
		if m.key != "model" {
			continue
		}
		if seen {
			return nil, errModelTwice
		}
		seen = true
		if string(m.val) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(m.val, &s) != nil {
			return nil, errModelNotText
		}
		models = append(models, s)
	}
	return models, nil
}

// formModels returns the values of the "model" fields of a multipart or
// url-encoded form. For a multipart form, the values of the parts named
// by collect's keys are appended to collect in the same pass (nil
// collects none), so a caller needing other fields does not parse the
// body again.
func formModels(kind bodyKind, params map[string]string, b []byte, collect map[string][][]byte) ([]string, error) {
	var models []string
	switch kind {
	case bodyForm:
		q, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, errors.New("the form body cannot be parsed")
		}
		models = q["model"]
	case bodyMultipart:
		// Parts are read raw and must name their field plainly: a part
		// whose Content-Disposition Go cannot parse (FormName would be
		// empty) or with a Content-Transfer-Encoding (Go decodes
		// quoted-printable, other parsers may not) could be read as
		// another model upstream, and is refused.
		errParse := errors.New("the multipart body cannot be parsed")
		mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, errParse
			}
			if len(part.Header["Content-Transfer-Encoding"]) > 0 {
				return nil, errors.New("a multipart part has a Content-Transfer-Encoding")
			}
			disp, dp, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
			if err != nil || disp != "form-data" || len(part.Header["Content-Disposition"]) != 1 {
				return nil, errors.New("a multipart part's Content-Disposition cannot be parsed")
			}
			if dp["name"] == "model" {
				v, err := io.ReadAll(io.LimitReader(part, 1025))
				if err != nil {
					return nil, errParse
				}
				if len(v) > 1024 {
					return nil, errors.New("the model field is too long")
				}
				models = append(models, string(v))
			} else if vs, ok := collect[dp["name"]]; ok {
				v, err := io.ReadAll(part)
				if err != nil {
					return nil, errParse
				}
				collect[dp["name"]] = append(vs, v)
			}
			part.Close()
		}
	}
	if len(models) > 1 {
		return nil, errModelTwice
	}
	return models, nil
}
