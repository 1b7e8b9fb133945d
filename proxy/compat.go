package proxy

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/okvault/okv/limits"
)

// Compatible is a provider that speaks OpenAI's API (bearer key, the
// body's "model", OpenAI's usage and error shapes) at another upstream:
// upstream is its OpenAI-compatible base URL, path included
// ("https://api.groq.com/openai/v1"); the child gets keyVar's token and
// baseURLVar = the proxy's URL with that path, which the openai SDK takes
// as baseURL. hostOnly gives the child the host only instead, for an SDK
// that adds the path itself (groq-sdk's GROQ_BASE_URL).
func Compatible(name, upstream, keyVar, baseURLVar string, hostOnly bool) (*Provider, error) {
	u, err := url.Parse(upstream)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("provider %s: upstream %q: want an http(s) URL like https://api.example.com/v1", name, upstream)
	}
	if !limits.ProviderName(name) {
		return nil, fmt.Errorf("provider %q: want a lowercase name like groq", name)
	}
	for _, v := range []string{keyVar, baseURLVar} {
		if !limits.VarName(v) {
			return nil, fmt.Errorf("provider %s: %q is not a variable name like GROQ_API_KEY", name, v)
		}
	}
	base := strings.TrimRight(u.Path, "/")
	root := *u
	root.Path = ""
	return &Provider{
		Name:            name,
		DefaultUpstream: root.String(),
		BasePath:        base,
		KeyHeader:       "Authorization",
		KeyPrefix:       "Bearer ",
		KeyVar:          keyVar,
		BaseURLVar:      baseURLVar,
		HostOnlyBaseURL: hostOnly,
		Models:          openAIModels,
		MaxOutput:       openAIMaxOutput,
		Usage:           openAIUsage,
		ErrorBody:       openAIError,
	}, nil
}

func mustCompatible(name, upstream, keyVar, baseURLVar string, hostOnly bool) *Provider {
	p, err := Compatible(name, upstream, keyVar, baseURLVar, hostOnly)
	if err != nil {
		panic(err)
	}
	return p
}

// The OpenAI-compatible providers okv knows. Base-URL variables: groq-sdk
// reads GROQ_BASE_URL (host only, it adds /openai/v1) and together-ai
// TOGETHER_BASE_URL (with /v1); the others' SDKs read none, so okv sets
// NAME_BASE_URL for the app to pass as the openai SDK's baseURL.
var (
	Groq       = mustCompatible("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY", "GROQ_BASE_URL", true)
	Mistral    = mustCompatible("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", "MISTRAL_BASE_URL", false)
	DeepSeek   = mustCompatible("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL", false)
	XAI        = mustCompatible("xai", "https://api.x.ai/v1", "XAI_API_KEY", "XAI_BASE_URL", false)
	OpenRouter = mustCompatible("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL", false)
	Together   = mustCompatible("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY", "TOGETHER_BASE_URL", false)
)

// Builtin lists the providers okv ships, OpenAI first.
func Builtin() []*Provider {
	return []*Provider{OpenAI, Anthropic, Gemini, AzureOpenAI, Groq, Mistral, DeepSeek, XAI, OpenRouter, Together}
}
