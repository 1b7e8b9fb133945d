package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawUpstream is a fake upstream that writes answer to every connection,
// for answers net/http's server would not send.
func rawUpstream(t *testing.T, answer func(c net.Conn)) *url.URL {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				answer(c)
			}()
		}
	}()
	u, _ := url.Parse("http://" + l.Addr().String())
	return u
}

// TestEndless1xx: an upstream that sends informational answers without end
// is cut off (502), and none of them reaches the client.
func TestEndless1xx(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		for {
			if _, err := io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\nX-Echo: "+testKey+"\r\n\r\n"); err != nil {
				return
			}
		}
	})
	h := newHarness(t, nil, func(c *Config) { c.Upstream = up })
	c, br := h.rawConn()
	io.WriteString(c, "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:"+h.port+"\r\nAuthorization: Bearer "+h.token+"\r\n\r\n")
	resp, body := readResp(t, br, "GET") // a 1xx here would be returned as the answer
	wantError(t, resp, body, 502, "server_error", "upstream_unreachable")
}

// TestHugeResponseHeader: a header of 100 MB is cut off at the
// Transport's limit (1 MiB), not read whole.
func TestHugeResponseHeader(t *testing.T) {
	var sent sync.WaitGroup
	var wrote int64
	sent.Add(1)
	up := rawUpstream(t, func(c net.Conn) {
		defer sent.Done()
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: ")
		chunk := strings.Repeat("a", 64<<10)
		for wrote < 100<<20 {
			n, err := io.WriteString(c, chunk)
			wrote += int64(n)
			if err != nil {
				return
			}
		}
		io.WriteString(c, "\r\nContent-Length: 0\r\n\r\n")
	})
	h := newHarness(t, nil, func(c *Config) { c.Upstream = up })
	resp, body := h.do(h.req("GET", "/v1/models", ""))
	wantError(t, resp, body, 502, "server_error", "upstream_unreachable")
	sent.Wait()
	if wrote >= 100<<20 {
		t.Errorf("the proxy read the whole 100 MB header")
	}
}

// TestTLSOnPlainListener: a client that speaks TLS to the plain-HTTP
// listener (an https:// or wss:// base URL) fails at once, not after the
// server's header timeout.
func TestTLSOnPlainListener(t *testing.T) {
	notes := &lockedBuf{}
	h := newHarness(t, nil, func(c *Config) { c.Notice = log.New(notes, "", 0) })
	d := &net.Dialer{}
	conn, err := d.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // the server's header timeout is 30 s
	err = tls.Client(conn, &tls.Config{InsecureSkipVerify: true}).Handshake()
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("handshake: %v, want it refused at once", err)
	}
	if n := notes.String(); !strings.Contains(n, "okv proxy: refused a TLS handshake from 127.0.0.1:") || !strings.Contains(n, "use an http:// (or ws://) base URL") {
		t.Errorf("notice %q", n)
	}
	// A handshake record that holds no line end (a short ClientHello; the
	// one above is long enough to hold some 0x0a byte) is not taken for
	// the start of a request line either.
	raw, err := d.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	hello := append([]byte{0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03}, []byte(strings.Repeat("\x42", 64))...)
	if _, err := raw.Write(hello); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("after a TLS record on the plain listener: %v, want the connection closed at once", err)
	}
	// The listener still serves HTTP.
	if resp, body := h.do(h.req("GET", "/v1/models", "")); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}

