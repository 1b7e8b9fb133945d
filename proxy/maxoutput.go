package proxy

import (
	"encoding/json"
	"net/http"
)

// anthropicMaxOutput reads a Messages request's max_tokens (the API
// requires it).
func anthropicMaxOutput(_ *http.Request, body []byte) int64 {
	var req struct {
		MaxTokens int64 `json:"max_tokens"`
	}
	if json.Unmarshal(body, &req) != nil || req.MaxTokens < 0 {
		return 0
	}
	return req.MaxTokens
}

// geminiMaxOutput reads generationConfig.maxOutputTokens, times
// candidateCount.
func geminiMaxOutput(_ *http.Request, body []byte) int64 {
	var req struct {
		GenerationConfig struct {
			MaxOutputTokens int64 `json:"maxOutputTokens"`
			CandidateCount  int64 `json:"candidateCount"`
		} `json:"generationConfig"`
	}
	if json.Unmarshal(body, &req) != nil {
		return 0
	}
	g := req.GenerationConfig
	if g.MaxOutputTokens <= 0 {
		return 0
	}
	return g.MaxOutputTokens * max(g.CandidateCount, 1)
}
