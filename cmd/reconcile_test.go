package cmd

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okvault/okv/proxy"
	"github.com/okvault/okv/vault"
)

// usageAPI is a loopback fake of OpenAI's Admin API usage and costs
// reports, because the live API cannot be reached here (and needs an
// organization owner's admin key). It follows the documented shapes of
// GET /v1/organization/usage/completions (a "page" of "bucket"s holding
// "organization.usage.completions.result"s with num_model_requests,
// api_key_id, project_id and batch set when grouped by them; has_more and
// an opaque next_page cursor passed back as ?page=), of GET
// /v1/organization/costs ("organization.costs.result" with
// amount.value/currency and project_id), and of GET
// /v1/organization/projects/{id}/api_keys (redacted_value). It answers one
// bucket per page, so a report of n days takes n pages.
type usageAPI struct {
	t   *testing.T
	mu  sync.Mutex
	now time.Time

	usage    map[string]map[string]int64 // key id → day → requests
	batch    map[string]map[string]int64 // key id → day → batch requests
	project  map[string]string           // key id → project
	costs    map[string]map[string]float64
	keys     map[string]map[string]string // project → key id → value
	pages    []string                     // the page parameter of each usage request, in order
	cursors  map[string]int               // next_page cursor → bucket index
	costCall int
}

func newUsageAPI(t *testing.T, now time.Time) (*usageAPI, *httptest.Server) {
	f := &usageAPI{t: t, now: now, usage: map[string]map[string]int64{}, batch: map[string]map[string]int64{},
		project: map[string]string{}, costs: map[string]map[string]float64{}, keys: map[string]map[string]string{}, cursors: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *usageAPI) set(key, day string, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.usage[key] == nil {
		f.usage[key] = map[string]int64{}
	}
	f.usage[key][day] = n
}

func (f *usageAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+fakeAdminKey {
		writeJSON(w, 401, apiErrorBody("Invalid authorization header", "invalid_request_error", "invalid_api_key"))
		return
	}
	q := r.URL.Query()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 5 && parts[2] == "projects" && parts[4] == "api_keys":
		data := []any{}
		var ids []string
		for id := range f.keys[parts[3]] {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			k := f.keys[parts[3]][id]
			data = append(data, map[string]any{"object": "organization.project.api_key", "redacted_value": k[:6] + "..." + k[len(k)-4:],
				"name": "key", "created_at": 1711471533, "id": id})
		}
		writeJSON(w, 200, map[string]any{"object": "list", "data": data, "has_more": false})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/organization/usage/completions":
		f.pages = append(f.pages, q.Get("page"))
		start, err := strconv.ParseInt(q.Get("start_time"), 10, 64)
		groups := strings.Join(q["group_by"], ",")
		if err != nil || q.Get("bucket_width") != "1d" || !strings.Contains(groups, "api_key_id") {
			writeJSON(w, 400, apiErrorBody("bad query "+r.URL.RawQuery, "invalid_request_error", ""))
			return
		}
		i := 0
		if p := q.Get("page"); p != "" {
			var ok bool
			if i, ok = f.cursors[p]; !ok {
				writeJSON(w, 400, apiErrorBody("invalid page cursor", "invalid_request_error", ""))
				return
			}
		}
		s := start + int64(i)*86400
		day := time.Unix(s, 0).UTC().Format("2006-01-02")
		results := []any{}
		wanted := map[string]bool{}
		for _, id := range q["api_key_ids"] {
			wanted[id] = true
		}
		result := func(id string, n int64, batch bool) map[string]any {
			return map[string]any{"object": "organization.usage.completions.result", "input_tokens": 10 * n, "output_tokens": 5 * n,
				"input_cached_tokens": 0, "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": n,
				"project_id": f.project[id], "user_id": nil, "api_key_id": id, "model": nil, "batch": batch}
		}
		set := map[string]bool{}
		for id := range f.usage {
			set[id] = true
		}
		for id := range f.batch {
			set[id] = true
		}
		var ids []string
		for id := range set {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if len(wanted) > 0 && !wanted[id] {
				continue
			}
			if n := f.usage[id][day]; n > 0 {
				results = append(results, result(id, n, false))
			}
			if n := f.batch[id][day]; n > 0 {
				results = append(results, result(id, n, true))
			}
		}
		page := map[string]any{"object": "page", "data": []any{map[string]any{"object": "bucket", "start_time": s, "end_time": s + 86400, "results": results}}}
		if s+86400 <= f.now.Unix() {
			cursor := fmt.Sprintf("AAAAAGdGxd%02dJdKO", i+1)
			f.cursors[cursor] = i + 1
			page["has_more"], page["next_page"] = true, cursor
		} else {
			page["has_more"], page["next_page"] = false, nil
		}
		writeJSON(w, 200, page)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/organization/costs":
		f.costCall++
		start, _ := strconv.ParseInt(q.Get("start_time"), 10, 64)
		data := []any{}
		for s := start; s < f.now.Unix(); s += 86400 {
			day := time.Unix(s, 0).UTC().Format("2006-01-02")
			results := []any{}
			for _, p := range q["project_ids"] {
				if v, ok := f.costs[p][day]; ok {
					results = append(results, map[string]any{"object": "organization.costs.result",
						"amount": map[string]any{"value": v, "currency": "usd"}, "line_item": nil, "project_id": p})
				}
			}
			data = append(data, map[string]any{"object": "bucket", "start_time": s, "end_time": s + 86400, "results": results})
		}
		writeJSON(w, 200, map[string]any{"object": "page", "data": data, "has_more": false, "next_page": nil})
	default:
		writeJSON(w, 404, apiErrorBody("Unknown request", "invalid_request_error", ""))
	}
}