// TestSmuggling: ambiguous framings (Content-Length with Transfer-Encoding,
// two Content-Lengths, an obs-folded header) each carry a hidden second
// request that a parser reading the framing another way would take for a
// request of its own: one with a forbidden model, one to a forbidden
// endpoint, one without the token. Whatever net/http's server makes of
// them, the upstream never receives a request that did not pass every
// check, nor a hidden one inside a forwarded body it would read as its own.
func TestSmuggling(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) {
		c.Limits.Models = []string{"gpt-4o-mini"}
		c.Limits.Endpoints = []string{"/v1/chat/completions", "/v1/models"}
	})
	host := "Host: 127.0.0.1:" + h.port + "\r\n"
	auth := "Authorization: Bearer " + h.token + "\r\n"
	forbiddenModel := `{"model":"gpt-4o"}`
	hidden := map[string]string{
		"forbidden model": "POST /v1/chat/completions?hidden=1 HTTP/1.1\r\n" + host + auth +
			"Content-Type: application/json\r\nContent-Length: " + itoa(len(forbiddenModel)) + "\r\n\r\n" + forbiddenModel,
		"forbidden endpoint": "GET /v1/files?hidden=1 HTTP/1.1\r\n" + host + auth + "\r\n",
		"no token":           "GET /v1/models?hidden=1 HTTP/1.1\r\n" + host + "\r\n",
	}
	outer := "POST /v1/chat/completions HTTP/1.1\r\n" + host + auth + "Content-Type: application/json\r\n"
	framings := map[string]func(hid string) string{
		"CL and TE": func(hid string) string {
			body := "0\r\n\r\n" + hid
			return outer + "Content-Length: " + itoa(len(body)) + "\r\nTransfer-Encoding: chunked\r\n\r\n" + body
		},
		"TE and CL": func(hid string) string {
			body := "0\r\n\r\n" + hid
			return outer + "Transfer-Encoding: chunked\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body
		},
		"two lengths": func(hid string) string {
			body := chatBody + hid
			return outer + "Content-Length: " + itoa(len(chatBody)) + "\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body
		},
		"two lengths, long first": func(hid string) string {
			body := chatBody + hid
			return outer + "Content-Length: " + itoa(len(body)) + "\r\nContent-Length: " + itoa(len(chatBody)) + "\r\n\r\n" + body
		},
		"obs-fold": func(hid string) string {
			body := chatBody + hid
			return outer + "Content-Length: " + itoa(len(chatBody)) + "\r\nX-Pad: x\r\n Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body
		},
		"obs-fold of TE": func(hid string) string {
			return outer + "Content-Length: " + itoa(len(chatBody)) + "\r\nX-Pad: x\r\n Transfer-Encoding: chunked\r\n\r\n" + chatBody + hid
		},
	}
	for fname, frame := range framings {
		for hname, hid := range hidden {
			t.Run(fname+"/"+hname, func(t *testing.T) {
				c, br := h.rawConn()
				// A last request closes the connection, so reading
				// answers ends.
				last := "GET /v1/models HTTP/1.1\r\n" + host + auth + "Connection: close\r\n\r\n"
				if _, err := io.WriteString(c, frame(hid)+last); err != nil {
					t.Fatal(err)
				}
				var got []int
				for {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						break
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					got = append(got, resp.StatusCode)
				}
				t.Logf("answers %v", got)
			})
		}
	}
	seen := h.up.requests()
	if len(seen) == 0 {
		t.Fatal("the upstream saw no request at all")
	}
	for _, s := range seen {
		what := s.Method + " " + s.Path + "?" + s.RawQuery
		if strings.Contains(s.RawQuery, "hidden") || strings.Contains(string(s.Body), "hidden=1") {
			t.Errorf("a hidden request reached the upstream: %s body %q", what, s.Body)
		}
		if s.Path != "/v1/chat/completions" && s.Path != "/v1/models" {
			t.Errorf("forbidden endpoint reached the upstream: %s", what)
		}
		if strings.Contains(string(s.Body), "gpt-4o\"") {
			t.Errorf("forbidden model reached the upstream: %s %s", what, s.Body)
		}
		if s.Header.Get("Authorization") != "Bearer "+testKey || len(s.Header["Content-Length"]) > 1 || len(s.Header["Transfer-Encoding"]) > 0 {
			t.Errorf("%s: headers %v", what, s.Header)
		}
	}
	// Every request the upstream saw is one the proxy admitted.
	if err := h.p.Shutdown(t.Context()); err != nil { // every handler done, every record written
		t.Fatal(err)
	}
	admitted := 0
	for _, r := range h.ledger.wait(0) {
		if r.Refused == "" {
			admitted++
		}
	}
	if admitted != len(seen) {
		t.Errorf("the proxy admitted %d requests, the upstream saw %d", admitted, len(seen))
	}
}

const envProxyHelper = "OKV_PROXY_ENV_HELPER"

// TestEnvProxy: with HTTPS_PROXY set, requests to an https upstream go
// through that proxy (CONNECT), after the same checks as without it. It
// runs in a child process, since net/http reads the variables once.
func TestEnvProxy(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestEnvProxyHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envProxyHelper+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestEnvProxyHelper") {
		t.Fatalf("helper: %v\n%s", err, out)
	}
}

func TestEnvProxyHelper(t *testing.T) {
	if os.Getenv(envProxyHelper) == "" {
		t.Skip("run by TestEnvProxy")
	}
	var seenMu sync.Mutex
	var seen []string
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenMu.Lock()
		seen = append(seen, r.Method+" "+r.Host+r.URL.Path+" "+r.Header.Get("Authorization"))
		seenMu.Unlock()
		chatJSON(w, 2, 3)
	}))
	up.EnableHTTP2 = true
	up.StartTLS()
	defer up.Close()
	// The forward proxy: CONNECT to any host reaches the fake upstream.
	var connects []string
	fwd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", 405)
			return
		}
		seenMu.Lock()
		connects = append(connects, r.Host)
		seenMu.Unlock()
		back, err := net.Dial("tcp", up.Listener.Addr().String())
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer back.Close()
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
		brw.Flush()
		go io.Copy(back, brw)
		io.Copy(c, back)
	}))
	defer fwd.Close()
	os.Setenv("HTTPS_PROXY", fwd.URL)
	os.Unsetenv("NO_PROXY")
	os.Unsetenv("no_proxy")

	tr := NewTransport()
	pool := x509.NewCertPool()
	pool.AddCert(up.Certificate())
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	_, port, _ := net.SplitHostPort(up.Listener.Addr().String())
	upURL, _ := url.Parse("https://api.example.com:" + port) // not loopback: NO_PROXY spares loopback
	h := newHarness(t, nil, func(c *Config) {
		c.Upstream, c.Transport = upURL, tr
		c.Limits.Models = []string{"gpt-4o-mini"}
	})
	if resp, body := h.post("/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	resp, body := h.post("/v1/chat/completions", `{"model":"gpt-4o"}`)
	wantError(t, resp, body, 403, "invalid_request_error", "model_not_allowed")
	r := h.req("GET", "/v1/models", "")
	r.Header.Set("Authorization", "Bearer okv-wrong")
	resp, body = h.do(r)
	wantError(t, resp, body, 401, "invalid_request_error", "invalid_api_key")
	seenMu.Lock()
	defer seenMu.Unlock()
	want := fmt.Sprintf("POST api.example.com:%s/v1/chat/completions Bearer %s", port, testKey)
	if len(seen) != 1 || seen[0] != want {
		t.Errorf("upstream saw %q, want only %q", seen, want)
	}
	if len(connects) != 1 || connects[0] != "api.example.com:"+port {
		t.Errorf("the forward proxy saw CONNECT %q", connects)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
