package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
)

// readRequest reads one HTTP/1.x request from br, as http.ReadRequest
// does, but stricter and with fewer allocations: the whole head becomes
// one string that the method, target, header names and values are cut
// from, and the header goes into h (cleared first; the connection reuses
// it from one request to the next). It parsed every request the proxy
// serves with a quarter of the allocations of http.ReadRequest (see
// BenchmarkReadRequest).
//
// It accepts a subset of what http.ReadRequest accepts and reads it the
// same way; FuzzReadRequest holds it to that. What net/http accepts and
// this refuses (with errMalformed, so a 400) is what a request smuggler
// or a broken client sends, never the official SDKs:
//   - a protocol other than HTTP/1.0 and HTTP/1.1;
//   - folded header lines (obs-fold) and a header line starting with
//     whitespace;
//   - header names with spaces (net/http keeps them uncanonicalized);
//   - more than one Content-Length line, even when they agree;
//   - Transfer-Encoding other than one "chunked" in HTTP/1.1, and
//     Transfer-Encoding together with Content-Length;
//   - a Trailer header naming Content-Length, Transfer-Encoding or
//     Trailer (as net/http), and trailer lines after a chunked body that
//     do not end in CRLF or take over 4 KiB.
//
// Tokens (chunked, close, keep-alive) compare in ASCII only, as net/http:
// no Unicode case folding or spaces.
//
// The request returned is req filled in; req must be a zero request but
// for its context (which is how the connection reuses one). Its URL,
// header and body reader may be bufs', valid until the next call.
func readRequest(br *bufio.Reader, req *http.Request, bufs *reqBuffers) (*http.Request, error) {
	u, h := &bufs.url, bufs.header
	if h == nil {
		h = make(http.Header, 8)
		bufs.header = h
	}
	buf, err := readHead(br, bufs.head[:0])
	if cap(buf) <= 64<<10 {
		bufs.head = buf[:0]
	}
	if err != nil {
		return nil, err
	}
	head := string(buf)

	line, rest := cutLine(head)
	method, line, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(line, " ")
	if !ok1 || !ok2 || !isToken(method) {
		return nil, errMalformed
	}
	req.Method, req.RequestURI, req.Proto, req.ProtoMajor, req.Header = method, target, proto, 1, h
	switch proto {
	case "HTTP/1.1":
		req.ProtoMinor = 1
	case "HTTP/1.0":
	default:
		return nil, errMalformed
	}
	// As net/http: CONNECT's target is an authority (which admit refuses).
	rawurl := target
	justAuthority := method == http.MethodConnect && !strings.HasPrefix(target, "/")
	if justAuthority {
		rawurl = "http://" + rawurl
	}
	if plainPath(rawurl) {
		// What url.ParseRequestURI makes of it, without an allocation.
		*u = url.URL{Path: rawurl}
		req.URL = u
	} else if req.URL, err = url.ParseRequestURI(rawurl); err != nil {
		return nil, errMalformed
	}
	if justAuthority {
		req.URL.Scheme = ""
	}

	clear(h)
	if err := parseHeader(rest, h); err != nil {
		return nil, err
	}
	if len(h["Host"]) > 1 {
		return nil, errMalformed
	}
	req.Host = req.URL.Host
	if req.Host == "" {
		if v := h["Host"]; len(v) > 0 {
			req.Host = v[0]
		}
	}
	delete(h, "Host") // as http.ReadRequest: it is req.Host
	req.Close = fixHeader(h, req.ProtoMinor, false)

	// The body's framing.
	te, chunked := h["Transfer-Encoding"], false
	if te != nil {
		if req.ProtoMinor == 0 || len(te) != 1 || !asciiEqualFold(te[0], "chunked") || h["Content-Length"] != nil {
			return nil, errMalformed
		}
		delete(h, "Transfer-Encoding")
		chunked = true
	}
	switch cl := h["Content-Length"]; {
	case chunked:
		if !trailerNamesOK(h["Trailer"]) {
			return nil, errMalformed
		}
		delete(h, "Trailer") // as net/http; the trailer is read and dropped
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
		req.Body = &chunkedBody{br: br, cr: httputil.NewChunkedReader(br)}
	case len(cl) > 0:
		n, ok := contentLength(cl)
		if !ok {
			return nil, errMalformed
		}
		req.ContentLength = n
		if n > 0 {
			bufs.body = fixedBody{br: br, left: n}
			req.Body = &bufs.body
		} else {
			req.Body = http.NoBody
		}
	default:
		req.Body = http.NoBody
	}
	return req, nil
}

