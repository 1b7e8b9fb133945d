package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// An upstream that echoes the Authorization header back (in a header, in
// a JSON error, split across streamed chunks) must not hand the real key
// to the client.
func TestUpstreamEchoOfKeyIsScrubbed(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("X-Echo-Auth", auth)
		if r.URL.Path == "/v1/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			fl := w.(http.Flusher)
			// The key cut in three pieces across flushes.
			for _, part := range []string{"data: {\"echo\":\"" + auth[:12], auth[12:30], auth[30:] + "\"}\n\n"} {
				io.WriteString(w, part)
				fl.Flush()
			}
			return
		}
		body := fmt.Sprintf(`{"error":{"message":"bad header %s","type":"invalid_request_error"}}`, auth)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(401)
		io.WriteString(w, body)
	}, nil)

	resp, body := h.post("/v1/chat/completions", `{"model":"gpt-4o-mini"}`)
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, got := range []string{resp.Header.Get("X-Echo-Auth"), string(body)} {
		if strings.Contains(got, testKey) || strings.Contains(got, testKey[8:20]) {
			t.Errorf("the real key reached the client: %q", got)
		}
	}
	if !strings.Contains(string(body), "[okv:redacted]") {
		t.Errorf("no redaction marker in %q", body)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d for a %d-byte body", resp.ContentLength, len(body))
	}

	resp, body = h.post("/v1/stream", `{"model":"gpt-4o-mini"}`)
	if bytes.Contains(body, []byte(testKey)) || bytes.Contains(body, []byte(testKey[12:30])) {
		t.Errorf("the real key reached the client in a stream: %q", body)
	}
	if !bytes.HasPrefix(body, []byte("data: {\"echo\":\"Bearer [okv:redacted]")) {
		t.Errorf("stream body %q", body)
	}
}

// scrubBody passes text without the key through unchanged, whatever the
// read sizes.
func TestScrubBodyIdentity(t *testing.T) {
	in := strings.Repeat("data: sk-proj- partial s sk sk-p words\n\n", 200)
	for _, size := range []int{1, 3, 7, 64, 4096} {
		r := newScrubBody(io.NopCloser(strings.NewReader(in)), []byte(testKey))
		var out bytes.Buffer
		buf := make([]byte, size)
		for {
			n, err := r.Read(buf)
			out.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if out.String() != in {
			t.Fatalf("read size %d: output differs from input", size)
		}
	}
}

// chunkReader returns its chunks one Read at a time, as an upstream's
// flushes arrive.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// scrubBody replaces the key however the upstream's reads cut it, in a
// caller's large buffer (scrubbed in place, ReverseProxy's case) and in
// small ones, and holds nothing back at the end.
func TestScrubBodySplitKey(t *testing.T) {
	mark := string(keyMarker(len(testKey)))
	in := "a " + testKey + " b sk-proj- " + testKey + testKey + " sk-pro"
	want := strings.ReplaceAll(in, testKey, mark)
	for cut := 0; cut <= len(in); cut++ {
		for _, cut2 := range []int{cut, min(cut+7, len(in)), min(cut+len(testKey), len(in))} {
			for _, size := range []int{1, 5, 2*len(testKey) - 1, 2 * len(testKey), 32 << 10} {
				r := newScrubBody(io.NopCloser(&chunkReader{[]string{in[:cut], in[cut:cut2], in[cut2:]}}), []byte(testKey))
				var out bytes.Buffer
				buf := make([]byte, size)
				for {
					n, err := r.Read(buf)
					out.Write(buf[:n])
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						t.Fatalf("cut %d/%d size %d: a Read returned nothing and no error", cut, cut2, size)
					}
				}
				if out.String() != want {
					t.Fatalf("cut %d/%d, read size %d:\n got %q\nwant %q", cut, cut2, size, out.String(), want)
				}
			}
		}
	}
}

// TestKeyMarkerLength holds keyMarker to the length asked for while other
// goroutines ask for other lengths: a shorter marker would leave the end
// of the key in the response.
func TestKeyMarkerLength(t *testing.T) {
	var wg sync.WaitGroup
	bad := make(chan int, 1)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 20 + g*7
			for range 20000 {
				if m := keyMarker(n); len(m) != n {
					select {
					case bad <- len(m):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case got := <-bad:
		t.Fatalf("keyMarker gave a marker of %d bytes for another length", got)
	default:
	}
}

// A long key (a token of some kilobytes) is scrubbed from a body like a
// short one, also split across reads: no length lets it through.
func TestLongKeyIsScrubbed(t *testing.T) {
	key := strings.Repeat("k", 5000) + "-end"
	in := `{"error":"bad key ` + key + `"}`
	cut := len(in) / 2
	r := newScrubBody(io.NopCloser(&chunkReader{[]string{in[:cut], in[cut:]}}), []byte(key))
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) || strings.Contains(string(got), key) || strings.Contains(string(got), "-end") {
		t.Errorf("the long key was not scrubbed (%d bytes of %d)", len(got), len(in))
	}
}
