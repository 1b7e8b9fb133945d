package scan

import (
	"net/url"
	"strings"
)

// Which vault values are looked for.
//
// A vault holds more than secrets: `okv import .env` brings in
// DB_USER=postgres, AWS_REGION=us-east-1 and OPENAI_MODEL=gpt-4o-mini along
// with the keys, and searching for those would report every file that
// mentions postgres. No statistic tells a short word from a short password
// (the entropy of "production" and of "Tr0ub4dor&3" are about the same), so
// the rule uses what the user told okv: the secret's name. A value is looked
// for unless
//
//  1. it is shorter than [MinKnownLength] bytes; or
//  2. it is a plain word or number: letters only, in one case (or
//     Capitalised), and shorter than 20 bytes, or digits only and shorter
//     than 16 bytes; or
//  3. its name does not say it is a secret (no part like KEY, TOKEN,
//     SECRET, PASSWORD, PASS, PWD, AUTH, CREDENTIALS, PRIVATE, SALT, DSN,
//     WEBHOOK, COOKIE, SESSION, CERT, PAT, OTP; see [secretNamePart]) and
//     the value does not look like one either: not an OpenAI key shape,
//     not a URL with a password, a token parameter or a random-looking path
//     part in it, and not random-looking (at least 16 bytes mixing upper-
//     and lower-case letters and digits).
//
// So OPENAI_API_KEY, DB_PASSWORD=hunter2-correct-horse and
// DATABASE_URL=postgres://app:pw@db/app are looked for; DB_USER=postgres,
// DB_PASSWORD=password, AWS_REGION=us-east-1 and APP_URL=https://example.com
// are not, and the scan says so (Result.NotSearched).

// Searched says whether k's value is looked for, and if not, why.
func Searched(k Known) (bool, string) {
	v := k.Value
	switch {
	case len(v) < MinKnownLength:
		return false, "shorter than 8 bytes"
	case isPlainWord(v):
		return false, "a plain word or number"
	case secretName(k.Name):
		return true, ""
	case secretShaped(v):
		return true, ""
	}
	return false, "neither its name nor its value looks like a secret"
}

func isPlainWord(v string) bool {
	lower, upper, digit, other := classes(v)
	switch {
	case other || (digit && (lower || upper)):
		return false
	case digit:
		return len(v) < 16
	}
	if lower && upper {
		// Capitalised ("Postgres") is still a word; "PostgresAdmin" is not.
		_, up, _, _ := classes(v[1:])
		if up {
			return false
		}
	}
	return len(v) < 20
}

func classes(v string) (lower, upper, digit, other bool) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= '0' && c <= '9':
			digit = true
		default:
			other = true
		}
	}
	return
}

// secretNamePart lists the name parts (between underscores, any case) that
// say a variable holds a secret. A part ending in one of the first six
// (APIKEY, GHTOKEN, DBPASSWORD) counts too.
var secretNamePart = []string{
	"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE",
	"KEYS", "TOKENS", "SECRETS", "PASS", "PWD", "AUTH", "CREDENTIAL", "CREDENTIALS", "CREDS",
	"PRIVATE", "SIGNING", "SALT", "DSN", "WEBHOOK", "COOKIE", "SESSION", "CERT", "PAT", "OTP",
}

func secretName(name string) bool {
	for _, part := range strings.FieldsFunc(strings.ToUpper(name), func(r rune) bool { return r == '_' || r == '-' || r == '.' }) {
		for i, w := range secretNamePart {
			if part == w || (i < 6 && strings.HasSuffix(part, w)) {
				return true
			}
		}
	}
	return false
}

// secretShaped: an OpenAI key, a URL carrying a password or a token, or a
// random-looking token.
func secretShaped(v string) bool {
	found := false
	findKeys([]byte(v), func(int, int, string) { found = true })
	if found {
		return true
	}
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "") {
		if _, ok := u.User.Password(); ok {
			return true
		}
		for name := range u.Query() {
			if secretName(name) || strings.EqualFold(name, "sig") || strings.EqualFold(name, "signature") {
				return true
			}
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if randomLooking(seg) {
				return true // a token in the path, as in a Slack webhook URL
			}
		}
		return false
	}
	return randomLooking(v)
}

func randomLooking(v string) bool {
	lower, upper, digit, _ := classes(v)
	return len(v) >= 16 && lower && upper && digit && !strings.ContainsAny(v, " \t\n")
}