var errMalformed = errors.New("malformed HTTP request")

// reqBuffers are what readRequest reuses from one request to the next; a
// client connection keeps one.
type reqBuffers struct {
	head   []byte
	url    url.URL
	header http.Header
	body   fixedBody
}

// fixHeader does what net/http does to a header it has read: "Pragma:
// no-cache" implies "Cache-Control: no-cache"; and it reports whether the
// connection closes after this message (HTTP/1.0 unless keep-alive, or
// "Connection: close", which a response's header then loses).
func fixHeader(h http.Header, minor int, response bool) (close bool) {
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	conn := h["Connection"]
	if minor == 0 {
		return hasToken(conn, "close") || !hasToken(conn, "keep-alive")
	}
	close = hasToken(conn, "close")
	if close && response {
		delete(h, "Connection")
	}
	return close
}

// plainPath reports whether s is a path of only unreserved characters and
// slashes: no escapes, no query.
func plainPath(s string) bool {
	if s == "" || s[0] != '/' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// readHead appends the request line and header lines, up to and including
// the empty line that ends them, to buf.
func readHead(br *bufio.Reader, buf []byte) ([]byte, error) {
	start := len(buf)
	lineStart := start
	for {
		frag, err := br.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf)-start > maxHeaderBytes {
			return buf, errHeaderTooLarge
		}
		switch {
		case err == nil:
			if l := buf[lineStart:]; lineStart > start && (len(l) == 1 || len(l) == 2 && l[0] == '\r') {
				return buf, nil // the empty line (the request line cannot be one)
			}
			lineStart = len(buf)
		case errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF && len(buf) > start:
			return buf, io.ErrUnexpectedEOF
		default:
			return buf, err
		}
	}
}

// cutLine returns s's first line without its "\n" or "\r\n", and the rest.
func cutLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// parseHeader parses the header lines of s (which ends with the empty
// line) into h.
func parseHeader(s string, h http.Header) error {
	n := strings.Count(s, "\n")
	if n == 0 {
		return errMalformed
	}
	// One array for the values of every name, as net/http does.
	vals := make([]string, n-1)
	for {
		var line string
		line, s = cutLine(s)
		if line == "" {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errMalformed // obs-fold, or a header that starts with whitespace
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !isToken(k) {
			return errMalformed
		}
		v = trimOWS(v)
		for i := 0; i < len(v); i++ {
			if !validValueByte(v[i]) {
				return errMalformed
			}
		}
		key := canonicalKey(k)
		if vv, ok := h[key]; ok {
			h[key] = append(vv, v)
		} else {
			vv, vals = vals[:1:1], vals[1:]
			vv[0] = v
			h[key] = vv
		}
	}
}

// canonicalKey is http.CanonicalHeaderKey of a token; a name that is
// already canonical (or a common one) costs no allocation.
func canonicalKey(k string) string {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return canonicalSlow(k)
		}
		upper = c == '-'
	}
	return k
}

func canonicalSlow(k string) string {
	var small [64]byte
	b := small[:0]
	if len(k) > len(small) {
		b = make([]byte, 0, len(k))
	}
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
		upper = c == '-'
	}
	if s, ok := commonKeys[string(b)]; ok {
		return s
	}
	return string(b)
}

