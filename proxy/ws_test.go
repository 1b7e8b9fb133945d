package proxy

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// wsFrame builds one WebSocket frame (RFC 6455 5.2), masked as a client
// must mask.
func wsFrame(fin bool, op byte, payload []byte, mask bool) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		f = append(f, m|byte(n))
	case n < 1<<16:
		f = append(f, m|126, byte(n>>8), byte(n))
	default:
		f = append(f, m|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	p := append([]byte(nil), payload...)
	if mask {
		k := [4]byte{1, 2, 3, 4}
		f = append(f, k[:]...)
		for i := range p {
			p[i] ^= k[i%4]
		}
	}
	return append(f, p...)
}

// readFrame reads one frame, unmasking it.
func readFrame(t *testing.T, br *bufio.Reader) (fin bool, op byte, payload []byte) {
	t.Helper()
	fin, op, payload, err := readFrameErr(br)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return fin, op, payload
}

func readFrameErr(br *bufio.Reader) (fin bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return false, 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		io.ReadFull(br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		io.ReadFull(br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	var k [4]byte
	if h[1]&0x80 != 0 {
		io.ReadFull(br, k[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return false, 0, nil, err
	}
	if h[1]&0x80 != 0 {
		for i := range payload {
			payload[i] ^= k[i%4]
		}
	}
	return h[0]&0x80 != 0, h[0] & 0x0f, payload, nil
}

// realtimeUpstream is a fake of OpenAI's Realtime API over WebSocket (the
// documented server events session.created and response.done, whose
// response.usage has input_tokens, output_tokens and total_tokens). For
// each client message it answers: "response.create" with a response.done
// of 3000 tokens; "leak" with the key split over two frames of one text
// message. ext, when set, is sent as Sec-WebSocket-Extensions.
type realtimeUpstream struct {
	srv     *httptest.Server
	mu      sync.Mutex
	gotExts []string
	gotAuth []string
}

func newRealtimeUpstream(t *testing.T, ext string) *realtimeUpstream {
	u := &realtimeUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.gotExts = append(u.gotExts, r.Header.Values("Sec-Websocket-Extensions")...)
		u.gotAuth = append(u.gotAuth, r.Header.Get("Authorization"))
		u.mu.Unlock()
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", 400)
			return
		}
		sum := sha1.Sum([]byte(r.Header.Get("Sec-Websocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			base64.StdEncoding.EncodeToString(sum[:]) + "\r\n")
		if ext != "" {
			brw.WriteString("Sec-WebSocket-Extensions: " + ext + "\r\n")
		}
		brw.WriteString("\r\n")
		brw.Write(wsFrame(true, 1, []byte(`{"type":"session.created","event_id":"event_1","session":{"id":"sess_1","model":"gpt-realtime"}}`), false))
		brw.Flush()
		for {
			_, op, msg, err := readFrameErr(brw.Reader)
			if err != nil || op == 8 {
				return
			}
			var out []byte
			switch {
			case strings.Contains(string(msg), "response.create"):
				out = wsFrame(true, 1, []byte(`{"type":"response.done","event_id":"event_2","response":{"id":"resp_1","object":"realtime.response","status":"completed",`+
					`"usage":{"total_tokens":3000,"input_tokens":1000,"output_tokens":2000,"input_token_details":{"text_tokens":1000,"audio_tokens":0},"output_token_details":{"text_tokens":2000,"audio_tokens":0}}}}`), false)
			case strings.Contains(string(msg), "leak"):
				half := len(testKey) / 2
				out = append(wsFrame(false, 1, []byte(`{"type":"error","error":{"message":"key `+testKey[:half]), false),
					wsFrame(true, 0, []byte(testKey[half:]+`"}}`), false)...)
			}
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func dialRealtime(t *testing.T, h *harness, ext string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, br := h.rawConn()
	req := "GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: 127.0.0.1:" + h.port + "\r\nAuthorization: Bearer " + h.token +
		"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	if ext != "" {
		req += "Sec-WebSocket-Extensions: " + ext + "\r\n"
	}
	io.WriteString(c, req+"\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	return c, br, resp
}

// Realtime over WebSocket: each response.done's usage is counted, the key
// split over two frames of a message is scrubbed, and the client's offer
// of permessage-deflate never reaches the upstream.
func TestRealtimeWebSocket(t *testing.T) {
	up := newRealtimeUpstream(t, "")
	h := newHarness(t, nil, func(c *Config) { c.Upstream, _ = url.Parse(up.srv.URL) })
	c, br, resp := dialRealtime(t, h, "permessage-deflate; client_max_window_bits")
	if resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Extensions") != "" {
		t.Fatalf("status %d, extensions %q", resp.StatusCode, resp.Header.Get("Sec-Websocket-Extensions"))
	}
	if _, _, msg := readFrame(t, br); !strings.Contains(string(msg), "session.created") {
		t.Fatalf("first event %s", msg)
	}
	for range 3 {
		c.Write(wsFrame(true, 1, []byte(`{"type":"response.create"}`), true))
		if _, _, msg := readFrame(t, br); !strings.Contains(string(msg), "response.done") {
			t.Fatalf("event %s", msg)
		}
	}
	c.Write(wsFrame(true, 1, []byte(`{"type":"leak"}`), true))
	var msg []byte
	for {
		fin, _, p := readFrame(t, br)
		msg = append(msg, p...)
		if fin {
			break
		}
	}
	if strings.Contains(string(msg), testKey) || !strings.Contains(string(msg), "[okv:redacted]") {
		t.Errorf("the key split over two frames reached the client: %s", msg)
	}
	c.Write(wsFrame(true, 8, []byte{0x03, 0xe8}, true))
	c.Close()
	rec := h.ledger.wait(1)[0]
	if rec.Status != 101 || rec.TotalTokens != 9000 || rec.PromptTokens != 3000 || rec.CompletionTokens != 6000 {
		t.Errorf("record %+v", rec)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.gotAuth) != 1 || up.gotAuth[0] != "Bearer "+testKey {
		t.Errorf("upstream Authorization %q", up.gotAuth)
	}
	if len(up.gotExts) != 0 {
		t.Errorf("upstream received Sec-WebSocket-Extensions %q", up.gotExts)
	}
}

// An upstream that negotiates permessage-deflate anyway is refused: its
// frames could not be scrubbed.
func TestRealtimeCompressionRefused(t *testing.T) {
	up := newRealtimeUpstream(t, "permessage-deflate")
	h := newHarness(t, nil, func(c *Config) { c.Upstream, _ = url.Parse(up.srv.URL) })
	_, _, resp := dialRealtime(t, h, "")
	if resp.StatusCode != 502 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// The daily budget holds inside one WebSocket: once a response.done
// spends it, the tunnel ends with a close frame (1008).
func TestRealtimeBudgetEndsTunnel(t *testing.T) {
	up := newRealtimeUpstream(t, "")
	h := newHarness(t, nil, func(c *Config) {
		c.Upstream, _ = url.Parse(up.srv.URL)
		c.Limits.DailyTokens = 5000
	})
	c, br, resp := dialRealtime(t, h, "")
	if resp.StatusCode != 101 {
		t.Fatal(resp.StatusCode)
	}
	readFrame(t, br) // session.created
	c.Write(wsFrame(true, 1, []byte(`{"type":"response.create"}`), true))
	readFrame(t, br) // 3000 tokens: under the budget
	c.Write(wsFrame(true, 1, []byte(`{"type":"response.create"}`), true))
	readFrame(t, br) // 6000: spent
	_, op, p := readFrame(t, br)
	if op != 8 || len(p) < 2 || binary.BigEndian.Uint16(p) != 1008 || !strings.Contains(string(p), "budget") {
		t.Fatalf("frame op %d %q, want a close frame 1008", op, p)
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("after close: %q", rest)
	}
	if rec := h.ledger.wait(1)[0]; rec.TotalTokens != 6000 {
		t.Errorf("record %+v", rec)
	}
	// And the next connection is refused at admission.
	_, _, resp = dialRealtime(t, h, "")
	if resp.StatusCode != 429 {
		t.Errorf("next upgrade: %d", resp.StatusCode)
	}
}

// A Realtime tunnel's spend counts for other okv processes of the vault
// while it runs: its hold grows with each response.done.
func TestRealtimeSpendSharedWhileOpen(t *testing.T) {
	up := newRealtimeUpstream(t, "")
	dir := t.TempDir()
	h := newHarness(t, nil, func(c *Config) {
		c.Upstream, _ = url.Parse(up.srv.URL)
		c.Limits.DailyTokens = 20000
		c.Ledger = &FileLedger{Dir: dir, Now: c.Now}
	})
	c, br, resp := dialRealtime(t, h, "")
	if resp.StatusCode != 101 {
		t.Fatal(resp.StatusCode)
	}
	readFrame(t, br) // session.created
	for range 6 {    // 18,000 tokens, the tunnel still open
		c.Write(wsFrame(true, 1, []byte(`{"type":"response.create"}`), true))
		readFrame(t, br)
	}
	// Another okv process of the vault: its request (holding some 4,170)
	// does not fit beside the tunnel's 18,000.
	other := newHarness(t, nil, func(cfg *Config) {
		cfg.Limits.DailyTokens = 20000
		cfg.Ledger = &FileLedger{Dir: dir, Now: h.clock.Now}
		cfg.Now = h.clock.Now
	})
	resp2, body := other.post("/v1/chat/completions", chatBody)
	wantError(t, resp2, body, 429, "tokens", "rate_limit_exceeded")
	if !strings.Contains(string(body), "18000 held") {
		t.Errorf("refusal %s", body)
	}
	c.Close()
}