// reconcileEnv: a vault at 2026-12-01 09:00 UTC with prod (key id in the
// policy, as okv rotate --service-account leaves it), stage (found by its
// redacted value in project proj_abc), dev without a known key id, and
// the admin profile; the Admin API on the fake.
func reconcileEnv(t *testing.T) (*testEnv, *usageAPI) {
	e := newTestEnv(t)
	e.now = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f, srv := newUsageAPI(t, e.now)
	e.env["OKV_OPENAI_ADMIN_BASE_URL"] = srv.URL
	e.values = append(e.values, fakeAdminKey)
	for _, p := range []string{"prod", "stage", "admin"} {
		e.ok("", "profile", "create", p)
	}
	e.ok(e.key("prodkey")+"\n", "set", "-p", "prod")
	stage := e.key("stagekey")
	e.ok(stage+"\n", "set", "-p", "stage")
	e.ok(e.key("devkey")+"\n", "set", "-p", "dev")
	e.ok(fakeAdminKey+"\n", "set", "OPENAI_ADMIN_KEY", "-p", "admin")
	f.keys["proj_abc"] = map[string]string{"key_stage": stage}
	f.project["key_prod"], f.project["key_stage"] = "proj_prod", "proj_abc"
	e.updateConfig(func(c *vault.Config) {
		c.Profiles["prod"] = &vault.Policy{APIKeyID: "key_prod"}
		c.Profiles["stage"] = &vault.Policy{Project: "proj_abc"}
	})
	return e, f
}

// ledger writes records through the proxy's own ledger writer.
func (e *testEnv) ledger(recs ...proxy.Record) {
	e.t.Helper()
	l := &proxy.FileLedger{Dir: e.dir, Now: e.clock}
	defer l.Close()
	if err := l.AppendAll(recs); err != nil {
		e.t.Fatal(err)
	}
}

// chat is a request okv's proxy made for profile at t, taking ms.
func chat(profile string, t time.Time, ms float64) proxy.Record {
	return proxy.Record{Time: t, Profile: profile, Provider: "openai", Method: "POST", Path: "/v1/chat/completions",
		Model: "gpt-4o-mini", Status: 200, PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15, LatencyMS: ms}
}

func at(day string, hh, mm, ss int) time.Time {
	d, _ := time.Parse("2006-01-02", day)
	return d.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(ss)*time.Second)
}

func warnings(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "okv: warning: OPENAI_API_KEY") {
			out = append(out, l)
		}
	}
	return out
}

// matchingLedger: what okv's proxy made, which the fake reports back.
func matchingLedger(e *testEnv, f *usageAPI) {
	e.ledger(
		chat("prod", at("2026-11-30", 10, 0, 0), 800),
		chat("prod", at("2026-11-30", 11, 0, 0), 800),
		chat("prod", at("2026-11-30", 12, 0, 0), 800),
		chat("stage", at("2026-11-30", 13, 0, 0), 800),
		chat("prod", at("2026-12-01", 8, 0, 0), 800),
		chat("stage", at("2026-12-01", 8, 30, 0), 800),
	)
	f.set("key_prod", "2026-11-30", 3)
	f.set("key_stage", "2026-11-30", 1)
	f.set("key_prod", "2026-12-01", 1)
	f.set("key_stage", "2026-12-01", 1)
}

