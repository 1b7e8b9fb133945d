package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// OpenAI is the OpenAI API (and gateways that speak it): the key as
// "Authorization: Bearer", OPENAI_ORG_ID and OPENAI_PROJECT_ID as
// OpenAI-Organization and OpenAI-Project, and the variables the official
// SDKs read.
var OpenAI = &Provider{
	Name:            "openai",
	DefaultUpstream: "https://api.openai.com",
	BasePath:        "/v1",
	KeyHeader:       "Authorization",
	KeyPrefix:       "Bearer ",
	KeyVar:          "OPENAI_API_KEY",
	BaseURLVar:      "OPENAI_BASE_URL",
	Credentials: []Credential{
		{Secret: "OPENAI_ORG_ID", Header: "OpenAI-Organization"},
		{Secret: "OPENAI_PROJECT_ID", Header: "OpenAI-Project"},
	},
	Withheld:  []string{"OPENAI_ADMIN_KEY"},
	Models:    openAIModels,
	Usage:     openAIUsage,
	ErrorBody: openAIError,

	StreamUsage: openAIStreamUsage,
	MaxOutput:   openAIMaxOutput,
	ModelFree:   openAIModelFree,
	Unchecked:   []string{"/v1/batches"},
	// Client secrets and sessions return an ek_… key; /v1/realtime/calls
	// starts a WebRTC session whose media and events flow between the
	// client and OpenAI, never through the proxy.
	Minting: []string{"/v1/realtime/client_secrets", "/v1/realtime/sessions", "/v1/realtime/transcription_sessions",
		"/v1/realtime/calls"},
}

// openAIModelFree is the list of requests that run no model: reading,
// listing and deleting (GET, HEAD, DELETE, never a WebSocket) under the
// endpoints below, and uploading a file (POST /v1/files; a batch file's
// lines are checked, see formModels).
func openAIModelFree(r *http.Request) bool {
	p := r.URL.Path
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodDelete:
		if r.Header.Get("Upgrade") != "" {
			return false
		}
		for _, ep := range []string{"/v1/models", "/v1/files", "/v1/responses", "/v1/chat/completions",
			"/v1/conversations", "/v1/vector_stores", "/v1/assistants", "/v1/threads", "/v1/fine_tuning",
			"/v1/uploads", "/v1/containers", "/v1/evals"} {
			if p == ep || strings.HasPrefix(p, ep+"/") {
				return true
			}
		}
	case http.MethodPost:
		return p == "/v1/files"
	}
	return false
}

// openAIMaxOutput reads max_completion_tokens, max_tokens (chat
// completions, completions) or max_output_tokens (Responses), times n,
// from the members the model check split the body into (bodyMembers:
// split once per request). Only those members' values are decoded: the
// messages, most of a body, are not read again.
func openAIMaxOutput(r *http.Request, body []byte) int64 {
	ms, _, err := bodyMembers(r, body)
	if err != nil {
		return 0
	}
	var most, n int64 = 0, 1
	for _, m := range ms {
		var into *int64
		switch m.key {
		case "max_completion_tokens", "max_tokens", "max_output_tokens":
			into = &most
		case "n", "best_of":
			into = &n
		default:
			continue
		}
		var v int64
		if json.Unmarshal(m.val, &v) != nil || v <= 0 {
			continue
		}
		*into = max(*into, v)
	}
	return most * n
}

// openAIModels finds the models of a request: the query's "model", and
// the body's top-level "model" (JSON) or "model" field (multipart and
// url-encoded forms, as file uploads and transcriptions send it).
func openAIModels(r *http.Request, body []byte) ([]string, error) {
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	if qerr != nil {
		qerr = ErrQuery
	}
	models := q["model"]
	if body == nil {
		return models, qerr
	}
	kind, params := classifyBody(r.Header.Get("Content-Type"))
	var found []string
	var err error
	switch {
	case kind == bodyJSON || kind == bodyOpaque && looksJSON(body):
		ms, _, merr := bodyMembers(r, body)
		found, err = openAIMembersModels(ms, merr)
	case kind == bodyMultipart || kind == bodyForm:
		var upload map[string][][]byte
		if kind == bodyMultipart && r.URL.Path == "/v1/files" {
			upload = map[string][][]byte{"purpose": nil, "file": nil}
		}
		found, err = formModels(kind, params, body, upload)
		if err == nil && upload != nil {
			var lines []string
			lines, err = batchFileModels(upload)
			found = append(found, lines...)
		}
	default:
		err = errors.New("send JSON or a form, so the model can be checked")
	}
	// The body's model first: it is the one recorded.
	models = append(found, models...)
	if qerr != nil {
		return models, qerr
	}
	return models, err
}

