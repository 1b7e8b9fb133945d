package proxy

import (
	"bytes"
	"io"
	"net/http"
)

// An upstream that echoes request headers (a debugging gateway, a verbose
// error) would hand the real key to the child, which must never hold it.
// The proxy replaces the key in response headers and bodies with a marker
// of the same length, so Content-Length stays right.

func keyMarker(n int) []byte {
	const mark = "[okv:redacted]"
	if n <= len(mark) {
		return bytes.Repeat([]byte("*"), n)
	}
	return append([]byte(mark), bytes.Repeat([]byte("*"), n-len(mark))...)
}

// scrubHeader replaces the key in every response header value.
func scrubHeader(h http.Header, key []byte) {
	if len(key) == 0 {
		return
	}
	for k, vs := range h {
		for i, v := range vs {
			if bytes.Contains([]byte(v), key) {
				h[k][i] = string(bytes.ReplaceAll([]byte(v), key, keyMarker(len(key))))
			}
		}
	}
}

// scrubBody replaces the key in a response body as it streams. It holds
// back at most len(key)-1 bytes, and only while they could be the start of
// the key, so a stream is not delayed otherwise.
type scrubBody struct {
	rc   io.ReadCloser
	key  []byte
	mark []byte
	buf  []byte // read, not yet returned
	out  int    // bytes of buf ready to return
	eof  bool
	err  error
	tmp  []byte
}

func newScrubBody(rc io.ReadCloser, key []byte) io.ReadCloser {
	if len(key) == 0 {
		return rc
	}
	return &scrubBody{rc: rc, key: key, mark: keyMarker(len(key))}
}

func (s *scrubBody) Read(p []byte) (int, error) {
	for s.out == 0 {
		if s.eof {
			if len(s.buf) == 0 {
				return 0, s.err
			}
			s.out = len(s.buf)
			break
		}
		if s.tmp == nil {
			s.tmp = make([]byte, 32<<10)
		}
		n, err := s.rc.Read(s.tmp)
		s.buf = append(s.buf, s.tmp[:n]...)
		if err != nil {
			s.eof, s.err = true, err
		}
		s.scan()
	}
	n := copy(p, s.buf[:s.out])
	s.buf = s.buf[n:]
	s.out -= n
	return n, nil
}

// scan replaces every whole key in buf and marks as ready everything but a
// tail that may be the beginning of the key.
func (s *scrubBody) scan() {
	for i := 0; ; {
		j := bytes.Index(s.buf[i:], s.key)
		if j < 0 {
			break
		}
		copy(s.buf[i+j:], s.mark)
		i += j + len(s.key)
	}
	hold := 0
	for k := min(len(s.key)-1, len(s.buf)); k > 0; k-- {
		if bytes.HasPrefix(s.key, s.buf[len(s.buf)-k:]) {
			hold = k
			break
		}
	}
	if s.eof {
		hold = 0
	}
	s.out = len(s.buf) - hold
}

func (s *scrubBody) Close() error { return s.rc.Close() }