// commonKeys interns the names clients send, among them those of the
// official OpenAI SDKs, which send them in lower case.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Content-Length", "Content-Type", "Cookie", "Expect", "Host",
		"Keep-Alive", "Openai-Beta", "Openai-Organization", "Openai-Project", "Origin",
		"Pragma", "Referer", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent",
		"X-Stainless-Arch", "X-Stainless-Async", "X-Stainless-Lang", "X-Stainless-Os",
		"X-Stainless-Package-Version", "X-Stainless-Retry-Count", "X-Stainless-Runtime",
		"X-Stainless-Runtime-Version", "X-Stainless-Timeout", "Idempotency-Key",
		"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol",
	} {
		m[k] = k
	}
	return m
}()

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool { return tokenBytes[c] }

var tokenBytes = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

// asciiEqualFold is strings.EqualFold for ASCII only, as HTTP compares
// tokens: "chun\u212aed" (a Kelvin sign) is not "chunked" to net/http.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// trimOWS trims spaces and tabs from both ends of s.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// validValueByte: VCHAR, SP, HTAB and obs-text, as net/http.
func validValueByte(c byte) bool {
	return c >= 0x20 && c != 0x7f || c == '\t'
}

// contentLength parses the values of a Content-Length header: one line of
// digits only.
func contentLength(vs []string) (int64, bool) {
	if len(vs) != 1 {
		return 0, false
	}
	return parseLength(vs[0])
}

// parseLength parses a Content-Length: digits only.
func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// fixedBody is a body of Content-Length bytes; one cut short is an
// io.ErrUnexpectedEOF.
type fixedBody struct {
	br   *bufio.Reader
	left int64
}

func (b *fixedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		if b.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		err = nil
	}
	if b.left == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

func (b *fixedBody) Close() error { return nil }

// chunkedBody is a chunked body; at its end it reads (and drops) the
// trailer, so the connection is at the next request.
type chunkedBody struct {
	br   *bufio.Reader
	cr   io.Reader
	done bool
	err  error
}

// maxTrailerBytes bounds a chunked body's trailer; net/http wants it in
// its 4 KiB buffer.
const maxTrailerBytes = 4 << 10

// trailerNamesOK checks the names a Trailer header announces, as net/http
// does: none may frame the message.
func trailerNamesOK(vs []string) bool {
	for _, v := range vs {
		for _, f := range strings.Split(v, ",") {
			switch http.CanonicalHeaderKey(trimOWS(f)) {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return false
			}
		}
	}
	return true
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, b.err
	}
	n, err := b.cr.Read(p)
	if err == io.EOF {
		b.done, b.err = true, io.EOF
		if terr := b.readTrailer(); terr != nil {
			b.err = terr
		}
		return n, b.err
	}
	if err != nil {
		b.done, b.err = true, err
	}
	return n, err
}

func (b *chunkedBody) readTrailer() error {
	total := 0
	for {
		line, err := b.br.ReadSlice('\n')
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err // a line over the buffer is too long for a trailer, too
		}
		total += len(line)
		if total > maxTrailerBytes {
			return errMalformed
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return errMalformed
		}
		line = line[:len(line)-2]
		if len(line) == 0 {
			return nil
		}
		k, v, ok := strings.Cut(string(line), ":")
		if !ok || !isToken(k) {
			return errMalformed
		}
		for i := 0; i < len(v); i++ {
			if !validValueByte(v[i]) {
				return errMalformed
			}
		}
	}
}

func (b *chunkedBody) Close() error { return nil }

// respBuffers are what parseResponse reuses from one response to the
// next; a client connection keeps one (see connCtx).
type respBuffers struct {
	head   []byte
	resp   http.Response
	header http.Header
	body   fixedBody
}

