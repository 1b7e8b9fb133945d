package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The Admin API needs an admin key (sk-admin-…), created by an
// organization owner; the Client's Key holds it.

// ServiceAccount is a project service account, as created by
// POST /v1/organization/projects/{project_id}/service_accounts.
type ServiceAccount struct {
	Object    string             `json:"object"`
	ID        string             `json:"id"`
	Name      string             `json:"name"`
	Role      string             `json:"role"`
	CreatedAt int64              `json:"created_at"`
	APIKey    *ServiceAccountKey `json:"api_key"`
}

// ServiceAccountKey is the key created with a service account. Value is
// returned unredacted once, at creation.
type ServiceAccountKey struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt int64  `json:"created_at"`
	Value     Secret `json:"value"`
}

// validID: ^[A-Za-z0-9_-]{1,128}$ (checked by hand: no regexp at start-up).
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidateID checks a project, service account or key id before it goes
// into a URL path.
func ValidateID(what, id string) error {
	if !validID(id) {
		return fmt.Errorf("invalid %s %q: want letters, digits, '_' and '-' (like proj_abc123)", what, clipText(id, 80))
	}
	return nil
}

// CreateServiceAccount creates a service account named name in project.
// OpenAI returns its first API key with it. When the account was created
// but the answer carries no usable key, the account is returned together
// with the error, so the caller can delete it.
func (c *Client) CreateServiceAccount(ctx context.Context, project, name string) (*ServiceAccount, error) {
	if err := ValidateID("project id", project); err != nil {
		return nil, err
	}
	var sa ServiceAccount
	path := "/v1/organization/projects/" + url.PathEscape(project) + "/service_accounts"
	if err := c.do(ctx, http.MethodPost, path, nil, map[string]string{"name": name}, &sa); err != nil {
		return nil, err
	}
	switch {
	case sa.ID == "":
		return nil, &APIError{Host: c.host(), Method: http.MethodPost, Path: path, Status: http.StatusOK, Message: "the answer names no service account id"}
	case ValidateID("service account id", sa.ID) != nil:
		return nil, &APIError{Host: c.host(), Method: http.MethodPost, Path: path, Status: http.StatusOK, Message: "the answer's service account id is malformed"}
	case sa.APIKey == nil || sa.APIKey.Value == "":
		return &sa, &APIError{Host: c.host(), Method: http.MethodPost, Path: path, Status: http.StatusOK, Message: "the answer carries no api_key.value"}
	}
	return &sa, nil
}

// DeleteServiceAccount deletes a project service account, and with it its
// keys. A 404 comes back as an error matching ErrNotFound.
func (c *Client) DeleteServiceAccount(ctx context.Context, project, id string) error {
	if err := ValidateID("project id", project); err != nil {
		return err
	}
	if err := ValidateID("service account id", id); err != nil {
		return err
	}
	var out struct {
		ID      string `json:"id"`
		Deleted *bool  `json:"deleted"`
	}
	path := "/v1/organization/projects/" + url.PathEscape(project) + "/service_accounts/" + url.PathEscape(id)
	if err := c.do(ctx, http.MethodDelete, path, nil, nil, &out); err != nil {
		return err
	}
	if out.Deleted != nil && !*out.Deleted {
		return &APIError{Host: c.host(), Method: http.MethodDelete, Path: path, Status: http.StatusOK, Message: `the answer says "deleted": false`}
	}
	return nil
}

// ProjectAPIKey is one entry of GET /v1/organization/projects/{id}/api_keys.
type ProjectAPIKey struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	RedactedValue string `json:"redacted_value"` // "sk-abc...wxyz"
	CreatedAt     int64  `json:"created_at"`
	LastUsedAt    int64  `json:"last_used_at"`
}

