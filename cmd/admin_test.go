package cmd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okvault/okv/vault"
)

const (
	testProject  = "proj_abc"
	fakeAdminKey = "sk-admin-Qw3rTy" + "0123456789abcdefghijKLMNOP"
)

// fakeKey is the n-th key the fake Admin API hands out.
func fakeKey(n int) string {
	return fmt.Sprintf("sk-svcacct-%03dT3BlbkFJ%s", n, strings.Repeat("k9Lm", 10))
}

// fakeOpenAI follows the documented shapes of the Admin API calls okv makes
// (project service accounts, project API keys, completions usage) and of
// GET /v1/models, with switches to fail each step.
type fakeOpenAI struct {
	t *testing.T

	mu         sync.Mutex
	accounts   map[string]string // service account id → key value
	keyIDs     map[string]string // service account id → key id
	legacy     map[string]bool   // keys not made here that /v1/models accepts
	n          int
	names      []string // names of created service accounts
	log        []string // "METHOD path"
	usageQuery []string

	failCreate int  // answer POST service_accounts with this status
	noKey      bool // create answers without api_key
	rejectNew  bool // /v1/models refuses keys of service accounts
	failDelete int  // answer DELETE with this status
}

func newFakeOpenAI(t *testing.T) (*fakeOpenAI, *httptest.Server) {
	f := &fakeOpenAI{t: t, accounts: map[string]string{}, keyIDs: map[string]string{}, legacy: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func apiErrorBody(msg, typ, code string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}}
}

func (f *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")

	if r.URL.Path == "/v1/models" && r.Method == http.MethodGet {
		ok := f.legacy[key]
		for _, k := range f.accounts {
			if k == key && !f.rejectNew {
				ok = true
			}
		}
		if !ok {
			writeJSON(w, 401, apiErrorBody("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
			return
		}
		writeJSON(w, 200, map[string]any{"object": "list", "data": []any{}})
		return
	}
	if len(parts) < 3 || parts[0] != "v1" || parts[1] != "organization" {
		writeJSON(w, 404, apiErrorBody("Unknown path", "invalid_request_error", ""))
		return
	}
	if key != fakeAdminKey {
		writeJSON(w, 401, apiErrorBody("Invalid authorization header", "invalid_request_error", "invalid_api_key"))
		return
	}
	switch {
	// POST /v1/organization/projects/{project_id}/service_accounts
	case r.Method == http.MethodPost && len(parts) == 5 && parts[2] == "projects" && parts[4] == "service_accounts":
		if parts[3] != testProject {
			writeJSON(w, 404, apiErrorBody("No such project: "+parts[3], "invalid_request_error", ""))
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			writeJSON(w, 400, apiErrorBody("want JSON", "invalid_request_error", ""))
			return
		}
		var body struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Name == "" {
			writeJSON(w, 400, apiErrorBody("name is required", "invalid_request_error", ""))
			return
		}
		if f.failCreate != 0 {
			writeJSON(w, f.failCreate, apiErrorBody("The server had an error while processing your request.", "server_error", ""))
			return
		}
		f.n++
		id := fmt.Sprintf("svc_acct_%d", f.n)
		f.names = append(f.names, body.Name)
		f.accounts[id] = fakeKey(f.n)
		f.keyIDs[id] = fmt.Sprintf("key_%d", f.n)
		resp := map[string]any{
			"object": "organization.project.service_account", "id": id, "name": body.Name,
			"role": "member", "created_at": 1711471533,
		}
		if !f.noKey {
			resp["api_key"] = map[string]any{
				"object": "organization.project.service_account.api_key", "value": f.accounts[id],
				"name": "Secret Key", "created_at": 1711471533, "id": f.keyIDs[id],
			}
		}
		writeJSON(w, 200, resp)
	// DELETE /v1/organization/projects/{project_id}/service_accounts/{service_account_id}
	case r.Method == http.MethodDelete && len(parts) == 6 && parts[2] == "projects" && parts[4] == "service_accounts":
		if f.failDelete != 0 {
			writeJSON(w, f.failDelete, apiErrorBody("The server had an error while processing your request.", "server_error", ""))
			return
		}
		id := parts[5]
		if _, ok := f.accounts[id]; !ok || parts[3] != testProject {
			writeJSON(w, 404, apiErrorBody("No such service account: "+id, "invalid_request_error", ""))
			return
		}
		delete(f.accounts, id)
		writeJSON(w, 200, map[string]any{"object": "organization.project.service_account.deleted", "id": id, "deleted": true})
	// GET /v1/organization/projects/{project_id}/api_keys
	case r.Method == http.MethodGet && len(parts) == 5 && parts[2] == "projects" && parts[4] == "api_keys":
		var data []any
		for k := range f.legacy {
			data = append(data, map[string]any{"object": "organization.project.api_key", "redacted_value": k[:6] + "..." + k[len(k)-4:],
				"name": "legacy", "created_at": 1711471533, "last_used_at": 1711471534, "id": "key_legacy"})
		}
		data = append(data, map[string]any{"object": "organization.project.api_key", "redacted_value": "sk-pro...zzzz",
			"name": "other", "created_at": 1711471533, "last_used_at": 1711471534, "id": "key_other"})
		writeJSON(w, 200, map[string]any{"object": "list", "data": data, "first_id": "key_legacy", "last_id": "key_other", "has_more": false})
	// GET /v1/organization/usage/completions
	case r.Method == http.MethodGet && r.URL.Path == "/v1/organization/usage/completions":
		q := r.URL.Query()
		f.usageQuery = append(f.usageQuery, r.URL.RawQuery)
		start, err := strconv.ParseInt(q.Get("start_time"), 10, 64)
		if err != nil || q.Get("bucket_width") != "1d" || q.Get("group_by") != "api_key_id" {
			writeJSON(w, 400, apiErrorBody("bad query "+r.URL.RawQuery, "invalid_request_error", ""))
			return
		}
		keyID := q.Get("api_key_ids")
		result := func(id string, req, in, out int) map[string]any {
			return map[string]any{"object": "organization.usage.completions.result", "input_tokens": in, "output_tokens": out,
				"input_cached_tokens": 0, "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": req,
				"project_id": nil, "user_id": nil, "api_key_id": id, "model": nil, "batch": nil}
		}
		bucket := func(i int, results ...any) map[string]any {
			s := start + int64(i)*86400
			if results == nil {
				results = []any{}
			}
			return map[string]any{"object": "bucket", "start_time": s, "end_time": s + 86400, "results": results}
		}
		if q.Get("page") == "" {
			writeJSON(w, 200, map[string]any{"object": "page", "has_more": true, "next_page": "page_2",
				"data": []any{bucket(0, result(keyID, 3, 100, 40)), bucket(1)}})
			return
		}
		writeJSON(w, 200, map[string]any{"object": "page", "has_more": false, "next_page": nil,
			"data": []any{bucket(2, result(keyID, 5, 1000, 200), result("key_someone_else", 99, 99, 99))}})
	default:
		writeJSON(w, 404, apiErrorBody("Unknown request", "invalid_request_error", ""))
	}
}

func (f *fakeOpenAI) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeOpenAI) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.accounts[id]
	return ok
}

