package proxy

import (
	"errors"
	"net/http"
	"time"
)

// Provider holds everything the proxy knows of one API provider: where
// its API is, how a key is sent, which of the profile's secrets it uses,
// what the child is given, where a request names its model, how an answer
// reports the tokens it used, and the shape of its errors. The rest of
// the proxy (checks, limits, forwarding, scrubbing, the ledger) is the same
// for every provider. [OpenAI] is the one okv ships (openai.go); another
// is one more file like it.
type Provider struct {
	Name string // "openai"

	// DefaultUpstream is where requests go when the profile names no
	// upstream.
	DefaultUpstream string
	// BasePath is the path every client request starts with ("/v1"). An
	// upstream whose own path ends in it absorbs the client's.
	BasePath string

	// KeyHeader and KeyPrefix say how the key is sent upstream
	// ("Authorization", "Bearer "). The child sends its okv token the
	// same way, in place of the key.
	KeyHeader, KeyPrefix string
	// AltKeyHeader and AltKeyPrefix are another way a client may send its
	// token, when it sends no KeyHeader ("Authorization", "Bearer "). The
	// key still goes upstream in KeyHeader; the client's header, holding
	// the token, is never forwarded.
	AltKeyHeader, AltKeyPrefix string
	// KeyVar is the secret that holds the key, and the child's variable
	// that holds the token instead (OPENAI_API_KEY).
	KeyVar string
	// BaseURLVar is the child's variable for the proxy's base URL,
	// BasePath included (OPENAI_BASE_URL).
	BaseURLVar string
	// Credentials are further secrets sent upstream as headers, when the
	// profile holds them. A client's own value of such a header is never
	// forwarded.
	Credentials []Credential
	// Withheld are the provider's other secrets, which never enter a
	// proxied child either (an admin key).
	Withheld []string

	// Models returns the models a request names. body is the request body
	// when the proxy read it (JSON bodies always, every body under a
	// models restriction), else nil. An error means the request's model
	// cannot be determined: a models restriction refuses the request then;
	// without one the models returned, if any, are only recorded.
	Models func(r *http.Request, body []byte) ([]string, error)
	// Usage reads token counts from one JSON document: a whole answer, or
	// the data of one event of an event stream (called for each, in order,
	// with the same t). It reports whether doc carried usage.
	Usage func(doc []byte, t *Tokens) bool
	// ErrorBody is a refusal in the provider's error shape (JSON).
	ErrorBody func(e *Refusal) []byte

	// StreamUsage, when set, sees each JSON request body before it is
	// forwarded. For a request whose answer would stream without the
	// usage the proxy counts, it returns the body to send instead (one
	// that asks the upstream to report usage in the stream) and the
	// filter that takes out of the answer's events what the client did
	// not ask for, so the client sees the stream it would have seen. It
	// returns nil, nil for every other request.
	StreamUsage func(r *http.Request, body []byte) ([]byte, EventFilter)
	// ModelFree reports whether a request that names no model may pass a
	// models restriction: an explicit list of endpoints that run no
	// model (listing models, reading files). Every other request whose
	// model cannot be determined is refused under a models restriction.
	ModelFree func(r *http.Request) bool
	// Unchecked are endpoints (paths, with what is under them) whose
	// models the proxy cannot check (the Batch API runs a file uploaded
	// any time): refused under a models restriction unless Endpoints
	// names them.
	Unchecked []string
	// Minting are endpoints that mint a credential usable without the
	// proxy (OpenAI's Realtime client secrets), or start a session whose
	// traffic bypasses it (WebRTC calls): refused whenever any limit is
	// set, unless Endpoints names them.
	Minting []string

	// MaxOutput is the most output tokens a JSON request body asks for
	// (all its choices together), 0 when it names no maximum. The daily
	// budget holds it at admission. r is the request, as for Models.
	MaxOutput func(r *http.Request, body []byte) int64

	// HostOnlyBaseURL: the SDK's BaseURLVar names scheme://host[:port]
	// only and the SDK adds BasePath itself (ANTHROPIC_BASE_URL,
	// GOOGLE_GEMINI_BASE_URL, AZURE_OPENAI_ENDPOINT, GROQ_BASE_URL).
	HostOnlyBaseURL bool
	// UpstreamSecret, when set, is the secret whose value is the upstream
	// (AZURE_OPENAI_ENDPOINT: each Azure resource has its own host). The
	// child's variable of that name gets the proxy's URL instead.
	UpstreamSecret string
}

// BaseURL is what the child's BaseURLVar holds for a proxy serving pv at
// root ("http://127.0.0.1:PORT").
func (pv *Provider) BaseURL(root string) string {
	if pv.HostOnlyBaseURL {
		return root
	}
	return root + pv.BasePath
}

// EventFilter rewrites the data of one server-sent event on its way to
// the client: it returns the data to send (data itself when unchanged),
// or drop to send nothing of the event.
type EventFilter func(data []byte) (out []byte, drop bool)

// ErrQuery is the error of a Models func when the query string cannot be
// parsed (url.Query drops the pairs it cannot parse, which the upstream
// may read a model from).
var ErrQuery = errors.New("the query string cannot be parsed")

// Credential is a secret the provider sends upstream as a header.
type Credential struct {
	Secret string // OPENAI_ORG_ID
	Header string // OpenAI-Organization
}

// Secrets lists every secret of the provider that never enters a proxied
// child: the key, the credentials and the withheld ones.
func (pv *Provider) Secrets() []string {
	s := []string{pv.KeyVar}
	for _, c := range pv.Credentials {
		s = append(s, c.Secret)
	}
	return append(s, pv.Withheld...)
}

// Tokens is what one answer used.
type Tokens struct {
	Prompt, Completion, Total int64
	// CacheRead and CacheCreation are the parts of Prompt read from and
	// written to the provider's prompt cache, where it reports them
	// (Anthropic's cache_read_input_tokens, cache_creation_input_tokens;
	// Gemini's cachedContentTokenCount).
	CacheRead, CacheCreation int64
}

// Refusal is a request the proxy answers itself, never forwarding it.
type Refusal struct {
	Status int
	Type   string // "invalid_request_error", "insufficient_quota", …
	Code   string // "invalid_api_key", "model_not_allowed", …
	Msg    string // starts lowercase; "okv proxy: " is put before it
	// RetryAfter > 0 sets retry-after (whole seconds) and retry-after-ms.
	RetryAfter time.Duration
	// NoRetry sets x-should-retry: false, which the official SDKs obey
	// over their own retry rules: for refusals a retry cannot pass (a
	// spent budget), where a retry-after of hours would have an SDK
	// sleep that long.
	NoRetry bool
}

// message is Msg as shapes without a code field of their own (Anthropic's,
// Gemini's) carry it: "okv proxy: " before it, the code after it.
func (e *Refusal) message() string {
	msg := "okv proxy: " + e.Msg
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	return msg
}
