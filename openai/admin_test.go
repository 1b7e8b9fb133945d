package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A loopback fake of GET /v1/organization/costs in its documented shape
// (the live API cannot be reached here): pages of daily buckets of
// organization.costs.result, has_more and an opaque next_page cursor.
func TestCostsPages(t *testing.T) {
	var pages []string
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		pages = append(pages, q.Get("page"))
		if r.URL.Path != "/v1/organization/costs" || q.Get("bucket_width") != "1d" || q.Get("group_by") != "project_id" || q.Get("project_ids") != "proj_a" {
			w.WriteHeader(400)
			return
		}
		n := len(pages)
		more := `"has_more": true, "next_page": "cur` + fmt.Sprint(n) + `"`
		if n == 3 {
			more = `"has_more": false, "next_page": null`
		}
		fmt.Fprintf(w, `{"object": "page", "data": [{"object": "bucket", "start_time": %d, "end_time": %d, "results": [
			{"object": "organization.costs.result", "amount": {"value": %d.5, "currency": "usd"}, "line_item": null, "project_id": "proj_a"}]}], %s}`,
			86400*n, 86400*(n+1), n, more)
	})
	c := &Client{BaseURL: srv.URL, Key: "sk-admin-x"}
	b, err := c.Costs(context.Background(), CostsQuery{Start: time.Unix(86400, 0), GroupBy: []string{"project_id"}, ProjectIDs: []string{"proj_a"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pages, ",") != ",cur1,cur2" || len(b) != 3 || b[2].Results[0].Amount.Value != 3.5 || b[0].Results[0].ProjectID != "proj_a" {
		t.Errorf("pages %q, buckets %+v", pages, b)
	}
}

// A server that never stops saying has_more is an error, not a report cut
// short without a word.
func TestUsageUnending(t *testing.T) {
	n := 0
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		n++
		fmt.Fprintf(w, `{"object": "page", "data": [], "has_more": true, "next_page": "p%d"}`, n)
	})
	c := &Client{BaseURL: srv.URL, Key: "sk-admin-x"}
	_, err := c.CompletionsUsage(context.Background(), UsageQuery{Start: time.Unix(86400, 0)})
	var ae *APIError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "more pages after 50") || n != maxPages {
		t.Errorf("err %v after %d pages", err, n)
	}
	_, err = c.Costs(context.Background(), CostsQuery{Start: time.Unix(86400, 0)})
	if err == nil {
		t.Error("costs: no error")
	}
}
