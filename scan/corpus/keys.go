package corpus

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
)

const (
	alnum    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	keyAlpha = alnum + "_-"
	hexAlpha = "0123456789abcdef"
)

func randString(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// OpenAI key shapes, as OpenAI issues them today.
const (
	ShapeLegacy  = "legacy"  // sk-<20 alnum>T3BlbkFJ<20 alnum>
	ShapeProject = "proj"    // sk-proj-<74>T3BlbkFJ<74>
	ShapeService = "svcacct" // sk-svcacct-<74>T3BlbkFJ<74>
	ShapeAdmin   = "admin"   // sk-admin-<58>T3BlbkFJ<58>
)

// Shapes lists every OpenAI key shape.
var Shapes = []string{ShapeLegacy, ShapeProject, ShapeService, ShapeAdmin}

// OpenAIKey returns a random key of the given shape. It is random, never a
// real key: real keys cannot be guessed this way. Prefixed keys end in "A",
// as every published sample does.
func OpenAIKey(r *rand.Rand, shape string) string {
	switch shape {
	case ShapeLegacy:
		return "sk-" + randString(r, alnum, 20) + "T3BlbkFJ" + randString(r, alnum, 20)
	case ShapeProject:
		return "sk-proj-" + randString(r, keyAlpha, 74) + "T3BlbkFJ" + randString(r, keyAlpha, 73) + "A"
	case ShapeService:
		return "sk-svcacct-" + randString(r, keyAlpha, 74) + "T3BlbkFJ" + randString(r, keyAlpha, 73) + "A"
	case ShapeAdmin:
		return "sk-admin-" + randString(r, keyAlpha, 58) + "T3BlbkFJ" + randString(r, keyAlpha, 57) + "A"
	}
	panic("corpus: unknown shape " + shape)
}

// anthropicKey looks like an Anthropic key: no OpenAI marker.
func anthropicKey(r *rand.Rand) string {
	return "sk-ant-api03-" + randString(r, keyAlpha, 93) + "AA"
}

// password is a random password holding characters that JSON escapes.
func password(r *rand.Rand) string {
	const sym = "-_/+=!@%^*.\""
	b := []byte(randString(r, alnum+sym, 26))
	b[r.IntN(8)] = '/'
	b[8+r.IntN(8)] = '"'
	b[16+r.IntN(8)] = '-'
	return string(b)
}

// webhookSecret holds '?', '>' and '~', whose base64 encodings differ
// between the standard and URL alphabets at every alignment.
func webhookSecret(r *rand.Rand) string {
	b := []byte(randString(r, alnum, 30))
	for _, i := range []int{1, 2, 3, 10, 11, 12, 20, 21, 22} {
		b[i] = "?>~"[r.IntN(3)]
	}
	return string(b)
}

func uuid(r *rand.Rand) string {
	h := randString(r, hexAlpha, 32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func jwtLike(r *rand.Rand) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(`{"sub":"`+randString(r, alnum, 12)+`","iat":`+randString(r, "0123456789", 10)+`}`)) + "." +
		enc.EncodeToString(randBytes(r, 32))
}

// jsonEscape escapes v as a JSON string body would be by a strict encoder:
// quotes and backslashes, '/' as \/ (PHP), '-' as \u002d and <>& as
// encoding/json does.
func jsonEscape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '/':
			b.WriteString(`\/`)
		case '-':
			b.WriteString(`\u002d`)
		case '<', '>', '&': // as Go's encoding/json does
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// b64Middle is the part of the encoding of v, placed at alignment a in a
// larger document, that depends on v alone (what scan looks for), and the
// encoding name scan reports for it.
func b64Middle(v string, a int, url bool) (string, string) {
	buf := make([]byte, a+len(v))
	copy(buf[a:], v)
	start, end := (8*a+5)/6, 8*(a+len(v))/6
	std := base64.StdEncoding.EncodeToString(buf)[start:end]
	if !url {
		return std, "base64"
	}
	u := base64.URLEncoding.EncodeToString(buf)[start:end]
	if u == std {
		return u, "base64"
	}
	return u, "base64url"
}
