package proxy

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Anthropic is the Claude API as the official SDKs call it
// (@anthropic-ai/sdk, anthropic for Python): the key in x-api-key
// without a prefix (the client's token also as Authorization: Bearer), anthropic-version and anthropic-beta passed through,
// ANTHROPIC_BASE_URL naming the host only (the SDK adds /v1/messages).
// ANTHROPIC_AUTH_TOKEN (a bearer token the SDK sends as Authorization)
// and an admin key never enter a proxied child.
var Anthropic = &Provider{
	Name:            "anthropic",
	DefaultUpstream: "https://api.anthropic.com",
	BasePath:        "/v1",
	KeyHeader:       "X-Api-Key",
	// @anthropic-ai/sdk 1.x sends ANTHROPIC_API_KEY as a bearer token
	// (0.x sent x-api-key); the API documents x-api-key, which okv sends.
	AltKeyHeader:    "Authorization",
	AltKeyPrefix:    "Bearer ",
	KeyVar:          "ANTHROPIC_API_KEY",
	BaseURLVar:      "ANTHROPIC_BASE_URL",
	HostOnlyBaseURL: true,
	Withheld:        []string{"ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_ADMIN_KEY"},
	Models: func(r *http.Request, body []byte) ([]string, error) {
		if body == nil {
			return nil, nil
		}
		return jsonModels(body)
	},
	MaxOutput: anthropicMaxOutput,
	Usage:     anthropicUsage,
	ErrorBody: anthropicError,
}

// anthropicUsage reads a Message's "usage" (a whole answer) and the
// events of a streamed one: message_start carries "message"."usage" with
// the input counts, each message_delta a "usage" whose counts are the
// totals so far (output_tokens always; the input counts when the API
// sends them again). A count absent from a document keeps its value.
func anthropicUsage(doc []byte, t *Tokens) bool {
	type counts struct {
		Input         *int64 `json:"input_tokens"`
		Output        *int64 `json:"output_tokens"`
		CacheCreation *int64 `json:"cache_creation_input_tokens"`
		CacheRead     *int64 `json:"cache_read_input_tokens"`
	}
	var v struct {
		Usage   *counts `json:"usage"`
		Message struct {
			Usage *counts `json:"usage"`
		} `json:"message"`
	}
	var te *json.UnmarshalTypeError
	if err := json.Unmarshal(doc, &v); err != nil && !errors.As(err, &te) {
		return false
	}
	c := v.Usage
	if c == nil {
		c = v.Message.Usage
	}
	if c == nil {
		return false
	}
	input := t.Prompt - t.CacheRead - t.CacheCreation
	set := func(dst *int64, p *int64) {
		if p != nil {
			*dst = max(*p, 0)
		}
	}
	set(&input, c.Input)
	set(&t.CacheRead, c.CacheRead)
	set(&t.CacheCreation, c.CacheCreation)
	set(&t.Completion, c.Output)
	// Input tokens are those after the last cache breakpoint: the prompt
	// the budget counts is all three.
	t.Prompt = input + t.CacheRead + t.CacheCreation
	t.Total = t.Prompt + t.Completion
	return true
}

// anthropicError is Anthropic's error shape:
// {"type":"error","error":{"type":"authentication_error","message":…}},
// the type chosen by status as the API documents its errors.
func anthropicError(e *Refusal) []byte {
	typ := "invalid_request_error"
	switch e.Status {
	case http.StatusUnauthorized:
		typ = "authentication_error"
	case http.StatusForbidden:
		typ = "permission_error"
	case http.StatusNotFound:
		typ = "not_found_error"
	case http.StatusRequestEntityTooLarge:
		typ = "request_too_large"
	case http.StatusTooManyRequests:
		typ = "rate_limit_error"
	default:
		if e.Status >= 500 {
			typ = "api_error"
		}
	}
	b, _ := json.Marshal(struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}{Type: "error", Error: struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}{typ, e.message()}})
	return b
}
