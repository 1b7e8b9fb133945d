package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawConn dials the harness's proxy for hand-written HTTP.
func (h *harness) rawConn() (net.Conn, *bufio.Reader) {
	h.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func readResp(t *testing.T, br *bufio.Reader, method string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestPipelinedRequestsOnOneConnection(t *testing.T) {
	h := newHarness(t, nil, nil)
	c, br := h.rawConn()
	req := "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" + h.port + "\r\nAuthorization: Bearer " + h.token +
		"\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(chatBody)) + "\r\n\r\n" + chatBody
	// Three requests in one write: each answered, in order, on the one connection.
	if _, err := io.WriteString(c, req+req+req); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		resp, body := readResp(t, br, "POST")
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"chat.completion"`)) || resp.Close {
			t.Fatalf("answer %d: status %d close %v body %q", i, resp.StatusCode, resp.Close, body)
		}
	}
	if n := len(h.ledger.wait(3)); n != 3 {
		t.Errorf("%d records", n)
	}
}

func TestExpectContinue(t *testing.T) {
	h := newHarness(t, nil, nil)
	c, br := h.rawConn()
	io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:"+h.port+"\r\nAuthorization: Bearer "+h.token+
		"\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: "+itoa(len(chatBody))+"\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, %v; want a 100 Continue before the body is sent", line, err)
	}
	if l, _ := br.ReadString('\n'); l != "\r\n" {
		t.Fatalf("after 100 Continue: %q", l)
	}
	io.WriteString(c, chatBody)
	if resp, body := readResp(t, br, "POST"); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if s := h.up.requests()[0]; s.Header.Get("Expect") != "" || string(s.Body) != chatBody {
		t.Errorf("upstream got Expect %q body %q", s.Header.Get("Expect"), s.Body)
	}
}

func TestMalformedRequests(t *testing.T) {
	h := newHarness(t, nil, nil)
	for name, c := range map[string]struct {
		req    string
		status int
	}{
		// net/http's limit: 1 MiB and 4 KiB of slack.
		"header over 1 MiB": {"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:" + h.port + "\r\nX-Big: " + strings.Repeat("a", 1<<20+4096) + "\r\n\r\n", 431},
		"not HTTP":          {"hello there\r\n\r\n", 400},
		"two Host headers":  {"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:" + h.port + "\r\nHost: evil.example\r\nAuthorization: Bearer " + h.token + "\r\n\r\n", 400},
		"two lengths":       {"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" + h.port + "\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400},
		"unknown Expect":    {"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" + h.port + "\r\nAuthorization: Bearer " + h.token + "\r\nExpect: magic\r\nContent-Length: 2\r\n\r\n{}", 417},
	} {
		t.Run(name, func(t *testing.T) {
			conn, br := h.rawConn()
			go io.WriteString(conn, c.req)
			resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
			if err != nil {
				t.Fatal(err)
			}
			// The body may be cut by a reset: the server closes with
			// the client's bytes unread.
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || !resp.Close {
				t.Fatalf("status %d close %v, want %d and close: %s", resp.StatusCode, resp.Close, c.status, body)
			}
		})
	}
	if n := len(h.up.requests()); n != 0 {
		t.Errorf("upstream saw %d requests", n)
	}
}

// TestHTTPSUpstream goes through the proxy's default transport over TLS, as
// requests to api.openai.com do: HTTP/2, one connection for sequential
// requests, and a certificate the system does not trust refused.
func TestHTTPSUpstream(t *testing.T) {
	var conns, h2 atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testKey || r.TLS == nil {
			http.Error(w, "no", 401)
			return
		}
		if r.ProtoMajor == 2 {
			h2.Add(1)
		}
		chatJSON(w, 3, 4)
	}))
	up.EnableHTTP2 = true
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.StartTLS()
	defer up.Close()
	tr := NewTransport()
	pool := x509.NewCertPool()
	pool.AddCert(up.Certificate())
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	h := newHarness(t, nil, func(c *Config) { c.Upstream, _ = url.Parse(up.URL); c.Transport = tr })
	for i := 0; i < 3; i++ {
		if resp, body := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
	if n := h2.Load(); n != 3 {
		t.Errorf("%d of 3 requests reached the upstream over HTTP/2", n)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("upstream saw %d connections for 3 sequential requests, want 1", n)
	}
	// A certificate the system does not trust is refused.
	h = newHarness(t, nil, func(c *Config) { c.Upstream, _ = url.Parse(up.URL) })
	resp, body := h.post("/v1/chat/completions", chatBody)
	wantError(t, resp, body, 502, "server_error", "upstream_unreachable")
}

// TestUpstreamClosedIdleConnection: a kept-alive upstream connection that
// the upstream closed while it idled is noticed when it is taken, and a
// fresh one used, without the client noticing.
func TestUpstreamClosedIdleConnection(t *testing.T) {
	h := newHarness(t, nil, nil)
	if resp, _ := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	h.up.srv.CloseClientConnections()
	time.Sleep(20 * time.Millisecond)
	resp, body := h.post("/v1/chat/completions", chatBody)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if n := len(h.up.requests()); n != 2 {
		t.Errorf("upstream saw %d requests, want 2", n)
	}
}

// TestCancelAfterQuickRequests: on a kept-alive connection whose quick
// requests came and went, a slow request is still cancelled upstream when
// the client leaves.
func TestCancelAfterQuickRequests(t *testing.T) {
	slow := make(chan struct{})
	canceled := make(chan struct{})
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("slow") == "" {
			io.WriteString(w, `{"object":"list","data":[]}`)
			return
		}
		close(slow)
		<-r.Context().Done()
		close(canceled)
	}, nil)
	c, br := h.rawConn()
	get := func(q string) string {
		return "GET /v1/models" + q + " HTTP/1.1\r\nHost: 127.0.0.1:" + h.port + "\r\nAuthorization: Bearer " + h.token + "\r\n\r\n"
	}
	for i := 0; i < 5; i++ {
		io.WriteString(c, get(""))
		if resp, _ := readResp(t, br, "GET"); resp.StatusCode != 200 {
			t.Fatalf("quick request %d: status %d", i, resp.StatusCode)
		}
		time.Sleep(5 * time.Millisecond)
	}
	io.WriteString(c, get("?slow=1"))
	<-slow
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not canceled when the client left")
	}
	if rec := h.ledger.wait(6)[5]; rec.Status != 499 {
		t.Errorf("slow request recorded with status %d, want 499", rec.Status)
	}
}

// TestOneContentLengthUpstream: the upstream gets the proxy's own framing
// only, not the client's Content-Length besides it ("023" and "23" would
// be two different lengths to it).
func TestOneContentLengthUpstream(t *testing.T) {
	h := newHarness(t, nil, nil)
	c, br := h.rawConn()
	io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:"+h.port+"\r\nAuthorization: Bearer "+h.token+
		"\r\nContent-Type: application/json\r\nContent-Length: 0"+itoa(len(chatBody))+"\r\n\r\n"+chatBody)
	if resp, body := readResp(t, br, "POST"); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}

// TestForeignTransportBodyRace: http.Transport can go on reading a request
// body after the upstream answered without it. The rest of that body and
// the next request on the connection must still be read by the server
// alone: the connection is kept, the next request reaches the upstream
// whole (and -race sees no race).
func TestForeignTransportBodyRace(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	chats := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if req.URL.Path == "/v1/files" { // answers at once, never reads the body
						io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
						time.Sleep(100 * time.Millisecond)
						return
					}
					b, _ := io.ReadAll(req.Body)
					chats <- string(b)
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
				}
			}(c)
		}
	}()
	up, _ := url.Parse("http://" + l.Addr().String())
	h := newHarness(t, nil, func(c *Config) { c.Upstream = up; c.Transport = &http.Transport{} })
	c, br := h.rawConn()
	const size = 20000
	// The first request's body goes out in pieces, the second request
	// right after it; the upstream answers the first before its body.
	go func() {
		io.WriteString(c, "POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1:"+h.port+"\r\nAuthorization: Bearer "+h.token+
			"\r\nContent-Type: application/octet-stream\r\nContent-Length: "+itoa(size)+"\r\n\r\n"+strings.Repeat("A", 10))
		sent := 10
		for ; sent+999 < size; sent += 999 {
			io.WriteString(c, strings.Repeat("B", 999))
			time.Sleep(100 * time.Microsecond)
		}
		io.WriteString(c, strings.Repeat("B", size-sent)+
			"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:"+h.port+"\r\nAuthorization: Bearer "+h.token+
			"\r\nContent-Type: application/json\r\nContent-Length: "+itoa(len(chatBody))+"\r\n\r\n"+chatBody)
	}()
	if resp, _ := readResp(t, br, "POST"); resp.StatusCode != 401 || resp.Close {
		t.Fatalf("first answer %d (close %v), want the upstream's 401 on a kept connection", resp.StatusCode, resp.Close)
	}
	resp, body := readResp(t, br, "POST")
	if resp.StatusCode != 200 {
		t.Fatalf("second answer %d %s", resp.StatusCode, body)
	}
	select {
	case got := <-chats:
		if got != chatBody {
			t.Fatalf("the upstream got the second body %q, want %q", got, chatBody)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second request never reached the upstream")
	}
}

// TestRetryOnlyIdempotent: when a kept-alive upstream connection fails
// after the request went out and before any byte of an answer, only a
// request that may run twice is sent again (as http.Transport does): a
// GET, or a POST with an Idempotency-Key; a plain POST gets 502, since the
// upstream may have run it and would charge it twice.
func TestRetryOnlyIdempotent(t *testing.T) {
	for _, c := range []struct {
		name, method, path, key string
		retried                 bool
	}{
		{"GET", "GET", "/v1/models", "", true},
		{"POST", "POST", "/v1/chat/completions", "", false},
		{"POST with Idempotency-Key", "POST", "/v1/chat/completions", "k-1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int32
			h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 2 { // the second request: taken, then the connection drops
					conn, _, _ := w.(http.Hijacker).Hijack()
					conn.Close()
					return
				}
				chatJSON(w, 1, 1)
			}, nil)
			send := func() *http.Response {
				body := ""
				if c.method == "POST" {
					body = chatBody
				}
				r := h.req(c.method, c.path, body)
				if c.key != "" {
					r.Header.Set("Idempotency-Key", c.key)
				}
				resp, err := h.client.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp
			}
			send() // leaves a kept-alive upstream connection
			resp := send()
			seen := len(h.up.requests())
			if c.retried && (resp.StatusCode != 200 || seen != 3) {
				t.Errorf("status %d, upstream saw %d requests; want 200 after a retry (3)", resp.StatusCode, seen)
			}
			if !c.retried && (resp.StatusCode != 502 || seen != 2) {
				t.Errorf("status %d, upstream saw %d requests; want 502 and no retry (2)", resp.StatusCode, seen)
			}
		})
	}
}

// writeCounter counts the writes to the connections it dials.
type writeCounter struct {
	mu     sync.Mutex
	writes []int // bytes per write, in order
}

type countedConn struct {
	net.Conn
	c *writeCounter
}

func (c countedConn) Write(b []byte) (int, error) {
	c.c.mu.Lock()
	c.c.writes = append(c.c.writes, len(b))
	c.c.mu.Unlock()
	return c.Conn.Write(b)
}

// A JSON body the proxy has read (to check its model) goes upstream in
// one write with the request's headers: ReverseProxy's own wrapper of
// the body would have the Transport flush the headers first, a second
// packet and a second read for the upstream on every request.
func TestReadBodyLeavesInOneWrite(t *testing.T) {
	wc := &writeCounter{}
	h := newHarness(t, nil, func(c *Config) {
		tr := NewTransport()
		d := &net.Dialer{}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countedConn{conn, wc}, nil
		}
		c.Transport = tr
	})
	for range 2 {
		wc.mu.Lock()
		wc.writes = nil
		wc.mu.Unlock()
		resp, body := h.post("/v1/chat/completions", chatBody)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		wc.mu.Lock()
		writes := append([]int(nil), wc.writes...)
		wc.mu.Unlock()
		if len(writes) != 1 || writes[0] <= len(chatBody) {
			t.Fatalf("the request went upstream in writes of %v bytes, want one write of headers and body", writes)
		}
	}
	if got := h.up.requests(); len(got) != 2 || string(got[1].Body) != chatBody {
		t.Fatalf("upstream saw %+v", got)
	}
}
