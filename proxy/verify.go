package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/okvault/okv/openai"
)

// verifyPath is the provider's cheapest authenticated request (listing
// models), path and query, and any header it needs.
func (pv *Provider) verifyRequest() (string, [2]string) {
	switch pv.Name {
	case "anthropic":
		return "/v1/models?limit=1", [2]string{"Anthropic-Version", "2023-06-01"}
	case "gemini":
		return "/v1beta/models?pageSize=1", [2]string{}
	case "azure":
		// The data-plane models list of the resource; any GA api-version.
		return "/openai/models?api-version=2024-10-21", [2]string{}
	}
	return pv.BasePath + "/models", [2]string{}
}

// Verify checks that key works against upstream (scheme://host[/path],
// https or loopback http, as openai.ParseBaseURL allows) with the
// provider's cheapest authenticated request, the key sent as the provider
// sends it. It returns nil on 2xx, else an *openai.APIError (whose kinds,
// openai.ErrUnauthorized …, are the same for every provider) or an
// *openai.NetworkError. The key never appears in the error.
func (pv *Provider) Verify(ctx context.Context, upstream, key string, hc *http.Client) error {
	if pv == OpenAI {
		return openai.Verify(ctx, upstream, key)
	}
	base, err := openai.ParseBaseURL(upstream)
	if err != nil {
		return err
	}
	pq, hdr := pv.verifyRequest()
	p, q, _ := strings.Cut(pq, "?")
	prefix := strings.TrimSuffix(base.Path, "/")
	if pv.BasePath != "" && strings.HasSuffix(prefix, pv.BasePath) {
		p = strings.TrimPrefix(p, pv.BasePath)
	}
	u := *base
	u.Path, u.RawQuery = prefix+p, q
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set(pv.KeyHeader, pv.KeyPrefix+key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "okv")
	if hdr[0] != "" {
		req.Header.Set(hdr[0], hdr[1])
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ne net.Error
		reason := "the request failed"
		if errors.As(err, &ne) && ne.Timeout() {
			reason = "timed out"
		}
		return &openai.NetworkError{Host: u.Host, Reason: reason, Err: err}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	e := &openai.APIError{Host: u.Host, Method: http.MethodGet, Path: u.Path, Status: resp.StatusCode}
	// Every provider here answers {"error":{"message":…,"type"|"status":…}}.
	var body struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil {
		e.Message = clip(strings.ReplaceAll(body.Error.Message, key, "<key>"), 300)
		e.Type = clip(body.Error.Type+body.Error.Status, 60)
	}
	// Gemini rejects a bad key with 400 INVALID_ARGUMENT "API key not
	// valid", as its documentation says: that is a rejected key.
	if pv.Name == "gemini" && resp.StatusCode == http.StatusBadRequest && strings.Contains(e.Message, "API key not valid") {
		e.Status = http.StatusUnauthorized
	}
	return e
}