// adminEnv is a vault with prod holding a key not made by okv, an admin
// profile with the admin key, and both base URLs on the fake.
func adminEnv(t *testing.T) (*testEnv, *fakeOpenAI, string) {
	old := newKeyRetryDelays
	newKeyRetryDelays = []time.Duration{time.Millisecond}
	t.Cleanup(func() { newKeyRetryDelays = old })
	e := newTestEnv(t)
	f, srv := newFakeOpenAI(t)
	e.env["OKV_OPENAI_BASE_URL"] = srv.URL
	e.env["OKV_OPENAI_ADMIN_BASE_URL"] = srv.URL
	e.values = append(e.values, fakeAdminKey)
	for n := 1; n <= 5; n++ {
		e.values = append(e.values, fakeKey(n))
	}
	legacy := e.key("legacy")
	f.legacy[legacy] = true
	e.ok("", "profile", "create", "prod")
	e.ok("", "profile", "create", "admin")
	e.ok(legacy+"\n", "set", "-p", "prod")
	e.ok(fakeAdminKey+"\n", "set", "OPENAI_ADMIN_KEY", "-p", "admin")
	return e, f, legacy
}

func TestRotateServiceAccount(t *testing.T) {
	e, f, legacy := adminEnv(t)

	// First rotation: the previous key was not made by okv.
	_, errs := e.ok("", "rotate", "-p", "prod", "--service-account", "--project", testProject)
	mustContain(t, "first rotation", errs, "rotated OPENAI_API_KEY in profile prod to the new service account svc_acct_1 (project proj_abc)",
		"the previous key was not made by okv, so it still works")
	if e.value("prod", "OPENAI_API_KEY") != fakeKey(1) {
		t.Fatal("the new key was not stored")
	}
	if got := f.names[0]; got != "okv-prod-2025-06-10" {
		t.Errorf("service account name %q", got)
	}
	pol := e.config().Policy("prod")
	if pol.Project != testProject || pol.ServiceAccountID != "svc_acct_1" || pol.APIKeyID != "key_1" {
		t.Errorf("policy after rotation: %+v", pol)
	}
	if !strings.Contains(string(e.readFile("config.toml")), `service_account_id = "svc_acct_1"`) {
		t.Error("config.toml does not record the service account")
	}
	if h := e.load("prod").Secrets["OPENAI_API_KEY"].History; len(h) != 1 || h[0].Value != legacy {
		t.Error("the previous key is not in history")
	}

	// Second rotation: the project is remembered, the previous account deleted.
	e.now = e.now.Add(day)
	_, errs = e.ok("", "rotate", "-p", "prod", "--service-account")
	mustContain(t, "second rotation", errs, "to the new service account svc_acct_2", "deleted the previous service account svc_acct_1 and its key")
	if f.has("svc_acct_1") || !f.has("svc_acct_2") {
		t.Error("the previous service account was not deleted, or the new one was")
	}
	if e.value("prod", "OPENAI_API_KEY") != fakeKey(2) {
		t.Fatal("the second key was not stored")
	}
	want := []string{"POST /v1/organization/projects/proj_abc/service_accounts", "GET /v1/models", "DELETE /v1/organization/projects/proj_abc/service_accounts/svc_acct_1"}
	if got := f.calls()[len(f.calls())-3:]; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("second rotation calls:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The audit log records the admin key's use and the rotation.
	out, _ := e.ok("", "log", "--op", "admin,rotate")
	mustContain(t, "log", out, "admin", "OPENAI_ADMIN_KEY", "okv rotate --service-account", "service-account svc_acct_2")
}

func TestRotateServiceAccountFailures(t *testing.T) {
	t.Run("create", func(t *testing.T) {
		e, f, legacy := adminEnv(t)
		f.failCreate = 500
		_, errs := e.fail(1, "", "rotate", "-p", "prod", "--service-account", "--project", testProject)
		mustContain(t, "create fails", errs,
			"okv: error: creating a service account in project proj_abc failed: ", "(500 Internal Server Error)",
			"okv: hint: OPENAI_API_KEY in profile prod is unchanged and still holds the old key")
		if e.value("prod", "OPENAI_API_KEY") != legacy {
			t.Fatal("the old key is gone")
		}
		if e.config().Policy("prod").Project != "" {
			t.Error("a failed rotation changed the policy")
		}
	})
	t.Run("create-without-key", func(t *testing.T) {
		e, f, legacy := adminEnv(t)
		f.noKey = true
		_, errs := e.fail(1, "", "rotate", "-p", "prod", "--service-account", "--project", testProject)
		mustContain(t, "create without key", errs, "the answer carries no api_key.value",
			"the new service account svc_acct_1 was deleted again: nothing to clean up")
		if f.has("svc_acct_1") || e.value("prod", "OPENAI_API_KEY") != legacy {
			t.Fatal("a keyless service account was left behind, or the old key changed")
		}
	})
	t.Run("wrong-admin-key", func(t *testing.T) {
		e, _, legacy := adminEnv(t)
		other := e.key("notadmin")
		e.ok(other+"\n", "set", "OPENAI_ADMIN_KEY", "-p", "admin")
		_, errs := e.fail(1, "", "rotate", "-p", "prod", "--service-account", "--project", testProject)
		mustContain(t, "wrong admin key", errs, "rejected the key (401 Unauthorized, invalid_api_key)",
			"OPENAI_ADMIN_KEY in profile admin is wrong, revoked or deleted", "okv set OPENAI_ADMIN_KEY -p admin")
		if e.value("prod", "OPENAI_API_KEY") != legacy {
			t.Fatal("the old key is gone")
		}
	})
	t.Run("verify", func(t *testing.T) {
		e, f, legacy := adminEnv(t)
		f.rejectNew = true
		_, errs := e.fail(1, "", "rotate", "-p", "prod", "--service-account", "--project", testProject)
		mustContain(t, "verify fails", errs,
			"okv: error: the new value of OPENAI_API_KEY was not stored: ", "rejected the key (401 Unauthorized, invalid_api_key)",
			"okv: hint: OPENAI_API_KEY in profile prod is unchanged and still holds the old key",
			"okv: hint: the new service account svc_acct_1 was deleted again: nothing to clean up",
			"did not accept the service account's new key in time")
		mustNotContain(t, "verify fails", errs, "without --verify")
		if f.has("svc_acct_1") {
			t.Error("the unverified service account was not deleted")
		}
		if e.value("prod", "OPENAI_API_KEY") != legacy {
			t.Fatal("the old key is gone")
		}
		if n := strings.Count(strings.Join(f.calls(), "\n"), "GET /v1/models"); n != 2 {
			t.Errorf("the new key was checked %d times, want 2 (one retry)", n)
		}
	})
	t.Run("verify-and-cleanup", func(t *testing.T) {
		e, f, legacy := adminEnv(t)
		f.rejectNew = true
		f.failDelete = 503
		_, errs := e.fail(1, "", "rotate", "-p", "prod", "--service-account", "--project", testProject)
		mustContain(t, "verify and cleanup fail", errs,
			"okv: hint: the new service account svc_acct_1 was created but not stored, and deleting it failed",
			"delete it in the dashboard", "project proj_abc", "okv run -p admin -- sh -c",
			"/v1/organization/projects/proj_abc/service_accounts/svc_acct_1")
		if e.value("prod", "OPENAI_API_KEY") != legacy {
			t.Fatal("the old key is gone")
		}
	})
	t.Run("delete-previous", func(t *testing.T) {
		e, f, _ := adminEnv(t)
		e.ok("", "rotate", "-p", "prod", "--service-account", "--project", testProject)
		f.failDelete = 500
		_, errs := e.fail(1, "", "rotate", "-p", "prod", "--service-account")
		mustContain(t, "delete fails", errs,
			"okv: rotated OPENAI_API_KEY in profile prod to the new service account svc_acct_2",
			"okv: error: the key was rotated, but deleting the previous service account svc_acct_1 failed: ",
			"okv: hint: the new key is stored and works; the previous key keeps working until its service account is deleted: delete it in the dashboard",
			"service_accounts/svc_acct_1")
		if e.value("prod", "OPENAI_API_KEY") != fakeKey(2) {
			t.Fatal("the new key is not stored")
		}
		if !f.has("svc_acct_1") {
			t.Fatal("fake: the previous account should still exist")
		}
		if e.config().Policy("prod").ServiceAccountID != "svc_acct_2" {
			t.Error("the policy does not name the new service account")
		}
	})
	t.Run("usage-errors", func(t *testing.T) {
		e, _, _ := adminEnv(t)
		_, errs := e.fail(2, "", "rotate", "-p", "prod", "--service-account")
		mustContain(t, "no project", errs, "--service-account needs the OpenAI project", "--project proj_")
		_, errs = e.fail(2, "", "rotate", "-p", "prod", "--service-account", "--project", "proj abc")
		mustContain(t, "bad project", errs, "invalid project id")
		_, errs = e.fail(1, "", "rotate", "-p", "prod", "--service-account", "--project", testProject, "--admin-profile", "ops")
		mustContain(t, "no admin profile", errs, "profile ops, which does not exist", "okv profile create ops")
		_, errs = e.fail(1, "", "rotate", "-p", "prod", "--service-account", "--project", "proj_nope")
		mustContain(t, "unknown project", errs, "(404 Not Found)", "check the project id")
	})
}

func TestRemoteUsage(t *testing.T) {
	e, f, _ := adminEnv(t)
	e.ok("", "rotate", "-p", "prod", "--service-account", "--project", testProject)

	run := func(profile string) (string, string) {
		t.Helper()
		var out, errb strings.Builder
		a := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return e.env[k] },
			Environ: func() []string { return nil }, Getwd: func() (string, error) { return e.dir, nil }, Now: e.clock,
			Keychain: e.kc, Terminal: noTerminal{}}
		if err := a.runRemoteUsage(profile, 30*day); err != nil {
			msg, hints, _ := a.explain(err)
			t.Fatalf("runRemoteUsage: %s %v", msg, hints)
		}
		for _, v := range e.values {
			if strings.Contains(out.String()+errb.String(), v) {
				t.Fatal("usage output holds a secret")
			}
		}
		return out.String(), errb.String()
	}
	out, errs := run("prod")
	mustContain(t, "usage stderr", errs, "usage of OPENAI_API_KEY in profile prod (OpenAI key key_1) since 2025-05-11")
	mustContain(t, "usage", out, "2025-05-11", "2025-05-12", "2025-05-13", "TOTAL")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := strings.Fields(lines[len(lines)-1]); strings.Join(got, " ") != "TOTAL 8 1100 0 240" {
		t.Errorf("total line %q, want TOTAL 8 1100 0 240 (the other key's usage excluded)", lines[len(lines)-1])
	}
	q := f.usageQuery[0]
	for _, want := range []string{"bucket_width=1d", "group_by=api_key_id", "api_key_ids=key_1", fmt.Sprintf("start_time=%d", time.Date(2025, 5, 11, 0, 0, 0, 0, time.UTC).Unix())} {
		if !strings.Contains(q, want) {
			t.Errorf("usage query %q lacks %s", q, want)
		}
	}
	if len(f.usageQuery) != 2 || !strings.Contains(f.usageQuery[1], "page=page_2") {
		t.Errorf("usage pages: %q", f.usageQuery)
	}

	// A key okv did not create is found through the project's key list.
	e.ok("", "profile", "create", "stage")
	legacy := e.key("stagelegacy")
	f.mu.Lock()
	f.legacy = map[string]bool{legacy: true}
	f.mu.Unlock()
	e.ok(legacy+"\n", "set", "-p", "stage")
	e.updateConfig(func(c *vault.Config) { c.Profiles["stage"] = &vault.Policy{Project: testProject} })
	_, errs = run("stage")
	mustContain(t, "usage of a legacy key", errs, "(OpenAI key key_legacy)")
}
