package proxy

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// An upstream that echoes request headers (a debugging gateway, a verbose
// error) would hand the real key to the child, which must never hold it.
// The proxy replaces the key in response headers and bodies with a marker
// of the same length, so Content-Length stays right.

func keyMarker(n int) []byte {
	// One Load: two could see different markers, stored by proxies with
	// keys of other lengths, and a marker shorter than the key would leave
	// the key's tail in the response.
	if m := lastMark.Load().([]byte); len(m) == n {
		return m
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

// maskKey overwrites every whole key in buf with mark, of the key's length.
func maskKey(buf, key, mark []byte) {
	for i := 0; ; {
		j := bytes.Index(buf[i:], key)
		if j < 0 {
			return
		}
		copy(buf[i+j:], mark)
		i += j + len(key)
	}
}

// scrubHeader replaces the key in every response header value.
func scrubHeader(h http.Header, key string) {
	if len(key) == 0 {
		return
	}
	for _, vs := range h {
		for i, v := range vs {
			if strings.Contains(v, key) {
				vs[i] = strings.ReplaceAll(v, key, string(keyMarker(len(key))))
			}
		}
	}
}

// scrubBody replaces the key in a response body as it streams, in the
// reader's own buffer: it reads into the caller's p, replaces every whole
// key there, and holds back at most len(key)-1 bytes, and only while they
// could be the start of the key (a stream is not delayed otherwise); the
// held bytes go at the front of the next Read's p. So a body is copied
// once, by the caller (httputil.ReverseProxy's pooled buffer), not into a
// buffer of the scrubber's and out again. A caller's p too small for the
// held bytes and a whole key (not ReverseProxy's 32 KiB) is served from a
// small buffer of the scrubber's.
type scrubBody struct {
	rc    io.ReadCloser
	key   []byte
	mark  []byte
	held  []byte // read, scrubbed, may start the key: the next Read's first bytes
	small []byte // the buffer for a small p
	out   []byte // of small, ready for the caller
	eof   bool
	err   error
}

func newScrubBody(rc io.ReadCloser, key []byte) io.ReadCloser {
	if len(key) == 0 {
		return rc
	}
	return &scrubBody{rc: rc, key: key, mark: keyMarker(len(key))}
}

func (s *scrubBody) Read(p []byte) (int, error) {
	if len(s.out) > 0 {
		n := copy(p, s.out)
		s.out = s.out[n:]
		return n, nil
	}
	if len(p) >= 2*len(s.key) {
		return s.fill(p)
	}
	if s.small == nil {
		s.small = make([]byte, max(4*len(s.key), 512))
	}
	n, err := s.fill(s.small)
	s.out = s.small[:n]
	m := copy(p, s.out)
	s.out = s.out[m:]
	if m == 0 {
		return 0, err
	}
	return m, nil
}

// fill reads into p (len(p) >= 2*len(key)) after the held bytes, scrubs
// it and returns the bytes that cannot be the start of the key; it
// returns 0 only with the body's error.
func (s *scrubBody) fill(p []byte) (int, error) {
	for {
		h := copy(p, s.held)
		s.held = s.held[:0]
		if s.eof { // the held tail was not the key after all
			if h > 0 {
				return h, nil
			}
			return 0, s.err
		}
		m, err := s.rc.Read(p[h:])
		n := h + m
		if err != nil {
			s.eof, s.err = true, err
		}
		ready := s.scan(p[:n])
		s.held = append(s.held, p[ready:n]...)
		if ready > 0 {
			return ready, nil
		}
	}
}

// scan replaces every whole key in buf and returns how much of it is
// ready: all but a tail that may be the beginning of the key.
func (s *scrubBody) scan(buf []byte) int {
	maskKey(buf, s.key, s.mark)
	if s.eof {
		return len(buf)
	}
	for k := min(len(s.key)-1, len(buf)); k > 0; k-- {
		if bytes.HasPrefix(s.key, buf[len(buf)-k:]) {
			return len(buf) - k
		}
	}
	return len(buf)
}

func (s *scrubBody) Close() error { return s.rc.Close() }
