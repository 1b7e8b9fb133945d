package cmd

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeModels answers GET /v1/models by the bearer key: each test key gets
// one of OpenAI's documented answers. The 401 echoes the key, as a
// careless server might, to prove okv scrubs it.
func fakeModels(t *testing.T, answers map[string]int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v1/models" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		status, ok := answers[key]
		if !ok {
			status = http.StatusUnauthorized
		}
		w.Header().Set("Content-Type", "application/json")
		type apiErr struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    string  `json:"code"`
		}
		var body any
		switch status {
		case http.StatusOK:
			body = map[string]any{"object": "list", "data": []any{map[string]any{"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"}}}
		case http.StatusUnauthorized:
			body = map[string]any{"error": apiErr{Message: "Incorrect API key provided: " + key + ". You can find your API key at https://platform.openai.com/account/api-keys.", Type: "invalid_request_error", Code: "invalid_api_key"}}
		case http.StatusForbidden:
			body = map[string]any{"error": apiErr{Message: "You have insufficient permissions for this operation. Missing scopes: api.model.read.", Type: "invalid_request_error"}}
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "20")
			body = map[string]any{"error": apiErr{Message: "Rate limit reached for requests", Type: "requests", Code: "rate_limit_exceeded"}}
		case http.StatusPaymentRequired: // stands for insufficient_quota
			status = http.StatusTooManyRequests
			body = map[string]any{"error": apiErr{Message: "You exceeded your current quota, please check your plan and billing details.", Type: "insufficient_quota", Code: "insufficient_quota"}}
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// closedURL is a loopback address nothing listens on.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestSetAndRotateVerify(t *testing.T) {
	e := newTestEnv(t)
	good, bad, limited, forbidden, broke := e.key("good"), e.key("bad"), e.key("limit"), e.key("forbid"), e.key("broke")
	srv := fakeModels(t, map[string]int{good: 200, limited: 429, forbidden: 403, broke: 402})
	e.env["OKV_OPENAI_BASE_URL"] = srv.URL

	host := strings.TrimPrefix(srv.URL, "http://")
	cases := []struct {
		key   string
		wants []string
	}{
		{bad, []string{"okv: error: the new value of OPENAI_API_KEY was not stored: " + host + " rejected the key (401 Unauthorized, invalid_api_key)",
			"Incorrect API key provided: [key].", "okv: hint: the key is wrong, revoked or deleted"}},
		{limited, []string{"rate-limited the request (429 Too Many Requests, rate_limit_exceeded); retry after 20s",
			"okv: hint: the key itself works but is rate-limited: try again in 20s, or store it without --verify"}},
		{forbidden, []string{"refused the request: the key may not do this (403 Forbidden)", "Missing scopes: api.model.read",
			"okv: hint: a restricted key needs the 'Models: Read' permission for this check, or store it without --verify"}},
		{broke, []string{"accepted the key, but its account has no quota left (429 Too Many Requests, insufficient_quota)",
			"okv: hint: the key itself works: add credit"}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		_, errs := e.fail(1, c.key+"\n", "set", "--verify")
		mustContain(t, "set --verify", errs, c.wants...)
		first := strings.SplitN(errs, "\n", 2)[0]
		if seen[first] {
			t.Errorf("two failures share the message %q", first)
		}
		seen[first] = true
		if _, ok := e.load("dev").Secrets["OPENAI_API_KEY"]; ok {
			t.Fatalf("a key that failed verification was stored")
		}
	}

	// Closed port: a network error, nothing stored.
	e.env["OKV_OPENAI_BASE_URL"] = closedURL(t)
	_, errs := e.fail(1, good+"\n", "set", "--verify")
	mustContain(t, "set --verify, closed port", errs, "was not stored: could not reach 127.0.0.1:", "connection refused",
		"okv: hint: check the network connection", "OKV_OPENAI_BASE_URL")
	if _, ok := e.load("dev").Secrets["OPENAI_API_KEY"]; ok {
		t.Fatal("a key that could not be verified was stored")
	}

	// Plain http to a non-loopback host is refused before sending the key.
	e.env["OKV_OPENAI_BASE_URL"] = "http://api.example.com"
	_, errs = e.fail(1, good+"\n", "set", "--verify")
	mustContain(t, "set --verify, http", errs, "plain http is allowed for loopback addresses only")

	// 200 stores.
	e.env["OKV_OPENAI_BASE_URL"] = srv.URL
	_, errs = e.ok(good+"\n", "set", "--verify")
	mustContain(t, "set --verify", errs, "stored OPENAI_API_KEY in profile dev")
	if e.value("dev", "OPENAI_API_KEY") != good {
		t.Fatal("the verified key was not stored")
	}

	// rotate --verify: a rejected key leaves the old one.
	_, errs = e.fail(1, bad+"\n", "rotate", "--verify")
	mustContain(t, "rotate --verify", errs, "rejected the key")
	if e.value("dev", "OPENAI_API_KEY") != good {
		t.Fatal("rotate --verify stored a rejected key")
	}

	// okv verify checks the stored key and records it.
	out, _ := e.ok("", "verify")
	mustContain(t, "verify", out, "ok  OPENAI_API_KEY (profile dev) works: "+srv.URL+" accepted it")
	out, _ = e.ok("", "log", "--op", "verify")
	mustContain(t, "log", out, "verify", "OPENAI_API_KEY")

	// The profile's upstream policy wins over the environment.
	e.ok("", "policy", "set", "upstream="+closedURL(t))
	_, errs = e.fail(1, "", "verify")
	mustContain(t, "verify with upstream policy", errs, "okv: error: OPENAI_API_KEY in profile dev did not pass the check: could not reach")
}