// openAIUsage reads "usage" (chat completions, completions, embeddings,
// the Responses API) or "response"."usage" (Responses API stream events).
// The last document carrying usage wins: a stream's final chunk has the
// whole request's.
func openAIUsage(doc []byte, t *Tokens) bool {
	type counts struct {
		Prompt     int64 `json:"prompt_tokens"`
		Completion int64 `json:"completion_tokens"`
		Input      int64 `json:"input_tokens"`
		Output     int64 `json:"output_tokens"`
		Total      int64 `json:"total_tokens"`
		// The part of the prompt read from OpenAI's prompt cache, billed
		// at the cached-input price.
		PromptDetails struct {
			Cached int64 `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
		InputDetails struct {
			Cached int64 `json:"cached_tokens"`
		} `json:"input_tokens_details"`
	}
	var v struct {
		Usage    *counts `json:"usage"`
		Response struct {
			Usage *counts `json:"usage"`
		} `json:"response"`
	}
	// A field of the wrong type (a float, a string) is left at zero;
	// json.Unmarshal fills the rest.
	var te *json.UnmarshalTypeError
	if err := json.Unmarshal(doc, &v); err != nil && !errors.As(err, &te) {
		return false
	}
	c := v.Usage
	if c == nil {
		c = v.Response.Usage
	}
	if c == nil {
		return false
	}
	got := Tokens{Prompt: max(c.Prompt, 0), Completion: max(c.Completion, 0), Total: max(c.Total, 0)}
	if got.Prompt == 0 {
		got.Prompt = max(c.Input, 0)
	}
	if got.Completion == 0 {
		got.Completion = max(c.Output, 0)
	}
	if got.Total == 0 {
		got.Total = got.Prompt + got.Completion
	}
	got.CacheRead = min(max(c.PromptDetails.Cached, c.InputDetails.Cached, 0), got.Prompt)
	*t = got
	return true
}

// openAIError is OpenAI's error shape:
// {"error":{"message":…,"type":…,"param":null,"code":…}}.
func openAIError(e *Refusal) []byte {
	type detail struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	d := detail{Message: "okv proxy: " + e.Msg, Type: e.Type}
	if e.Code != "" {
		d.Code = &e.Code
	}
	b, _ := json.Marshal(struct {
		Error detail `json:"error"`
	}{d})
	return b
}

// openAIStreamUsage makes a streamed chat completion (or completion)
// count: OpenAI reports a stream's usage only when asked with
// stream_options.include_usage, and the SDKs do not ask by default. When
// the client did not ask, the proxy asks, and openAIDropUsage takes out
// what asking adds to the stream (the usage-only chunk before [DONE], and
// "usage":null in every other chunk). The Responses API always reports
// usage in its response.completed event.
func openAIStreamUsage(r *http.Request, body []byte) ([]byte, EventFilter) {
	if p := r.URL.Path; p != "/v1/chat/completions" && p != "/v1/completions" || r.Method != http.MethodPost {
		return nil, nil
	}
	// No "stream" key, written plainly or with escapes: not streamed.
	if !bytes.Contains(body, []byte("stream")) && bytes.IndexByte(body, '\\') < 0 {
		return nil, nil
	}
	ms, _, err := bodyMembers(r, body)
	if err != nil {
		return nil, nil // refused or answered by the upstream as it is
	}
	streamed, opts := false, -1
	for i, m := range ms {
		switch m.key {
		case "stream":
			streamed = string(m.val) == "true"
		case "stream_options":
			opts = i
		}
	}
	if !streamed {
		return nil, nil
	}
	if opts < 0 {
		return appendMember(body, ms, "stream_options", []byte(`{"include_usage":true}`)), openAIDropUsage
	}
	if string(ms[opts].val) == "null" {
		return replaceValue(body, ms[opts], []byte(`{"include_usage":true}`)), openAIDropUsage
	}
	om, _, err := objectMembers(ms[opts].val)
	if err != nil {
		return nil, nil // not an object: the upstream refuses it
	}
	for i, m := range om {
		if m.key == "include_usage" {
			if string(m.val) == "true" {
				return nil, nil // the client asked: it gets the usage chunk
			}
			v := replaceValue(ms[opts].val, om[i], []byte("true"))
			return replaceValue(body, ms[opts], v), openAIDropUsage
		}
	}
	var v []byte
	if len(om) == 0 {
		v = []byte(`{"include_usage":true}`)
	} else {
		v = appendMember(ms[opts].val, om, "include_usage", []byte("true"))
	}
	return replaceValue(body, ms[opts], v), openAIDropUsage
}

// openAIDropUsage drops the usage-only chunk ("choices":[] with a usage
// object) and removes a top-level "usage":null from every other chunk.
func openAIDropUsage(data []byte) ([]byte, bool) {
	if !bytes.Contains(data, usageKey) {
		return data, false
	}
	ms, close, err := objectMembers(data)
	if err != nil {
		return data, false // "[DONE]", or not JSON
	}
	u, emptyChoices := -1, false
	for i, m := range ms {
		switch m.key {
		case "usage":
			u = i
		case "choices":
			emptyChoices = string(bytes.Join(bytes.Fields(m.val), nil)) == "[]"
		}
	}
	switch {
	case u < 0:
		return data, false
	case string(ms[u].val) == "null":
		return withoutMember(data, ms, u, close), false
	case emptyChoices:
		return nil, true
	}
	return data, false
}

var (
	errModelNull = errors.New(`"model" is null`)
	errModelCase = errors.New(`a key differs from "model" only in case`)
)

// openAIJSONModels returns the models a JSON request body names: its
// top-level "model", the "model" of each of its "tools" (the Responses
// API's image_generation tool) and of its "session" (Realtime sessions
// and client secrets). At each of these levels a key given twice, a
// "model" that is null or not a string, and a key that equals "model"
// only when case is ignored (an upstream may match keys so) are errors.
func openAIJSONModels(b []byte) ([]string, error) {
	ms, _, err := objectMembers(b)
	return openAIMembersModels(ms, err)
}

// openAIMembersModels is openAIJSONModels of a body already split into
// its members (ms, err from objectMembers).
func openAIMembersModels(ms []member, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	var models []string
	if err := modelOf(ms, &models); err != nil {
		return nil, err
	}
	for _, m := range ms {
		switch m.key {
		case "tools":
			var tools []json.RawMessage
			if json.Unmarshal(m.val, &tools) != nil {
				continue // not an array: the upstream refuses it
			}
			for _, t := range tools {
				if looksJSON(t) {
					tm, _, err := objectMembers(t)
					if err != nil {
						return nil, err
					}
					if err := modelOf(tm, &models); err != nil {
						return nil, err
					}
				}
			}
		case "session":
			if looksJSON(m.val) {
				sm, _, err := objectMembers(m.val)
				if err != nil {
					return nil, err
				}
				if err := modelOf(sm, &models); err != nil {
					return nil, err
				}
			}
		}
	}
	return models, nil
}

// modelOf appends the "model" among one object's members.
func modelOf(ms []member, models *[]string) error {
	seen := false
	for _, m := range ms {
		if m.key != "model" {
			if strings.EqualFold(m.key, "model") {
				return errModelCase
			}
			continue
		}
		if seen {
			return errModelTwice
		}
		seen = true
		if string(m.val) == "null" {
			return errModelNull
		}
		var s string
		if json.Unmarshal(m.val, &s) != nil {
			return errModelNotText
		}
		*models = append(*models, s)
	}
	return nil
}

// batchFileModels reads a file upload's fields (POST /v1/files, the
// "purpose" and "file" parts as formModels collected them): for a batch
// file (purpose=batch), the models of each JSONL line's "body" (every
// line must name one), as the Batch API will run them. Other uploads name
// no model.
func batchFileModels(upload map[string][][]byte) ([]string, error) {
	var purpose string
	if ps := upload["purpose"]; len(ps) > 0 {
		purpose = string(ps[len(ps)-1])
	}
	if strings.TrimSpace(purpose) != "batch" {
		return nil, nil
	}
	if len(upload["file"]) != 1 {
		return nil, errors.New("a batch upload must hold one file")
	}
	file := upload["file"][0]
	var models []string
	for n, line := range bytes.Split(file, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		bad := fmt.Errorf("line %d of the batch file names no model okv can check", n+1)
		ms, _, err := objectMembers(line)
		if err != nil {
			return nil, bad
		}
		var found []string
		for _, m := range ms {
			if strings.EqualFold(m.key, "body") {
				if m.key != "body" || found != nil {
					return nil, bad
				}
				if found, err = openAIJSONModels(m.val); err != nil {
					return nil, fmt.Errorf("line %d of the batch file: %w", n+1, err)
				}
				found = append([]string{}, found...)
			}
		}
		if len(found) == 0 {
			return nil, bad
		}
		models = append(models, found...)
	}
	return models, nil
}
