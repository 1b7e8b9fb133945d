package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// An upstream may answer before it has read the whole request body: an
// event stream that starts while a file is still uploading, or an early
// error. net/http's HTTP/1 server, by default, takes over what is left of
// the client's body when the handler starts its answer (it reads up to
// 256 KiB of it to keep the connection, or gives up on it), so the body
// okv streams upstream (anything the model check need not read: uploads)
// loses its tail and the Transport tears the upstream connection down,
// cutting the answer. okv enables full duplex for a streamed body: the
// upstream gets the whole body and the client the whole answer. (The same
// hook cuts a stream whose upstream answers just as the body ends, a race
// that this test makes certain by answering early.)
func TestStreamedBodyWithEarlyAnswer(t *testing.T) {
	const size = 64 << 10 // under 256 KiB: the server would read it away
	got := make(chan int, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Full duplex on this side too: the fake answers, then reads.
		http.NewResponseController(w).EnableFullDuplex()
		head := make([]byte, 1024)
		if _, err := io.ReadFull(r.Body, head); err != nil {
			t.Errorf("upstream: reading the first KiB: %v", err)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"started\":true}\n\n")
		w.(http.Flusher).Flush()
		rest, err := io.ReadAll(r.Body)
		n := len(head) + len(rest)
		got <- n
		if err != nil {
			t.Errorf("upstream: reading the rest of the body: %v (after %d bytes)", err, n)
		}
		fmt.Fprintf(w, "data: {\"bytes\":%d}\n\ndata: [DONE]\n\n", n)
	}))
	defer up.Close()
	h := newHarness(t, nil, func(c *Config) {
		u, err := url.Parse(up.URL)
		if err != nil {
			t.Fatal(err)
		}
		c.Upstream = u
	})
	body := bytes.Repeat([]byte("x"), size)
	for i := 0; i < 5; i++ {
		r, err := http.NewRequest("POST", h.base+"/v1/audio/transcriptions", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+h.token)
		r.Header.Set("Content-Type", "application/octet-stream")
		resp, err := h.client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var events []string
		done := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if l := sc.Text(); strings.HasPrefix(l, "data: ") {
					events = append(events, l)
				}
			}
			done <- sc.Err()
		}()
		select {
		case err := <-done:
			resp.Body.Close()
			want := []string{`data: {"started":true}`, fmt.Sprintf(`data: {"bytes":%d}`, size), "data: [DONE]"}
			if strings.Join(events, "\n") != strings.Join(want, "\n") || err != nil {
				t.Fatalf("request %d: the client got %q (read error %v), want %q", i, events, err, want)
			}
		case <-time.After(10 * time.Second):
			resp.Body.Close()
			t.Fatalf("request %d: the stream never ended (got %q)", i, events)
		}
		if n := <-got; n != size {
			t.Fatalf("request %d: the upstream got %d of the body's %d bytes", i, n, size)
		}
	}
}

// A streamed upload sent with Expect: 100-continue (curl does so past
// 1 MiB) in full duplex: the client gets its 100 Continue, the upstream
// the whole body, and the connection serves the next request.
func TestStreamedBodyExpectContinue(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) { chatJSON(w, 3, 4) }, nil)
	c, br := h.rawConn()
	body := strings.Repeat("u", 3000)
	io.WriteString(c, "POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1:"+h.port+"\r\nAuthorization: Bearer "+h.token+
		"\r\nContent-Type: application/octet-stream\r\nExpect: 100-continue\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n")
	if line, err := br.ReadString('\n'); err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, %v; want a 100 Continue before the body is sent", line, err)
	}
	if l, _ := br.ReadString('\n'); l != "\r\n" {
		t.Fatalf("after 100 Continue: %q", l)
	}
	io.WriteString(c, body)
	if resp, b := readResp(t, br, "POST"); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:"+h.port+"\r\nAuthorization: Bearer "+h.token+
		"\r\nContent-Type: application/json\r\nContent-Length: "+itoa(len(chatBody))+"\r\n\r\n"+chatBody)
	if resp, b := readResp(t, br, "POST"); resp.StatusCode != 200 {
		t.Fatalf("the next request on the connection: status %d: %s", resp.StatusCode, b)
	}
	seen := h.up.requests()
	if len(seen) != 2 || string(seen[0].Body) != body || string(seen[1].Body) != chatBody {
		t.Fatalf("the upstream got %d requests, want the upload whole and the chat", len(seen))
	}
}
