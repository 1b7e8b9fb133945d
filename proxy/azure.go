package proxy

import (
	"net/http"
	"strings"
)

// AzureOpenAI is Azure OpenAI as openai's AzureOpenAI client calls it:
// the key in api-key, AZURE_OPENAI_ENDPOINT naming the resource's host
// (the client adds /openai, then /deployments/NAME/… for a deployment),
// ?api-version= from OPENAI_API_VERSION. The upstream is the profile's
// AZURE_OPENAI_ENDPOINT secret: each resource has its own host. The
// client prefers OPENAI_BASE_URL to AZURE_OPENAI_ENDPOINT, so a child
// that also gets OpenAI's proxy must pass
// baseURL: process.env.AZURE_OPENAI_ENDPOINT + "/openai" itself.
var AzureOpenAI = &Provider{
	Name:            "azure",
	BasePath:        "/openai",
	KeyHeader:       "Api-Key",
	KeyVar:          "AZURE_OPENAI_API_KEY",
	BaseURLVar:      "AZURE_OPENAI_ENDPOINT",
	HostOnlyBaseURL: true,
	UpstreamSecret:  "AZURE_OPENAI_ENDPOINT",
	Models:          azureModels,
	MaxOutput:       openAIMaxOutput,
	Usage:           openAIUsage,
	ErrorBody:       openAIError,
}

// azureModels is the deployment in the path
// (/openai/deployments/NAME/chat/completions) and what OpenAI's models
// finds in the body and query (the v1 API names the model in the body).
func azureModels(r *http.Request, body []byte) ([]string, error) {
	models, err := openAIModels(r, body)
	if rest, ok := strings.CutPrefix(r.URL.Path, "/openai/deployments/"); ok {
		if name, _, _ := strings.Cut(rest, "/"); name != "" {
			models = append([]string{name}, models...)
			if err != nil && !errorsIsQuery(err) {
				err = nil // the deployment is the model; any body will do
			}
		}
	}
	return models, err
}

func errorsIsQuery(err error) bool { return err == ErrQuery }