func TestReconcileMatching(t *testing.T) {
	e, f := reconcileEnv(t)
	matchingLedger(e, f)
	// Requests that are not in the completions report, or never reached
	// OpenAI, cannot make up for a request that is.
	models := chat("prod", at("2026-12-01", 8, 1, 0), 50)
	models.Method, models.Path = "GET", "/v1/models"
	refused := chat("prod", at("2026-12-01", 8, 2, 0), 1)
	refused.Refused, refused.Status = "rate_limit_exceeded", 429
	e.ledger(models, refused)

	out, errs := e.ok("", "usage", "--remote", "--check", "--since", "2d")
	if w := warnings(errs); len(w) != 0 {
		t.Fatalf("matching usage gave findings:\n%s", errs)
	}
	mustContain(t, "table", out, "PROFILE", "NOT THROUGH OKV")
	for _, row := range []string{"prod key_prod 2026-11-30 3 3 0", "prod key_prod 2026-12-01 1 1 0", "stage key_stage 2026-11-30 1 1 0"} {
		if !hasRow(out, row) {
			t.Errorf("no row %q in\n%s", row, out)
		}
	}
	mustContain(t, "unchecked dev", errs, "okv: note: not checked: OPENAI_API_KEY in dev: okv does not know its OpenAI key id",
		"api_key_id = \"key_…\" under [profiles.dev]")
	// The admin profile is not checked as a project key.
	if strings.Contains(out, "\nadmin ") {
		t.Errorf("the admin profile was checked:\n%s", out)
	}

	// okv status --check: the same answer, exit 0.
	matchingLedgerAgain(f)
	_, errs = e.ok("", "status", "--check")
	mustContain(t, "status", errs, "okv: OpenAI's usage of 2 keys on the last 2 days matches what okv made")
	if w := warnings(errs); len(w) != 0 {
		t.Fatalf("status --check gave findings:\n%s", errs)
	}
}

// matchingLedgerAgain puts the fake's report back to what okv made.
func matchingLedgerAgain(f *usageAPI) {
	f.set("key_prod", "2026-11-30", 3)
	f.set("key_stage", "2026-11-30", 1)
	f.set("key_prod", "2026-12-01", 1)
	f.set("key_stage", "2026-12-01", 1)
}

func hasRow(table, row string) bool {
	for _, l := range strings.Split(table, "\n") {
		if strings.Join(strings.Fields(l), " ") == row {
			return true
		}
	}
	return false
}

func TestReconcileExtraUsage(t *testing.T) {
	e, f := reconcileEnv(t)
	matchingLedger(e, f)
	// One request with prod's key that okv's proxy did not make.
	f.set("key_prod", "2026-11-30", 4)

	out, errs := e.fail(1, "", "usage", "--remote", "--check", "--since", "2d")
	w := warnings(errs)
	if len(w) != 1 {
		t.Fatalf("want exactly one finding, got %d:\n%s", len(w), errs)
	}
	want := "okv: warning: OPENAI_API_KEY in prod: 1 request on 2026-11-30 not made through okv — if you did not make them, rotate now: okv rotate -p prod"
	if w[0] != want {
		t.Errorf("finding\n%s\nwant\n%s", w[0], want)
	}
	if !hasRow(out, "prod key_prod 2026-11-30 4 3 1") {
		t.Errorf("table:\n%s", out)
	}

	matchingLedgerAgain(f)
	f.set("key_prod", "2026-11-30", 1243)
	_, errs = e.fail(1, "", "status", "--check")
	w = warnings(errs)
	if len(w) != 1 || !strings.Contains(w[0], "OPENAI_API_KEY in prod: 1,240 requests on 2026-11-30 not made through okv") {
		t.Fatalf("status --check findings:\n%s", errs)
	}
	// A finding is found on the day asked for only.
	matchingLedgerAgain(f)
	f.set("key_prod", "2026-11-30", 4)
	e.ok("", "status", "--check", "--check-days", "1")
}

