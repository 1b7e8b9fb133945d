package proxy

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Gemini is the Gemini API (generativelanguage.googleapis.com) as
// @google/genai and google-genai call it: the key in x-goog-api-key, the
// model in the path (/v1beta/models/gemini-2.0-flash:generateContent,
// :streamGenerateContent?alt=sse for a stream), usage in
// "usageMetadata". @google/genai reads GOOGLE_GEMINI_BASE_URL (host
// only; it adds /v1beta) and the key from GOOGLE_API_KEY, else
// GEMINI_API_KEY. The key sent as ?key= is refused: the token must not
// be in a URL. BasePath is empty: the API version is the path's first
// segment (v1beta, v1, v1alpha).
var Gemini = &Provider{
	Name:            "gemini",
	DefaultUpstream: "https://generativelanguage.googleapis.com",
	BasePath:        "",
	KeyHeader:       "X-Goog-Api-Key",
	KeyVar:          "GEMINI_API_KEY",
	BaseURLVar:      "GOOGLE_GEMINI_BASE_URL",
	HostOnlyBaseURL: true,
	// The SDK prefers GOOGLE_API_KEY to GEMINI_API_KEY: a real one left in
	// the child would be sent past the proxy.
	Withheld:  []string{"GOOGLE_API_KEY"},
	Models:    geminiModels,
	MaxOutput: geminiMaxOutput,
	Usage:     geminiUsage,
	ErrorBody: geminiError,
}

// GeminiGoogleKey is Gemini for a profile that holds its key as
// GOOGLE_API_KEY (and no GEMINI_API_KEY).
var GeminiGoogleKey = func() *Provider {
	c := *Gemini
	c.KeyVar, c.Withheld = "GOOGLE_API_KEY", []string{"GEMINI_API_KEY"}
	return &c
}()

// geminiModels reads the model from the path (".../models/NAME:method",
// ".../tunedModels/NAME:method") and a JSON body's "model"
// (cachedContents, batches), without the "models/" prefix.
func geminiModels(r *http.Request, body []byte) ([]string, error) {
	var models []string
	segs := strings.Split(r.URL.Path, "/")
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] == "models" || segs[i] == "tunedModels" {
			name, _, _ := strings.Cut(segs[i+1], ":")
			if name != "" {
				models = append(models, name)
			}
			break
		}
	}
	if body == nil {
		return models, nil
	}
	found, err := jsonModels(body)
	for _, m := range found {
		models = append(models, strings.TrimPrefix(m, "models/"))
	}
	if err != nil && len(models) > 0 && errors.Is(err, errNotObject) {
		// A request whose model is in the path may have any body.
		return models, nil
	}
	return models, err
}

// geminiUsage reads "usageMetadata": promptTokenCount (cached content
// included), candidatesTokenCount, thoughtsTokenCount (counted as
// output), totalTokenCount and cachedContentTokenCount. Each chunk of a
// stream carries the totals so far; the last wins.
func geminiUsage(doc []byte, t *Tokens) bool {
	var v struct {
		U *struct {
			Prompt     int64 `json:"promptTokenCount"`
			Candidates int64 `json:"candidatesTokenCount"`
			Thoughts   int64 `json:"thoughtsTokenCount"`
			ToolPrompt int64 `json:"toolUsePromptTokenCount"`
			Cached     int64 `json:"cachedContentTokenCount"`
			Total      int64 `json:"totalTokenCount"`
		} `json:"usageMetadata"`
	}
	var te *json.UnmarshalTypeError
	if err := json.Unmarshal(doc, &v); err != nil && !errors.As(err, &te) {
		return false
	}
	if v.U == nil {
		return false
	}
	u := v.U
	got := Tokens{
		Prompt:     max(u.Prompt, 0) + max(u.ToolPrompt, 0),
		Completion: max(u.Candidates, 0) + max(u.Thoughts, 0),
		CacheRead:  max(u.Cached, 0),
	}
	got.Total = max(u.Total, got.Prompt+got.Completion)
	*t = got
	return true
}

// geminiError is Google's error shape:
// {"error":{"code":401,"message":…,"status":"UNAUTHENTICATED"}}.
func geminiError(e *Refusal) []byte {
	status := "INVALID_ARGUMENT"
	switch e.Status {
	case http.StatusUnauthorized:
		status = "UNAUTHENTICATED"
	case http.StatusForbidden:
		status = "PERMISSION_DENIED"
	case http.StatusNotFound:
		status = "NOT_FOUND"
	case http.StatusMethodNotAllowed:
		status = "UNIMPLEMENTED"
	case http.StatusTooManyRequests:
		status = "RESOURCE_EXHAUSTED"
	default:
		if e.Status >= 500 {
			status = "INTERNAL"
		}
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": e.Status, "message": e.message(), "status": status}})
	return b
}
