package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// sdkRequest is a chat completion as the official openai npm package sends
// it: lower-case header names, several of them.
const sdkRequest = "POST /v1/chat/completions HTTP/1.1\r\n" +
	"accept: application/json\r\ncontent-type: application/json\r\nuser-agent: OpenAI/JS 6.30.1\r\n" +
	"x-stainless-lang: js\r\nx-stainless-package-version: 6.30.1\r\nx-stainless-os: Linux\r\n" +
	"x-stainless-arch: x64\r\nx-stainless-runtime: node\r\nx-stainless-runtime-version: v20.19.2\r\n" +
	"authorization: Bearer okv-token\r\nx-stainless-retry-count: 0\r\nx-stainless-timeout: 600\r\n" +
	"content-length: 29\r\nAccept-Encoding: gzip, deflate\r\nHost: 127.0.0.1:8787\r\nConnection: keep-alive\r\n\r\n" +
	`{"model":"gpt-4o-mini","x":1}`

// requestSeeds are requests both parsers take, and some only net/http does.
var requestSeeds = []string{
	sdkRequest,
	"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:8787\r\nAuthorization: Bearer t\r\n\r\n",
	"GET /v1/models?x=1&y=%20 HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\n\r\n",
	"POST /v1/files HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n" +
		"5\r\nhello\r\n0\r\nX-T: v\r\n\r\nGET / HTTP/1.1\r\n\r\n",
	"POST /v1/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n",
	"POST /v1/x HTTP/1.1\nHost: h\ncontent-length: 2\nPragma: no-cache\n\n{}",
	"GET http://example.com/v1/models HTTP/1.1\r\nHost: other\r\n\r\n",
	"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET /v1/models HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n",
	"GET /v1/models HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
	"GET /v1/models HTTP/1.2\r\nHost: h\r\n\r\n",
	"POST /v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab",
	"GET /v1/models HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Obs: caf\xc3\xa9\t\r\n\r\n",
	// Found in review: Unicode case folding and spaces, trailer names.
	"POST /v1/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chun\xe2\x84\xaaed\r\n\r\n0\r\n\r\n",
	"GET /v1/x HTTP/1.1\r\nHost: h\r\nConnection: \xc2\xa0close\r\n\r\n",
	"POST /v1/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n",
}

// TestReadRequestAsNetHTTP: the proxy's request parser reads what
// http.ReadRequest reads, the same way, for requests that clients send.
func TestReadRequestAsNetHTTP(t *testing.T) {
	for i, s := range requestSeeds[:9] {
		if !compareWithNetHTTP(t, []byte(s), 4096) {
			t.Errorf("seed %d: refused: %q", i, s)
		}
	}
}

