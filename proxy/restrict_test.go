package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// Under a models restriction, a body the proxy cannot read a model from is
// refused, never forwarded unchecked.
func TestModelRestrictionFailsClosed(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached upstream: %s %s", r.Method, r.URL.Path)
	}, func(c *Config) { c.Limits.Models = []string{"gpt-4o-mini"} })
	for _, tc := range []struct{ ctype, body string }{
		{"text/plain", "\xef\xbb\xbf{\"model\":\"gpt-4\"}"},
		{"", "\xef\xbb\xbf{\"model\":\"gpt-4\"}"},
		{"application/octet-stream", "model=gpt-4"},
	} {
		r := h.req("POST", "/v1/chat/completions", "")
		r.Body = http.NoBody
		r2, _ := http.NewRequest("POST", h.base+"/v1/chat/completions", strings.NewReader(tc.body))
		r2.Header = r.Header.Clone()
		if tc.ctype != "" {
			r2.Header.Set("Content-Type", tc.ctype)
		}
		resp, body := h.do(r2)
		if resp.StatusCode != 400 && resp.StatusCode != 403 {
			t.Errorf("%q body %q: status %d, want a refusal; %s", tc.ctype, tc.body, resp.StatusCode, body)
		}
	}
}
