package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cannedTransport answers every request with the same chat completion,
// without a network: BenchmarkServe measures the proxy's own work.
type cannedTransport struct{}

const cannedCompletion = `{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"gpt-4o-mini",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":19,"completion_tokens":21,"total_tokens":40}}`

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}, "Content-Length": {"229"}},
		ContentLength: int64(len(cannedCompletion)), Body: io.NopCloser(strings.NewReader(cannedCompletion))}, nil
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

type nopLedger struct{}

func (nopLedger) Append(Record) error { return nil }

// BenchmarkServe is one chat completion through the checks, the header
// rewriting, the usage parsing and the record, with no network.
func BenchmarkServe(b *testing.B) {
	tok, _ := NewToken()
	p, err := New(Config{Profile: "bench", APIKey: testKey, Token: tok, Transport: cannedTransport{}, Ledger: nopLedger{}})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]}`)
	ci := connInfo{remoteOK: true, local: netip.MustParseAddrPort("127.0.0.1:8787")}
	b.ReportAllocs()
	for b.Loop() {
		r, _ := http.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(body))
		r.Host = "127.0.0.1:8787"
		r.RequestURI = "/v1/chat/completions"
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		p.serve(&discardWriter{h: http.Header{}}, r, ci, nil)
	}
	p.Wait()
}

// memConn is a net.Conn over memory: Read gives src's bytes a message at a
// time (one request or one response per call, as a peer that waits for
// each answer sends them), cycling n times; writes are dropped.
type memConn struct {
	msg  []byte
	n    int // messages left; < 0: endless
	rest []byte
}

func (c *memConn) Read(p []byte) (int, error) {
	if len(c.rest) == 0 {
		if c.n == 0 {
			return 0, io.EOF
		}
		if c.n > 0 {
			c.n--
		}
		c.rest = c.msg
	}
	k := copy(p, c.rest)
	c.rest = c.rest[k:]
	return k, nil
}

func (c *memConn) Write(b []byte) (int, error)        { return len(b), nil }
func (c *memConn) Close() error                       { return nil }
func (c *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8787} }
func (c *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

// BenchmarkConn is BenchmarkServe with everything the proxy does per
// request but the system calls: parsing the client's request, writing it
// upstream, parsing the upstream's answer, writing it to the client, and
// the usage record written to a file ledger. The requests are those of
// bench/proxy/loadgen, the answer that of bench/proxy/fakeupstream.
func BenchmarkConn(b *testing.B) {
	tok, _ := NewToken()
	ledger := &FileLedger{Path: filepath.Join(b.TempDir(), "usage.jsonl")}
	p, err := New(Config{Profile: "bench", APIKey: testKey, Token: tok, Ledger: ledger,
		Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:9"}})
	if err != nil {
		b.Fatal(err)
	}
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]}`
	req := "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8787\r\nUser-Agent: Go-http-client/1.1\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nAuthorization: Bearer " + tok +
		"\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\n\r\n" + body
	resp := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(cannedCompletion)) +
		"\r\nContent-Type: application/json\r\nDate: Fri, 27 Nov 2026 01:00:00 GMT\r\n\r\n" + cannedCompletion
	t := p.transport.(*upstreamTransport)
	up := &memConn{msg: []byte(resp), n: -1}
	t.put(&upConn{c: up, br: bufio.NewReaderSize(up, 16<<10), bw: bufio.NewWriterSize(up, 16<<10)})
	b.ReportAllocs()
	b.ResetTimer()
	cc := p.newClientConn(&memConn{msg: []byte(req), n: b.N})
	cc.serve()
	b.StopTimer()
	p.Wait()
}
