package proxy

import (
	"bytes"
	"compress/zlib"
	"net/http"
	"strings"
	"testing"
)

func zlibbed(s string) []byte {
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

// An upstream that compresses an answer unasked, the key inside (an
// error echoing the request): deflate is decoded and scrubbed, codings
// the standard library cannot decode are refused (502), never passed on.
func TestUnaskedContentEncodings(t *testing.T) {
	js := `{"error":{"message":"bad key ` + testKey + `"},"usage":{"prompt_tokens":3,"total_tokens":3}}`
	for _, c := range []struct {
		enc    string
		body   []byte
		status int
	}{
		{"deflate", zlibbed(js), 200},
		{"gzip", gzipped(js), 200},
		{"br", []byte("\x1b\x2f\x00\xf8..." + testKey), 502},
		{"zstd", []byte("\x28\xb5\x2f\xfd..." + testKey), 502},
		{"gzip, deflate", zlibbed(string(gzipped(js))), 502},
	} {
		h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", c.enc)
			w.Write(c.body)
		}, func(cfg *Config) { cfg.Transport = &http.Transport{DisableCompression: true} })
		resp, body := h.post("/v1/embeddings", `{"model":"text-embedding-3-small","input":"x"}`)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.enc, resp.StatusCode, c.status)
		}
		if bytes.Contains(body, []byte(testKey)) || strings.Contains(resp.Header.Get("Content-Encoding"), c.enc) {
			t.Errorf("%s: passed on: encoding %q body %q", c.enc, resp.Header.Get("Content-Encoding"), body)
		}
		if c.status == 502 {
			wantError(t, resp, body, 502, "server_error", "upstream_unreadable")
			continue
		}
		if !bytes.Contains(body, []byte("[okv:redacted]")) {
			t.Errorf("%s: body %q", c.enc, body)
		}
		if rec := h.ledger.wait(1)[0]; rec.TotalTokens != 3 {
			t.Errorf("%s: record %+v", c.enc, rec)
		}
	}
}