// TestVerifyOnlyOpenAIKeys: okv verify and set/rotate --verify send only
// OpenAI keys (by name or by shape) to the OpenAI upstream. Any other
// secret is refused before a request is made: the recording upstream
// receives none, and a refused new value is not stored.
func TestVerifyOnlyOpenAIKeys(t *testing.T) {
	e := newTestEnv(t)
	var mu sync.Mutex
	var got []string // the Authorization headers the upstream received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"object":"list","data":[]}`))
	}))
	t.Cleanup(srv.Close)
	e.env["OKV_OPENAI_BASE_URL"] = srv.URL
	requests := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}

	anthropic := "sk-ant-api03-" + strings.Repeat("Qw7e", 20) + "AA"
	e.values = append(e.values, anthropic)
	shaped := "sk-proj-" + strings.Repeat("Ab3d", 10) + "T3BlbkFJ" + strings.Repeat("x9Yz", 10)
	e.values = append(e.values, shaped)

	// Another provider's key, by name: refused, nothing sent, not stored.
	_, errs := e.fail(2, anthropic+"\n", "set", "ANTHROPIC_API_KEY", "--verify")
	mustContain(t, "set --verify ANTHROPIC_API_KEY", errs,
		"okv: error: the new value of ANTHROPIC_API_KEY was not stored: okv can check OpenAI keys only, and it is not one: its value looks like an Anthropic key (sk-ant-…); nothing was sent",
		"okv: hint: other providers are not supported yet: store the key without --verify")
	if _, ok := e.load("dev").Secrets["ANTHROPIC_API_KEY"]; ok {
		t.Fatal("a refused value was stored")
	}
	e.ok(anthropic+"\n", "set", "ANTHROPIC_API_KEY")
	_, errs = e.fail(2, "", "verify", "ANTHROPIC_API_KEY")
	mustContain(t, "verify ANTHROPIC_API_KEY", errs,
		"okv: error: okv can check OpenAI keys only, and ANTHROPIC_API_KEY is not one", "nothing was sent")

	// Under an OpenAI name, an Anthropic-shaped value is still refused.
	e.ok(anthropic+"\n", "set", "OPENAI_API_KEY")
	_, errs = e.fail(2, "", "verify")
	mustContain(t, "verify OPENAI_API_KEY=sk-ant-…", errs, "its value looks like an Anthropic key")

	// Neither name nor shape: refused.
	e.ok("some-token-0123456789\n", "set", "GITHUB_TOKEN")
	_, errs = e.fail(2, "", "verify", "GITHUB_TOKEN")
	mustContain(t, "verify GITHUB_TOKEN", errs, "neither its name nor its value is an OpenAI key's")
	anthropic2 := "sk-ant-api03-" + strings.Repeat("Zx8c", 20) + "AA"
	e.values = append(e.values, anthropic2)
	_, errs = e.fail(2, anthropic2+"\n", "rotate", "ANTHROPIC_API_KEY", "--verify")
	mustContain(t, "rotate --verify ANTHROPIC_API_KEY", errs, "was not stored", "nothing was sent")
	if e.value("dev", "ANTHROPIC_API_KEY") != anthropic {
		t.Fatal("a refused rotate changed the value")
	}

	if n := requests(); n != 0 {
		t.Fatalf("the upstream received %d request(s) for keys okv must not send", n)
	}
	out, _ := e.ok("", "log", "--op", "verify")
	mustNotContain(t, "log --op verify", out, "ANTHROPIC_API_KEY", "GITHUB_TOKEN")

	// OpenAI keys are checked: by shape under any name, and by name.
	e.ok(shaped+"\n", "set", "MY_SERVICE_KEY")
	out, _ = e.ok("", "verify", "MY_SERVICE_KEY")
	mustContain(t, "verify by shape", out, "ok  MY_SERVICE_KEY (profile dev) works")
	e.ok(e.key("byname")+"\n", "set", "OPENAI_ADMIN_KEY", "--verify")
	if n := requests(); n != 2 || got[0] != "Bearer "+shaped {
		t.Fatalf("the upstream received %d request(s), want the 2 OpenAI keys", n)
	}
}
