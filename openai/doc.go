// Package openai is okv's small client for the parts of the OpenAI API it
// needs: checking that a key works (GET /v1/models) and the Admin API
// (project service accounts for automated rotation, API key lookup and the
// completions usage report).
//
// It prints nothing. Errors are typed ([APIError], [NetworkError], matched
// with errors.Is against [ErrUnauthorized], [ErrForbidden],
// [ErrRateLimited], [ErrQuotaExceeded], [ErrNotFound], [ErrServer]) so the
// CLI can explain them. A key never appears in an error: keys travel only in
// the Authorization header, server messages are scrubbed of key-shaped
// strings, and a new key returned by the Admin API is a [Secret], which
// formats as "[redacted]".
package openai
