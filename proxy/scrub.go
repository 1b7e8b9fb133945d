package proxy

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// An upstream that echoes request headers (a debugging gateway, a verbose
// error) would hand the real key to the child, which must never hold it.
// The proxy replaces the key in response headers and bodies with a marker
// of the same length, so Content-Length stays right.

func keyMarker(n int) []byte {
	if n == len(lastMark.Load().([]byte)) {
		return lastMark.Load().([]byte)
	}
	m := makeMarker(n)
	lastMark.Store(m)
	return m
}

// lastMark caches the marker of the last length asked for: a proxy asks
// for one length, on every response.
var lastMark atomic.Value // []byte

func init() { lastMark.Store([]byte(nil)) }

func makeMarker(n int) []byte {
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

var scrubBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// scrubBody replaces the key in a response body as it streams. It holds
// back at most len(key)-1 bytes, and only while they could be the start of
// the key, so a stream is not delayed otherwise. Its buffer comes from a
// pool and goes back at the end of the body.
type scrubBody struct {
	rc   io.ReadCloser
	key  []byte
	mark []byte
	bp   *[]byte
	lo   int // data[lo:ready] is scrubbed and ready to return
	rdy  int
	hi   int // data[ready:hi] is held back: it may start the key
	eof  bool
	err  error
}

func newScrubBody(rc io.ReadCloser, key []byte) io.ReadCloser {
	return new(scrubBody).wrap(rc, key)
}

// wrap makes s the scrubbing reader of rc, and returns it (or rc itself
// when there is no key to scrub).
func (s *scrubBody) wrap(rc io.ReadCloser, key []byte) io.ReadCloser {
	if len(key) == 0 || len(key) > 4<<10 {
		return rc
	}
	*s = scrubBody{rc: rc, key: key, mark: keyMarker(len(key))}
	return s
}

func (s *scrubBody) Read(p []byte) (int, error) {
	for s.rdy == s.lo {
		if s.eof {
			if s.hi > s.rdy { // the held tail was not the key after all
				s.rdy = s.hi
				break
			}
			s.release()
			return 0, s.err
		}
		if s.bp == nil {
			s.bp = scrubBufs.Get().(*[]byte)
		}
		data := *s.bp
		// Move the held tail to the front, then read after it.
		n := copy(data, data[s.rdy:s.hi])
		s.lo, s.rdy, s.hi = 0, 0, n
		m, err := s.rc.Read(data[s.hi:])
		s.hi += m
		if err != nil {
			s.eof, s.err = true, err
		}
		s.scan(data[:s.hi])
	}
	data := *s.bp
	n := copy(p, data[s.lo:s.rdy])
	s.lo += n
	return n, nil
}

// scan replaces every whole key in buf and marks ready all but a tail that
// may be the beginning of the key.
func (s *scrubBody) scan(buf []byte) {
	for i := 0; ; {
		j := bytes.Index(buf[i:], s.key)
		if j < 0 {
			break
		}
		copy(buf[i+j:], s.mark)
		i += j + len(s.key)
	}
	hold := 0
	if !s.eof {
		for k := min(len(s.key)-1, len(buf)); k > 0; k-- {
			if bytes.HasPrefix(s.key, buf[len(buf)-k:]) {
				hold = k
				break
			}
		}
	}
	s.rdy = len(buf) - hold
}

func (s *scrubBody) release() {
	if s.bp != nil {
		scrubBufs.Put(s.bp)
		s.bp = nil
	}
}

func (s *scrubBody) Close() error {
	s.release()
	return s.rc.Close()
}