// parseResponse reads one response to req from br, as http.ReadResponse
// does, but stricter and with fewer allocations, as readRequest. With bufs
// the response and its header are bufs' (valid until the next call). It
// refuses (with errMalformedResponse) what net/http reads but a sound
// upstream never sends: a protocol other than HTTP/1.0 and HTTP/1.1, a
// status code other than three digits, folded header lines, names with
// spaces, more than one Content-Length line, and Transfer-Encoding other
// than one "chunked" in HTTP/1.1, a status under 100, and a Trailer header
// that names Content-Length, Transfer-Encoding or Trailer. It drops a chunked body's trailer (the
// proxy passes none on). FuzzParseResponse holds it to net/http's reading.
func parseResponse(br *bufio.Reader, req *http.Request, bufs *respBuffers) (*http.Response, error) {
	var scratch []byte
	var resp *http.Response
	var h http.Header
	if bufs != nil {
		scratch, resp, h = bufs.head[:0], &bufs.resp, bufs.header
		*resp = http.Response{}
		clear(h)
	} else {
		resp = new(http.Response)
	}
	if h == nil {
		h = make(http.Header, 8)
		if bufs != nil {
			bufs.header = h
		}
	}
	buf, err := readHead(br, scratch)
	if bufs != nil && cap(buf) <= 64<<10 {
		bufs.head = buf[:0]
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	head := string(buf)
	line, rest := cutLine(head)
	proto, status, ok := strings.Cut(line, " ")
	if !ok {
		return nil, errMalformedResponse
	}
	resp.Request, resp.Proto, resp.ProtoMajor, resp.Header = req, proto, 1, h
	switch proto {
	case "HTTP/1.1":
		resp.ProtoMinor = 1
	case "HTTP/1.0":
	default:
		return nil, errMalformedResponse
	}
	resp.Status = strings.TrimLeft(status, " ")
	code, _, _ := strings.Cut(resp.Status, " ")
	if len(code) != 3 || code[0] < '0' || code[0] > '9' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return nil, errMalformedResponse
	}
	resp.StatusCode = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if resp.StatusCode < 100 {
		return nil, errMalformedResponse // no such status: it would be passed on as is
	}
	if err := parseHeader(rest, h); err != nil {
		return nil, errMalformedResponse
	}
	resp.Close = fixHeader(h, resp.ProtoMinor, true)

	// The body's framing, as net/http's readTransfer.
	chunked := false
	if te, ok := h["Transfer-Encoding"]; ok {
		delete(h, "Transfer-Encoding")
		if resp.ProtoMinor == 1 { // HTTP/1.0 has none: ignored
			if len(te) != 1 || !asciiEqualFold(te[0], "chunked") {
				return nil, errMalformedResponse
			}
			chunked = true
		}
	}
	if chunked && !trailerNamesOK(h["Trailer"]) {
		return nil, errMalformedResponse
	}
	length := int64(-1)
	if cl := h["Content-Length"]; len(cl) > 0 {
		var ok bool
		if length, ok = contentLength(cl); !ok {
			return nil, errMalformedResponse
		}
	}
	noBody := req != nil && req.Method == http.MethodHead || resp.StatusCode/100 == 1 ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified
	switch {
	case noBody:
		resp.ContentLength = 0
		if req != nil && req.Method == http.MethodHead {
			resp.ContentLength = length
		}
		resp.Body = http.NoBody
		if chunked {
			resp.TransferEncoding = []string{"chunked"}
			delete(h, "Trailer")
		}
	case chunked:
		delete(h, "Content-Length")
		delete(h, "Trailer")
		resp.ContentLength = -1
		resp.TransferEncoding = []string{"chunked"}
		resp.Body = &chunkedBody{br: br, cr: httputil.NewChunkedReader(br)}
	case length == 0:
		resp.Body = http.NoBody
	case length > 0:
		resp.ContentLength = length
		if bufs != nil {
			bufs.body = fixedBody{br: br, left: length}
			resp.Body = &bufs.body
		} else {
			resp.Body = &fixedBody{br: br, left: length}
		}
	default:
		// The body ends with the connection.
		resp.ContentLength = -1
		resp.Close = true
		resp.Body = io.NopCloser(br)
	}
	return resp, nil
}

var errMalformedResponse = errors.New("malformed HTTP response from the upstream")