func TestReconcilePagination(t *testing.T) {
	e, f := reconcileEnv(t)
	matchingLedger(e, f)
	// Four days, one page each; the leak is on the last page only.
	f.set("key_stage", "2026-12-01", 2)
	_, errs := e.fail(1, "", "usage", "--remote", "--check", "--since", "4d")
	w := warnings(errs)
	if len(w) != 1 || !strings.Contains(w[0], "OPENAI_API_KEY in stage: 1 request on 2026-12-01 not made through okv") {
		t.Fatalf("findings:\n%s", errs)
	}
	want := []string{"", "AAAAAGdGxd01JdKO", "AAAAAGdGxd02JdKO", "AAAAAGdGxd03JdKO"}
	if strings.Join(f.pages, " ") != strings.Join(want, " ") {
		t.Errorf("pages asked for %q, want %q", f.pages, want)
	}
}

func TestReconcileHandedOut(t *testing.T) {
	e, f := reconcileEnv(t)
	matchingLedger(e, f)
	// okv gave prod's key to a command without the proxy today.
	e.ok("", "get", "OPENAI_API_KEY", "-p", "prod")
	e.ok("", "get", "OPENAI_API_KEY", "-p", "prod")
	f.set("key_prod", "2026-12-01", 6)

	_, errs := e.ok("", "usage", "--remote", "--check", "--since", "2d")
	w := warnings(errs)
	if len(w) != 1 {
		t.Fatalf("want one finding:\n%s", errs)
	}
	mustContain(t, "soft finding", w[0], "OPENAI_API_KEY in prod: 5 requests on 2026-12-01 not made through okv's proxy; okv gave the key to 2 commands that day without the proxy (okv get) and cannot tell their requests apart — if they were not yours, rotate now: okv rotate -p prod")
	mustContain(t, "hint", errs, "okv: hint: with 'okv policy set -p prod proxy=true'")

	// Yesterday's hand-outs do not soften today's: a leak on a day okv
	// gave nothing out is a finding.
	matchingLedgerAgain(f)
	f.set("key_prod", "2026-11-30", 5)
	_, errs = e.fail(1, "", "status", "--check")
	w = warnings(errs)
	if len(w) != 1 || !strings.Contains(w[0], "2 requests on 2026-11-30 not made through okv — if you did not make them") {
		t.Fatalf("findings:\n%s", errs)
	}

	// A profile pinned to proxy mode: always a finding.
	e.ok("", "policy", "set", "-p", "prod", "proxy=true")
	e.updateConfig(func(c *vault.Config) { c.Profiles["prod"].APIKeyID = "key_prod" })
	matchingLedgerAgain(f)
	f.set("key_prod", "2026-12-01", 6)
	_, errs = e.fail(1, "", "usage", "--remote", "--check", "--since", "2d")
	w = warnings(errs)
	if len(w) != 1 || !strings.Contains(w[0], "OPENAI_API_KEY in prod: 5 requests on 2026-12-01 not made through okv — if you did not make them, rotate now") {
		t.Fatalf("pinned profile findings:\n%s", errs)
	}
}

func TestReconcileMidnight(t *testing.T) {
	e, f := reconcileEnv(t)
	// A stream started at 23:59:58 and ran 5 s into the next day: OpenAI
	// may count it on either day.
	e.ledger(chat("prod", at("2026-11-30", 23, 59, 58), 5000))
	f.set("key_prod", "2026-12-01", 1)
	_, errs := e.ok("", "usage", "--remote", "--check", "--since", "2d")
	if w := warnings(errs); len(w) != 0 {
		t.Fatalf("a request across midnight counted on its second day is a finding:\n%s", errs)
	}
	f.set("key_prod", "2026-11-30", 1)
	f.set("key_prod", "2026-12-01", 0)
	e.ok("", "usage", "--remote", "--check", "--since", "2d")

	// It counts once: reported on both days, one of them is not okv's.
	f.set("key_prod", "2026-11-30", 1)
	f.set("key_prod", "2026-12-01", 1)
	_, errs = e.fail(1, "", "usage", "--remote", "--check", "--since", "2d")
	if w := warnings(errs); len(w) != 1 || !strings.Contains(w[0], "1 request on 2026-12-01 not made through okv") {
		t.Fatalf("findings:\n%s", errs)
	}

	// A request that ended before midnight counts on its own day only.
	f.set("key_prod", "2026-12-01", 0)
	e.ledger(chat("stage", at("2026-11-30", 23, 59, 0), 100))
	f.set("key_stage", "2026-12-01", 1)
	_, errs = e.fail(1, "", "usage", "--remote", "--check", "--since", "2d")
	if w := warnings(errs); len(w) != 1 || !strings.Contains(w[0], "OPENAI_API_KEY in stage: 1 request on 2026-12-01") {
		t.Fatalf("findings:\n%s", errs)
	}
}

