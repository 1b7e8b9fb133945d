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

// TestVerifyProviders: okv verify and set/rotate --verify send each key
// to its own provider (placed by name or by shape), in that provider's
// header, with its cheapest authenticated request; the loopback fakes
// below answer 200 for the real-looking keys and 401 (Gemini: 400 "API key
// not valid", as it documents) otherwise. A secret okv cannot place is
// refused before any request is made: no fake receives one, and a refused
// new value is not stored.
func TestVerifyProviders(t *testing.T) {
	e := newTestEnv(t)
	var mu sync.Mutex
	var got []string // "provider path header-value" of every request
	fake := func(provider, header, good string, status int, bad string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got = append(got, provider+" "+r.URL.Path+" "+r.Header.Get(header))
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			if !strings.HasPrefix(strings.TrimPrefix(r.Header.Get(header), "Bearer "), good) {
				w.WriteHeader(status)
				w.Write([]byte(bad))
				return
			}
			w.Write([]byte(`{"object":"list","data":[]}`))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	e.env["OKV_OPENAI_BASE_URL"] = fake("openai", "Authorization", "sk-", 401, `{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}`).URL
	e.env["OKV_ANTHROPIC_BASE_URL"] = fake("anthropic", "X-Api-Key", "sk-ant-api03-Qw7e", 401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`).URL
	e.env["OKV_GEMINI_BASE_URL"] = fake("gemini", "X-Goog-Api-Key", "AIzaSyGood", 400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}`).URL
	e.env["OKV_GROQ_BASE_URL"] = fake("groq", "Authorization", "gsk_good", 401, `{"error":{"message":"Invalid API Key","type":"invalid_request_error","code":"invalid_api_key"}}`).URL
	azure := fake("azure", "Api-Key", "azure-good", 401, `{"error":{"code":"401","message":"Access denied due to invalid subscription key"}}`)
	requests := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}

	anthropic := "sk-ant-api03-" + strings.Repeat("Qw7e", 20) + "AA"
	badAnthropic := "sk-ant-api03-" + strings.Repeat("Zx8c", 20) + "AA"
	gemini := "AIzaSyGood" + strings.Repeat("x", 29)
	badGemini := "AIzaSyBad0" + strings.Repeat("y", 29)
	groq := "gsk_good" + strings.Repeat("k", 44)
	shaped := "sk-proj-" + strings.Repeat("Ab3d", 10) + "T3BlbkFJ" + strings.Repeat("x9Yz", 10)
	e.values = append(e.values, anthropic, badAnthropic, gemini, badGemini, groq, shaped, "azure-good-0123456789", "azure-bad-0123456789")

	// Each provider by name, 200 and 401.
	e.ok(anthropic+"\n", "set", "ANTHROPIC_API_KEY", "--verify")
	out, _ := e.ok("", "verify", "ANTHROPIC_API_KEY")
	mustContain(t, "verify ANTHROPIC_API_KEY", out, "ok  ANTHROPIC_API_KEY (profile dev) works")
	_, errs := e.fail(1, badAnthropic+"\n", "rotate", "ANTHROPIC_API_KEY", "--verify")
	mustContain(t, "rotate --verify bad anthropic", errs, "was not stored", "rejected the key", "anthropic's console")
	if e.value("dev", "ANTHROPIC_API_KEY") != anthropic {
		t.Fatal("a rejected rotate changed the value")
	}
	e.ok(gemini+"\n", "set", "GEMINI_API_KEY", "--verify")
	_, errs = e.fail(1, badGemini+"\n", "set", "GOOGLE_API_KEY", "--verify")
	mustContain(t, "set --verify bad gemini", errs, "rejected the key")
	// By shape, under any name.
	e.ok(groq+"\n", "set", "MY_LLM_KEY", "--verify")
	e.ok(shaped+"\n", "set", "MY_SERVICE_KEY")
	out, _ = e.ok("", "verify", "MY_SERVICE_KEY")
	mustContain(t, "verify by shape", out, "ok  MY_SERVICE_KEY (profile dev) works")
	// Azure: its endpoint is the profile's AZURE_OPENAI_ENDPOINT.
	_, errs = e.fail(1, "azure-good-0123456789\n", "set", "AZURE_OPENAI_API_KEY", "--verify")
	mustContain(t, "azure without endpoint", errs, "needs AZURE_OPENAI_ENDPOINT")
	e.ok(azure.URL+"\n", "set", "AZURE_OPENAI_ENDPOINT")
	e.ok("azure-good-0123456789\n", "set", "AZURE_OPENAI_API_KEY", "--verify")
	e.fail(1, "azure-bad-0123456789\n", "rotate", "AZURE_OPENAI_API_KEY", "--verify")

	want := []string{
		"anthropic /v1/models " + anthropic,
		"anthropic /v1/models " + anthropic,
		"anthropic /v1/models " + badAnthropic,
		"gemini /v1beta/models " + gemini,
		"gemini /v1beta/models " + badGemini,
		"groq /openai/v1/models Bearer " + groq,
		"openai /v1/models Bearer " + shaped,
		"azure /openai/models azure-good-0123456789",
		"azure /openai/models azure-bad-0123456789",
	}
	if g := requests(); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the fakes received:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}

	// Unplaceable: nothing is sent anywhere, a new value is not stored.
	e.ok("some-token-0123456789\n", "set", "GITHUB_TOKEN")
	_, errs = e.fail(2, "", "verify", "GITHUB_TOKEN")
	mustContain(t, "verify GITHUB_TOKEN", errs, "okv cannot tell which provider GITHUB_TOKEN is for: neither its name nor its value says", "nothing was sent")
	// Name and shape disagree: an Anthropic-shaped value under OpenAI's name.
	e.ok(anthropic+"\n", "set", "OPENAI_API_KEY")
	_, errs = e.fail(2, "", "verify")
	mustContain(t, "verify OPENAI_API_KEY=sk-ant-…", errs, "its name is openai's but its value looks like an Anthropic key")
	hf := "hf_" + strings.Repeat("a1B2", 9)
	e.values = append(e.values, hf)
	_, errs = e.fail(2, hf+"\n", "set", "HF_TOKEN", "--verify")
	mustContain(t, "set --verify HF_TOKEN", errs, "was not stored", "a Hugging Face token", "store the key without --verify")
	if _, ok := e.load("dev").Secrets["HF_TOKEN"]; ok {
		t.Fatal("a refused value was stored")
	}
	if g := requests(); len(g) != len(want) {
		t.Fatalf("the fakes received %d request(s) for keys okv must not send: %q", len(g)-len(want), g[len(want):])
	}
	out, _ = e.ok("", "log", "--op", "verify")
	mustNotContain(t, "log --op verify", out, "GITHUB_TOKEN")
}