// ProjectAPIKeys lists a project's API keys (redacted), every page.
func (c *Client) ProjectAPIKeys(ctx context.Context, project string) ([]ProjectAPIKey, error) {
	if err := ValidateID("project id", project); err != nil {
		return nil, err
	}
	path := "/v1/organization/projects/" + url.PathEscape(project) + "/api_keys"
	var all []ProjectAPIKey
	after := ""
	for range maxPages {
		q := url.Values{"limit": {"100"}}
		if after != "" {
			q.Set("after", after)
		}
		var page struct {
			Data    []ProjectAPIKey `json:"data"`
			HasMore bool            `json:"has_more"`
			LastID  string          `json:"last_id"`
		}
		if err := c.do(ctx, http.MethodGet, path, q, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if !page.HasMore || page.LastID == "" || page.LastID == after {
			return all, nil
		}
		after = page.LastID
	}
	return all, nil
}

// MatchRedacted reports whether value fits a redacted form such as
// "sk-abc...wxyz" (the visible start and end of the key).
func MatchRedacted(redacted, value string) bool {
	for _, sep := range []string{"...", "…", "****"} {
		if pre, suf, ok := strings.Cut(redacted, sep); ok {
			suf = strings.TrimLeft(suf, ".*…")
			return len(pre)+len(suf) < len(value) && len(pre)+len(suf) >= 6 &&
				strings.HasPrefix(value, pre) && strings.HasSuffix(value, suf)
		}
	}
	return false
}

// maxPages bounds pagination, against a server that never says it is done.
const maxPages = 50

// errUnending: a report still had more pages after maxPages. Returning
// what was read would pass a partial report off as the whole.
func errUnending(c *Client, path string) error {
	return &APIError{Host: c.host(), Method: http.MethodGet, Path: path, Status: http.StatusOK,
		Message: fmt.Sprintf("the report still had more pages after %d", maxPages)}
}

// UsageQuery selects a completions usage report.
type UsageQuery struct {
	Start, End  time.Time // End zero: now
	BucketWidth string    // "1d" (default), "1h" or "1m"
	GroupBy     []string  // e.g. "api_key_id", "model"
	APIKeyIDs   []string
	ProjectIDs  []string
}

// UsageBucket is one time bucket of the report.
type UsageBucket struct {
	StartTime int64         `json:"start_time"`
	EndTime   int64         `json:"end_time"`
	Results   []UsageResult `json:"results"`
}

// UsageResult is the usage of one group within a bucket.
type UsageResult struct {
	InputTokens       int64  `json:"input_tokens"`
	OutputTokens      int64  `json:"output_tokens"`
	InputCachedTokens int64  `json:"input_cached_tokens"`
	InputAudioTokens  int64  `json:"input_audio_tokens"`
	OutputAudioTokens int64  `json:"output_audio_tokens"`
	NumModelRequests  int64  `json:"num_model_requests"`
	ProjectID         string `json:"project_id"`
	UserID            string `json:"user_id"`
	APIKeyID          string `json:"api_key_id"`
	Model             string `json:"model"`
	// Batch, when grouped by batch: whether these were Batch API requests.
	Batch *bool `json:"batch"`
}

// CompletionsUsage reads GET /v1/organization/usage/completions, every page.
func (c *Client) CompletionsUsage(ctx context.Context, q UsageQuery) ([]UsageBucket, error) {
	if q.Start.IsZero() {
		return nil, errors.New("usage query needs a start time")
	}
	width := q.BucketWidth
	if width == "" {
		width = "1d"
	}
	// The API's largest page per bucket width.
	limit := map[string]string{"1d": "31", "1h": "168", "1m": "1440"}[width]
	if limit == "" {
		return nil, fmt.Errorf("invalid bucket width %q: want 1d, 1h or 1m", width)
	}
	params := url.Values{
		"start_time":   {strconv.FormatInt(q.Start.Unix(), 10)},
		"bucket_width": {width},
		"limit":        {limit},
	}
	if !q.End.IsZero() {
		params.Set("end_time", strconv.FormatInt(q.End.Unix(), 10))
	}
	for _, g := range q.GroupBy {
		params.Add("group_by", g)
	}
	for _, id := range q.APIKeyIDs {
		params.Add("api_key_ids", id)
	}
	for _, id := range q.ProjectIDs {
		params.Add("project_ids", id)
	}
	return pages[UsageBucket](ctx, c, "/v1/organization/usage/completions", params)
}

func (c *Client) host() string {
	u, err := ParseBaseURL(c.BaseURL)
	if err != nil {
		return "?"
	}
	return u.Host
}

// CostsQuery selects a costs report. OpenAI groups costs by project and
// line item only, never by API key.
type CostsQuery struct {
	Start, End time.Time // End zero: now
	GroupBy    []string  // "project_id", "line_item"
	ProjectIDs []string
}

// CostBucket is one day of the costs report.
type CostBucket struct {
	StartTime int64        `json:"start_time"`
	EndTime   int64        `json:"end_time"`
	Results   []CostResult `json:"results"`
}

// CostResult is the cost of one group within a bucket.
type CostResult struct {
	Amount struct {
		Value    float64 `json:"value"`
		Currency string  `json:"currency"` // lowercase ISO 4217, "usd"
	} `json:"amount"`
	LineItem  string `json:"line_item"`
	ProjectID string `json:"project_id"`
}

// Costs reads GET /v1/organization/costs (daily buckets), every page.
func (c *Client) Costs(ctx context.Context, q CostsQuery) ([]CostBucket, error) {
	if q.Start.IsZero() {
		return nil, errors.New("costs query needs a start time")
	}
	params := url.Values{
		"start_time":   {strconv.FormatInt(q.Start.Unix(), 10)},
		"bucket_width": {"1d"},
		"limit":        {"180"}, // the API's largest page
	}
	if !q.End.IsZero() {
		params.Set("end_time", strconv.FormatInt(q.End.Unix(), 10))
	}
	for _, g := range q.GroupBy {
		params.Add("group_by", g)
	}
	for _, id := range q.ProjectIDs {
		params.Add("project_ids", id)
	}
	return pages[CostBucket](ctx, c, "/v1/organization/costs", params)
}

// pages reads every page of a paged Admin API report: has_more and
// next_page, passed back as page, until has_more is false or the cursor
// comes back unchanged. A report that does not end within maxPages is an
// error, never a report cut short.
func pages[T any](ctx context.Context, c *Client, path string, params url.Values) ([]T, error) {
	var all []T
	for range maxPages {
		var page struct {
			Data     []T    `json:"data"`
			HasMore  bool   `json:"has_more"`
			NextPage string `json:"next_page"`
		}
		if err := c.do(ctx, http.MethodGet, path, params, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if !page.HasMore || page.NextPage == "" || page.NextPage == params.Get("page") {
			return all, nil
		}
		params.Set("page", page.NextPage)
	}
	return nil, errUnending(c, path)
}
