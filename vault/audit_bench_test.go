package vault_test

import (
	"testing"

	"github.com/okvault/okv/vault"
)

// BenchmarkAuditAppend: one record, as every okv run writes it, keyed
// (MAC, and audit.head rewritten atomically with fsync) and unkeyed (the
// legacy append alone), on a log that already holds records.
func BenchmarkAuditAppend(b *testing.B) {
	for _, keyed := range []bool{true, false} {
		name := "unkeyed"
		if keyed {
			name = "keyed"
		}
		b.Run(name, func(b *testing.B) {
			v, id := fileVault(b)
			var key *vault.AuditKey
			if keyed {
				key = v.AuditKeys(ids(id))[0]
			}
			rec := vault.AuditRecord{Op: "run", Profile: "dev", Secrets: []string{"OPENAI_API_KEY"}, Command: "npm", Dir: "/home/me/app", PID: 4242}
			for range 100 {
				if err := v.Audit(rec, key); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				if err := v.Audit(rec, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