func TestReconcileCosts(t *testing.T) {
	e, f := reconcileEnv(t)
	matchingLedger(e, f)
	f.costs["proj_abc"] = map[string]float64{"2026-11-30": 0.25}
	out, _ := e.ok("", "usage", "--remote", "--check", "--since", "2d")
	if !hasRow(out, "PROJECT DAY OPENAI USD OKV USD") || !strings.Contains(out, "proj_abc") || !strings.Contains(out, "0.2500") {
		t.Errorf("no cost table:\n%s", out)
	}
	if f.costCall != 1 {
		t.Errorf("costs asked %d times", f.costCall)
	}
}

func TestReconcileNoAdminProfile(t *testing.T) {
	e, f := reconcileEnv(t)
	matchingLedger(e, f)
	f.set("key_prod", "2026-11-30", 9)
	e.ok("y\n", "profile", "rm", "admin", "--yes")
	// okv status --check without an admin profile checks rotation only.
	_, errs := e.ok("", "status", "--check")
	mustNotContain(t, "status", errs, "OPENAI_API_KEY in prod")
	// Named, it must exist.
	_, errs = e.fail(1, "", "status", "--check", "--admin-profile", "ops")
	mustContain(t, "named admin", errs, "profile ops, which does not exist")
	_, errs = e.fail(1, "", "usage", "--remote", "--check")
	mustContain(t, "usage check", errs, "profile admin, which does not exist")
}

func TestReconcileBatch(t *testing.T) {
	e, f := reconcileEnv(t)
	matchingLedger(e, f)
	// 500 batch requests with prod's key, and okv never submitted a batch.
	f.batch["key_prod"] = map[string]int64{"2026-12-01": 500}
	_, errs := e.fail(1, "", "usage", "--remote", "--check", "--since", "2d")
	if w := warnings(errs); len(w) != 1 || !strings.Contains(w[0], "OPENAI_API_KEY in prod: 500 requests on 2026-12-01 not made through okv") {
		t.Fatalf("findings:\n%s", errs)
	}
	// okv's proxy submitted a batch job the day before: its requests are
	// not counted against okv.
	sub := chat("prod", at("2026-11-30", 22, 0, 0), 300)
	sub.Path = "/v1/batches"
	e.ledger(sub)
	out, errs := e.ok("", "usage", "--remote", "--check", "--since", "2d")
	if w := warnings(errs); len(w) != 0 {
		t.Fatalf("findings:\n%s", errs)
	}
	mustContain(t, "table", out, "batch jobs okv submitted not counted")
}

func TestReconcileSharedKey(t *testing.T) {
	e, f := reconcileEnv(t)
	matchingLedger(e, f)
	// prod2 holds prod's key: requests through either profile are okv's.
	e.ok("", "profile", "copy", "prod", "prod2")
	e.updateConfig(func(c *vault.Config) { c.Profiles["prod2"] = &vault.Policy{APIKeyID: "key_prod"} })
	e.ledger(chat("prod2", at("2026-12-01", 8, 45, 0), 100))
	f.set("key_prod", "2026-12-01", 2)
	out, errs := e.ok("", "usage", "--remote", "--check", "--since", "2d")
	if w := warnings(errs); len(w) != 0 || !hasRow(out, "prod,prod2 key_prod 2026-12-01 2 2 0") {
		t.Fatalf("shared key:\n%s\n%s", out, errs)
	}
	f.set("key_prod", "2026-12-01", 3)
	_, errs = e.fail(1, "", "usage", "--remote", "--check", "--since", "2d")
	if w := warnings(errs); len(w) != 1 || !strings.Contains(w[0], "OPENAI_API_KEY in prod, prod2: 1 request on 2026-12-01") {
		t.Fatalf("findings:\n%s", errs)
	}
}

func TestReconcileUsageErrors(t *testing.T) {
	e, _ := reconcileEnv(t)
	_, errs := e.fail(2, "", "usage", "--check")
	mustContain(t, "no --remote", errs, "use it with --remote")
	_, errs = e.fail(2, "", "usage", "--remote", "--check", "--json")
	mustContain(t, "json", errs, "drop --by and --json")
	_, errs = e.fail(2, "", "status", "--check", "--check-days", "0")
	mustContain(t, "days", errs, "--check-days 0: want 1 or more")
}
