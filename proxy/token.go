package proxy

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// TokenPrefix starts every proxy token.
const TokenPrefix = "okv-"

// NewToken returns a fresh proxy token: "okv-" followed by 256 random bits
// from crypto/rand in unpadded URL-safe base64 (47 characters in all).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("proxy token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
