package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const testKey = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789T3BlbkFJ"

func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func TestVerifyStatuses(t *testing.T) {
	var gotAuth, gotPath string
	answer := func(status int, hdr map[string]string, body string) *httptest.Server {
		return server(t, func(w http.ResponseWriter, r *http.Request) {
			gotAuth, gotPath = r.Header.Get("Authorization"), r.URL.Path
			for k, v := range hdr {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		})
	}
	errBody := func(msg, typ, code string) string {
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}})
		return string(b)
	}
	cases := []struct {
		name   string
		srv    *httptest.Server
		kind   error
		substr string
	}{
		{"ok", answer(200, nil, `{"object":"list","data":[]}`), nil, ""},
		{"401", answer(401, nil, errBody("Incorrect API key provided: "+testKey+".", "invalid_request_error", "invalid_api_key")), ErrUnauthorized, "rejected the key (401 Unauthorized, invalid_api_key): Incorrect API key provided: [key]."},
		{"403", answer(403, nil, errBody("Missing scopes: api.model.read", "invalid_request_error", "")), ErrForbidden, "the key may not do this (403 Forbidden): Missing scopes"},
		{"429", answer(429, map[string]string{"Retry-After": "7"}, errBody("Rate limit reached", "requests", "rate_limit_exceeded")), ErrRateLimited, "rate-limited the request (429 Too Many Requests, rate_limit_exceeded); retry after 7s"},
		{"quota", answer(429, nil, errBody("You exceeded your current quota", "insufficient_quota", "insufficient_quota")), ErrQuotaExceeded, "no quota left"},
		{"500", answer(500, nil, "oops"), ErrServer, "failed to answer GET /v1/models (500 Internal Server Error)"},
		{"html 200", answer(200, nil, "<html>captive portal</html>"), nil, "not the JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(context.Background(), c.srv.URL, testKey)
			if gotAuth != "Bearer "+testKey || gotPath != "/v1/models" {
				t.Errorf("request: auth ok %v, path %q", gotAuth == "Bearer "+testKey, gotPath)
			}
			if c.substr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Verify succeeded")
			}
			if c.kind != nil && !errors.Is(err, c.kind) {
				t.Errorf("error %v is not %v", err, c.kind)
			}
			if !strings.Contains(err.Error(), c.substr) {
				t.Errorf("error %q lacks %q", err, c.substr)
			}
			if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), testKey[8:30]) {
				t.Errorf("error holds the key: %v", err)
			}
		})
	}
}

func TestVerifyNetwork(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = Verify(context.Background(), "http://"+addr, testKey)
	var ne *NetworkError
	if !errors.As(err, &ne) || ne.Reason != "connection refused" {
		t.Fatalf("closed port: %v", err)
	}

	slow := server(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = Verify(ctx, slow.URL, testKey)
	if !errors.As(err, &ne) || ne.Reason != "timed out" {
		t.Fatalf("slow server: %v", err)
	}
}

func TestNoRedirect(t *testing.T) {
	var leaked bool
	other := server(t, func(w http.ResponseWriter, r *http.Request) { leaked = r.Header.Get("Authorization") != "" })
	s := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/v1/models", http.StatusFound)
	})
	if err := Verify(context.Background(), s.URL, testKey); err == nil {
		t.Fatal("a redirect counted as success")
	}
	if leaked {
		t.Fatal("the key followed a redirect")
	}
}

func TestBaseURL(t *testing.T) {
	for _, c := range []struct{ base, want string }{
		{"", "https://api.openai.com/v1/models"},
		{"https://api.openai.com/", "https://api.openai.com/v1/models"},
		{"https://gw.example.com/openai/v1", "https://gw.example.com/openai/v1/models"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/v1/models"},
		{"http://localhost:8080/v1/", "http://localhost:8080/v1/models"},
	} {
		u, err := (&Client{BaseURL: c.base}).endpoint("/v1/models", nil)
		if err != nil || u.String() != c.want {
			t.Errorf("%q: %v %v, want %s", c.base, u, err, c.want)
		}
	}
	for _, bad := range []string{"http://api.openai.com", "ftp://x", "https://u:p@host", "https://host/?q=1", "api.openai.com"} {
		_, err := ParseBaseURL(bad)
		var be *BaseURLError
		if !errors.As(err, &be) {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "u:p") {
			t.Errorf("credentials in error: %v", err)
		}
	}
}

func TestScrub(t *testing.T) {
	msg := scrub("bad key "+testKey+" and sk-admin-abcdefghijklmnop and sess-1234567890", "")
	for _, bad := range []string{"AbCdEf", "abcdefgh", "1234567890"} {
		if strings.Contains(msg, bad) {
			t.Errorf("scrub left %q in %q", bad, msg)
		}
	}
	if got := scrub(strings.Repeat("x", 1000), ""); len(got) > 240 {
		t.Errorf("scrub kept %d bytes", len(got))
	}
}

func TestSecretFormatting(t *testing.T) {
	sa := ServiceAccount{ID: "svc_1", APIKey: &ServiceAccountKey{ID: "key_1", Value: Secret(testKey)}}
	for _, s := range []string{fmt.Sprintf("%v", *sa.APIKey), fmt.Sprintf("%+v", *sa.APIKey), fmt.Sprintf("%#v", *sa.APIKey), fmt.Sprint(sa.APIKey.Value)} {
		if strings.Contains(s, testKey) {
			t.Errorf("formatting shows the key: %s", s)
		}
	}
}

func TestMatchRedacted(t *testing.T) {
	for _, c := range []struct {
		red  string
		want bool
	}{
		{"sk-pro...6789", false}, {"sk-pro...BlbkFJ", true}, {"sk-proj-****kFJ", true},
		{"sk-pro...bkFX", false}, {"sk...", false}, {"", false},
	} {
		if got := MatchRedacted(c.red, testKey); got != c.want {
			t.Errorf("MatchRedacted(%q) = %v, want %v", c.red, got, c.want)
		}
	}
}

func TestAdminShapes(t *testing.T) {
	var seen []string
	s := server(t, func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case http.MethodPost:
			var body map[string]string
			json.NewDecoder(r.Body).Decode(&body)
			if body["name"] != "okv-prod-2025-06-10" || r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(400)
				return
			}
			fmt.Fprint(w, `{"object":"organization.project.service_account","id":"svc_acct_abc","name":"okv-prod-2025-06-10","role":"member","created_at":1711471533,
				"api_key":{"object":"organization.project.service_account.api_key","value":"`+testKey+`","name":"Secret Key","created_at":1711471533,"id":"key_abc"}}`)
		case http.MethodDelete:
			fmt.Fprint(w, `{"object":"organization.project.service_account.deleted","id":"svc_acct_abc","deleted":true}`)
		}
	})
	c := &Client{BaseURL: s.URL, Key: "sk-admin-x"}
	sa, err := c.CreateServiceAccount(context.Background(), "proj_abc", "okv-prod-2025-06-10")
	if err != nil {
		t.Fatal(err)
	}
	if sa.ID != "svc_acct_abc" || sa.APIKey.ID != "key_abc" || string(sa.APIKey.Value) != testKey {
		t.Errorf("decoded %+v", sa)
	}
	if err := c.DeleteServiceAccount(context.Background(), "proj_abc", "svc_acct_abc"); err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /v1/organization/projects/proj_abc/service_accounts", "DELETE /v1/organization/projects/proj_abc/service_accounts/svc_acct_abc"}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s", strings.Join(seen, "\n"))
	}
	if _, err := c.CreateServiceAccount(context.Background(), "../x", "n"); err == nil {
		t.Error("a malformed project id reached the URL")
	}
}
