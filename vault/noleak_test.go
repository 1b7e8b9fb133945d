package vault_test

import (
	"strings"
	"testing"

	"github.com/okvault/okv/vault"
)

// TestCorruptDocumentErrorsHoldNoSecret: a profile that decrypts but is
// not a valid document is refused with a CorruptError that says what is
// wrong without quoting the document, which holds the secret. The vault
// is left as it was.
func TestCorruptDocumentErrorsHoldNoSecret(t *testing.T) {
	t.Parallel()
	const s = secretValue
	docs := map[string]string{
		"syntax error after value": `{"okv":1,"profile":"dev","secrets":{"K":{"value":"` + s + `" "created_at":"2025-01-01T00:00:00Z"}}}`,
		"truncated inside value":   `{"okv":1,"profile":"dev","secrets":{"K":{"value":"` + s,
		"truncated after value":    `{"okv":1,"profile":"dev","secrets":{"K":{"value":"` + s + `",`,
		"value of wrong type":      `{"okv":1,"profile":"dev","secrets":{"K":{"value":["` + s + `"]}}}`,
		"value as number":          `{"okv":1,"profile":"dev","secrets":{"K":{"value":12345678901234567890123}}}`,
		"value in a time field":    `{"okv":1,"profile":"dev","secrets":{"K":{"value":"x","created_at":"` + s + `"}}}`,
		"value in history time":    `{"okv":1,"profile":"dev","secrets":{"K":{"value":"x","history":[{"value":"` + s + `","retired_at":"` + s + `"}]}}}`,
		"value as version":         `{"okv":"` + s + `","profile":"dev","secrets":{}}`,
		"unescaped control char":   `{"okv":1,"profile":"dev","secrets":{"K":{"value":"` + s[:20] + "\x01" + s[20:] + `"}}}`,
		"bad escape in value":      `{"okv":1,"profile":"dev","secrets":{"K":{"value":"` + s[:20] + `\q` + s[20:] + `"}}}`,
		"NUL escape in value":      `{"okv":1,"profile":"dev","secrets":{"K":{"value":"` + s[:20] + `\u0000` + s[20:] + `"}}}`,
		"empty value":              `{"okv":1,"profile":"dev","secrets":{"K":{"value":""},"L":{"value":"` + s + `"}}}`,
		"oversized value":          `{"okv":1,"profile":"dev","secrets":{"K":{"value":"` + strings.Repeat(s, 2000) + `"}}}`,
		"trailing data":            `{"okv":1,"profile":"dev","secrets":{"K":{"value":"` + s + `"}}}"` + s + `"`,
		"second document":          `{"okv":1,"profile":"dev","secrets":{}}{"okv":1,"profile":"dev","secrets":{"K":{"value":"` + s + `"}}}`,
		"unknown field":            `{"okv":1,"profile":"dev","secrets":{"K":{"value":"` + s + `","note":"` + s + `"}}}`,
		"null secret":              `{"okv":1,"profile":"dev","secrets":{"K":null,"L":{"value":"` + s + `"}}}`,
		"invalid secret name":      `{"okv":1,"profile":"dev","secrets":{"BAD-NAME":{"value":"` + s + `"}}}`,
		"missing version":          `{"profile":"dev","secrets":{"K":{"value":"` + s + `"}}}`,
		"newer version":            `{"okv":2,"profile":"dev","secrets":{"K":{"value":"` + s + `"}}}`,
		"not an object":            `["` + s + `"]`,
		"bare string":              `"` + s + `"`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			v, id := seededVault(t)
			rcpts, err := v.Recipients("dev")
			if err != nil {
				t.Fatal(err)
			}
			ct, err := vault.Encrypt([]byte(doc), rcpts...)
			if err != nil {
				t.Fatal(err)
			}
			damage(t, v.ProfilePath("dev"), func([]byte) []byte { return ct })
			before := treeState(t, v.Dir)
			_, err = v.Load("dev", ids(id))
			e := asError[*vault.CorruptError](t, err)
			if e.Profile != "dev" || e.Reason == "" {
				t.Errorf("CorruptError %+v", e)
			}
			assertNoSecret(t, err.Error(), s)
			err = v.Update("dev", ids(id), setFn("NEW", "new-value"))
			asError[*vault.CorruptError](t, err)
			assertNoSecret(t, err.Error(), s)
			assertTreeUnchanged(t, v.Dir, before)

			// DecodeDocument itself, on the raw plaintext, too.
			_, err = vault.DecodeDocument([]byte(doc), "dev")
			asError[*vault.CorruptError](t, err)
			assertNoSecret(t, err.Error(), s)
		})
	}
}