// TestReadRequestCanonicalNames: lower-case names (the SDKs') are read as
// net/http's canonical ones, and the body is the declared bytes.
func TestReadRequestCanonicalNames(t *testing.T) {
	r, err := readRequest(bufio.NewReader(strings.NewReader(sdkRequest)), new(http.Request), &reqBuffers{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer okv-token" {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("X-Stainless-Runtime-Version"); got != "v20.19.2" {
		t.Errorf("X-Stainless-Runtime-Version = %q", got)
	}
	if _, ok := r.Header["content-type"]; ok {
		t.Error("a lower-case name was kept")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || string(body) != `{"model":"gpt-4o-mini","x":1}` || r.ContentLength != 29 {
		t.Errorf("body %q (%d), %v", body, r.ContentLength, err)
	}
}

// TestReadRequestRefuses: what the proxy refuses though net/http may read
// it: ambiguous framing, folded lines, other protocols, names with spaces,
// control characters.
func TestReadRequestRefuses(t *testing.T) {
	for name, s := range map[string]string{
		"folded line":          "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n",
		"leading whitespace":   "GET / HTTP/1.1\r\n Host: h\r\n\r\n",
		"two equal lengths":    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
		"length and chunked":   "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"gzip, chunked":        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"two encodings":        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"chunked in HTTP/1.0":  "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.2":             "GET / HTTP/1.2\r\nHost: h\r\n\r\n",
		"HTTP/2.0":             "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
		"space before colon":   "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
		"control in value":     "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n",
		"CR in value":          "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n",
		"signed length":        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\n\r\n{}",
		"two Host headers":     "GET / HTTP/1.1\r\nHost: h\r\nHost: evil\r\n\r\n",
		"no colon":             "GET / HTTP/1.1\r\nHost h\r\n\r\n",
		"bad method":           "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
		"not a path":           "GET \x7f HTTP/1.1\r\nHost: h\r\n\r\n",
		"empty request line":   "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"huge length":          "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"empty Content-Length": "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n",
	} {
		if r, err := readRequest(bufio.NewReader(strings.NewReader(s)), new(http.Request), &reqBuffers{}); err == nil {
			t.Errorf("%s: read as %s %s %v", name, r.Method, r.RequestURI, r.Header)
		}
	}
}

// TestReadRequestBodyEnds: a body cut short is an error, not a short
// body, and so is a chunked trailer that does not end.
func TestReadRequestBodyEnds(t *testing.T) {
	for name, s := range map[string]string{
		"short":             "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab",
		"chunk cut":         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"trailer cut":       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n",
		"trailer bare LF":   "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\n",
		"trailer malformed": "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX T\r\n\r\n",
	} {
		r, err := readRequest(bufio.NewReader(strings.NewReader(s)), new(http.Request), &reqBuffers{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := io.ReadAll(r.Body); err == nil {
			t.Errorf("%s: the body read to its end without an error", name)
		}
	}
}

// compareWithNetHTTP parses data with readRequest (through a bufio.Reader
// of size bufSize) and http.ReadRequest. When readRequest accepts it,
// net/http must too and agree on the request, its body and where the next
// request starts. It reports whether readRequest accepted data.
func compareWithNetHTTP(t *testing.T, data []byte, bufSize int) bool {
	t.Helper()
	mbr := bufio.NewReaderSize(bytes.NewReader(data), bufSize)
	mine, merr := readRequest(mbr, new(http.Request), &reqBuffers{})
	if merr != nil {
		return false
	}
	tbr := bufio.NewReader(bytes.NewReader(data))
	theirs, terr := http.ReadRequest(tbr)
	if terr != nil {
		t.Fatalf("readRequest accepted what net/http refuses (%v): %q", terr, data)
	}
	type view struct {
		Method, RequestURI, URL, Proto string
		Major, Minor                   int
		Host                           string
		Close                          bool
		ContentLength                  int64
		TransferEncoding               []string
		Header                         http.Header
	}
	see := func(r *http.Request) view {
		h := r.Header
		if len(h) == 0 {
			h = nil
		}
		return view{r.Method, r.RequestURI, r.URL.String(), r.Proto, r.ProtoMajor, r.ProtoMinor,
			r.Host, r.Close, r.ContentLength, r.TransferEncoding, h}
	}
	if m, th := see(mine), see(theirs); !reflect.DeepEqual(m, th) {
		t.Fatalf("readRequest and net/http differ on %q:\n mine %+v\n net/http %+v", data, m, th)
	}
	sameBodyAndRest(t, data, mine.Body, theirs.Body, mbr, tbr)
	return true
}

// sameBodyAndRest checks that two readings of data give the same body, and
// leave the same bytes for the next message; the first may fail to read
// the body where the second does not (it is the stricter).
func sameBodyAndRest(t *testing.T, data []byte, mine, theirs io.Reader, mbr, tbr *bufio.Reader) {
	t.Helper()
	mbody, merr := io.ReadAll(io.LimitReader(mine, 1<<20))
	tbody, terr := io.ReadAll(io.LimitReader(theirs, 1<<20))
	if merr != nil {
		return // stricter about how a body ends: fine
	}
	if terr != nil || !bytes.Equal(mbody, tbody) {
		t.Fatalf("bodies differ on %q: mine %q, net/http %q (%v)", data, mbody, tbody, terr)
	}
	mrest, _ := io.ReadAll(mbr)
	trest, _ := io.ReadAll(tbr)
	if !bytes.Equal(mrest, trest) {
		t.Fatalf("the next message starts elsewhere in %q: mine %q, net/http %q", data, mrest, trest)
	}
}

// FuzzReadRequest: whatever readRequest accepts, net/http accepts and
// reads the same way (method, target, URL, protocol, Host, header, body
// framing, body and the bytes left for the next request).
func FuzzReadRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, small uint8) {
		size := 4096
		if small%2 == 1 {
			size = 16 // lines longer than the buffer
		}
		compareWithNetHTTP(t, data, size)
	})
}

// BenchmarkReadRequest compares readRequest with http.ReadRequest on the
// request the official SDK sends.
func BenchmarkReadRequest(b *testing.B) {
	data := []byte(sdkRequest)
	b.Run("okv", func(b *testing.B) {
		// As a connection reads them: into one request and its buffers.
		var req http.Request
		bufs := &reqBuffers{}
		rd := bytes.NewReader(data)
		br := bufio.NewReader(rd)
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(data)
			br.Reset(rd)
			req = http.Request{}
			if _, err := readRequest(br, &req, bufs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net/http", func(b *testing.B) {
		rd := bytes.NewReader(data)
		br := bufio.NewReader(rd)
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(data)
			br.Reset(rd)
			if _, err := http.ReadRequest(br); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// responseSeeds are answers as upstreams send them, and some only
// net/http reads.
var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nDate: Fri, 27 Nov 2026 01:00:00 GMT\r\n\r\n{}",
	"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n2\r\nab\r\n0\r\nX-T: v\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\nx",
	"HTTP/1.1 429 \r\nConnection: close\r\nRetry-After: 1\r\nPragma: no-cache\r\nContent-Length: 3\r\n\r\n{}\n",
	"HTTP/1.1 500\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
	"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 +20 OK\r\n\r\n",
	"HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chun\xe2\x84\xaaed\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
}

// compareResponse parses data as the answer to a request of method with
// parseResponse and http.ReadResponse; when parseResponse accepts it,
// net/http must too and agree on the answer, its body and where the next
// one starts. It reports whether parseResponse accepted data.
func compareResponse(t *testing.T, data []byte, method string, bufSize int, bufs *respBuffers) bool {
	t.Helper()
	req := &http.Request{Method: method}
	mbr := bufio.NewReaderSize(bytes.NewReader(data), bufSize)
	mine, merr := parseResponse(mbr, req, bufs)
	if merr != nil {
		return false
	}
	tbr := bufio.NewReader(bytes.NewReader(data))
	theirs, terr := http.ReadResponse(tbr, req)
	if terr != nil {
		t.Fatalf("parseResponse accepted what net/http refuses (%v): %q", terr, data)
	}
	type view struct {
		Status, Proto            string
		Code, Major, Minor       int
		Close                    bool
		ContentLength            int64
		TransferEncoding         []string
		Header                   http.Header
		SameRequest, NoBodyAlike bool
	}
	see := func(r *http.Response) view {
		h := r.Header
		if len(h) == 0 {
			h = nil
		}
		return view{r.Status, r.Proto, r.StatusCode, r.ProtoMajor, r.ProtoMinor, r.Close, r.ContentLength,
			r.TransferEncoding, h, r.Request == req, r.Body == http.NoBody}
	}
	if m, th := see(mine), see(theirs); !reflect.DeepEqual(m, th) {
		t.Fatalf("parseResponse and net/http differ on %q:\n mine %+v\n net/http %+v", data, m, th)
	}
	sameBodyAndRest(t, data, mine.Body, theirs.Body, mbr, tbr)
	return true
}

// TestParseResponseAsNetHTTP: the upstream's answers are read as net/http
// reads them, with fresh and with reused buffers.
func TestParseResponseAsNetHTTP(t *testing.T) {
	bufs := &respBuffers{}
	for i, s := range responseSeeds[:11] {
		for _, method := range []string{"POST", "HEAD"} {
			if !compareResponse(t, []byte(s), method, 4096, nil) || !compareResponse(t, []byte(s), method, 16, bufs) {
				t.Errorf("seed %d (%s): refused: %q", i, method, s)
			}
		}
	}
	for i, s := range responseSeeds[12:] {
		if _, err := parseResponse(bufio.NewReader(strings.NewReader(s)), &http.Request{Method: "GET"}, nil); err == nil {
			t.Errorf("seed %d: accepted %q", 12+i, s)
		}
	}
}

// FuzzParseResponse: whatever parseResponse accepts, net/http accepts and
// reads the same way.
func FuzzParseResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool, small uint8) {
		method, size := "POST", 4096
		if head {
			method = "HEAD"
		}
		if small%2 == 1 {
			size = 16
		}
		compareResponse(t, data, method, size, &respBuffers{})
	})
}
