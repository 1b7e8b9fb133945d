package scan_test

import (
	"testing"

	"github.com/okvault/okv/scan"
)

func TestSearchedRule(t *testing.T) {
	for _, c := range []struct {
		name, value string
		want        bool
	}{
		{"OPENAI_API_KEY", projKey, true},
		{"DB_PASSWORD", "hunter2-correct-horse", true},
		{"DB_PASSWORD", "correct horse battery staple", true},
		{"db_pass", "Tr0ub4dor&3", true},
		{"GITHUB_TOKEN", "ghp_0123456789abcdefABCDEF0123456789", true},
		{"APIKEY", "abc-123-def-456", true},
		{"SENTRY_DSN", "https://abc123@o1.ingest.sentry.io/42", true},
		{"DATABASE_URL", "postgres://app:s3cret-pw@db:5432/app", true},
		{"DATABASE_URL", "postgres://app:pw@db/app", true},
		{"STORAGE_URL", "https://x.blob.core.windows.net/c?sv=2024&sig=AbC123", true},
		{"SLACK_URL", "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/xYz0123456789AbCdEfGhIj", true},
		{"BUILD_ID", "aB3dE5gH7jK9mN1pQ", true}, // random-looking
		{"OPENAI_ORG", "sk-" + "abcdefghij0123456789" + "T3BlbkFJ" + "abcdefghij0123456789", true},

		{"DB_USER", "postgres", false},
		{"DB_PASSWORD", "password", false}, // a word, whatever the name
		{"DB_PASSWORD", "Postgres", false},
		{"ACCOUNT_PIN", "12345678", false},
		{"DB_PASSWORD", "short", false},
		{"NODE_ENV", "production", false},
		{"AWS_REGION", "us-east-1", false},
		{"OPENAI_MODEL", "gpt-4o-mini", false},
		{"EMBEDDING_MODEL", "text-embedding-3-small", false},
		{"APP_URL", "https://example.com/Docs/v2", false},
		{"DB_HOST", "db.internal.example.com", false},
		{"ADMIN_EMAIL", "ops@example.com", false},
		{"CONFIG_PATH", "/etc/myapp/config.yaml", false},
	} {
		ok, why := scan.Searched(scan.Known{Profile: "dev", Name: c.name, Value: c.value})
		if ok != c.want || (ok == (why != "")) {
			t.Errorf("Searched(%s=%q) = %v %q, want %v", c.name, c.value, ok, why, c.want)
		}
	}
}

// A common word in the vault is not reported in every file that mentions
// it, and the result says it was not looked for.
func TestCommonWordsNotReported(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "docker-compose.yml", "image: postgres\nenvironment:\n  POSTGRES_USER: postgres\n  REGION: us-east-1\n")
	ks := append([]scan.Known{
		{Vault: "personal", Profile: "dev", Name: "DB_USER", Value: "postgres"},
		{Vault: "personal", Profile: "dev", Name: "AWS_REGION", Value: "us-east-1"},
	}, known...)
	res := scanDir(t, scan.Options{Paths: []string{dir}, Known: ks})
	equal(t, got(t, dir, res), nil)
	var ns []string
	for _, n := range res.NotSearched {
		ns = append(ns, n.Vault+":"+n.Profile+"/"+n.Name+": "+n.Reason)
	}
	equal(t, ns, []string{
		":dev/PIN: shorter than 8 bytes",
		"personal:dev/AWS_REGION: neither its name nor its value looks like a secret",
		"personal:dev/DB_USER: a plain word or number",
	})
}
