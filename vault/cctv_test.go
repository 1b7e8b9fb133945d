package vault_test

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"strings"
	"testing"

	agetest "c2sp.org/CCTV/age"
	"filippo.io/age"

	"github.com/okvault/okv/vault"
)

type ageVector struct {
	expect      string
	payloadHash []byte
	identities  []age.Identity
	armored     bool
	file        []byte
}

// parseAgeVector reads the CCTV vector format (as filippo.io/age's
// testkit_test.go does): "key: value" header lines, a blank line, then
// the age file, optionally zlib-compressed.
func parseAgeVector(t *testing.T, data []byte) *ageVector {
	t.Helper()
	v := &ageVector{file: data}
	compressed := false
	for {
		line, rest, ok := bytes.Cut(v.file, []byte("\n"))
		if !ok {
			t.Fatal("invalid vector: no payload")
		}
		v.file = rest
		if len(line) == 0 {
			break
		}
		key, value, _ := strings.Cut(string(line), ": ")
		switch key {
		case "expect":
			switch value {
			case "success", "HMAC failure", "header failure", "armor failure", "payload failure", "no match":
			default:
				t.Fatalf("invalid vector: unknown expect %q", value)
			}
			v.expect = value
		case "payload":
			h, err := hex.DecodeString(value)
			if err != nil || len(h) != sha256.Size {
				t.Fatalf("invalid vector: payload %q", value)
			}
			v.payloadHash = h
		case "file key":
		case "identity":
			var i age.Identity
			i, err := age.ParseX25519Identity(value)
			if err != nil {
				i, err = age.ParseHybridIdentity(value)
			}
			if err != nil {
				t.Fatal(err)
			}
			v.identities = append(v.identities, i)
		case "passphrase":
			i, err := age.NewScryptIdentity(value)
			if err != nil {
				t.Fatal(err)
			}
			v.identities = append(v.identities, i)
		case "armored":
			v.armored = true
		case "compressed":
			if value != "zlib" {
				t.Fatalf("invalid vector: compression %q", value)
			}
			compressed = true
		case "comment":
		default:
			t.Fatalf("invalid vector: unknown header %q", key)
		}
	}
	if compressed {
		r, err := zlib.NewReader(bytes.NewReader(v.file))
		if err != nil {
			t.Fatal(err)
		}
		if v.file, err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// TestDecryptCCTVVectors runs okv's decrypt path over the C2SP CCTV age
// vectors: every valid file opens to the expected plaintext, and every
// broken one is refused with the error kind a user can act on.
func TestDecryptCCTVVectors(t *testing.T) {
	t.Parallel()
	entries, err := fs.ReadDir(agetest.Vectors, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 100 {
		t.Fatalf("only %d vectors found", len(entries))
	}
	counts := map[string]int{}
	for _, e := range entries {
		data, err := fs.ReadFile(agetest.Vectors, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		v := parseAgeVector(t, data)
		counts[v.expect]++
		t.Run(e.Name(), func(t *testing.T) {
			plain, err := vault.Decrypt(v.file, "vector", v.identities...)
			switch v.expect {
			case "success":
				if err != nil {
					t.Fatalf("Decrypt: %v", err)
				}
				if got := sha256.Sum256(plain); !bytes.Equal(got[:], v.payloadHash) {
					t.Errorf("plaintext sha256 %x, want %x", got, v.payloadHash)
				}
			case "no match":
				asError[*vault.NoMatchError](t, err)
			default: // header, HMAC, payload and armor failures
				te := asError[*vault.TamperedError](t, err)
				if te.Profile != "vector" {
					t.Errorf("TamperedError names profile %q", te.Profile)
				}
			}
		})
	}
	t.Logf("vectors by expectation: %v", counts)
}
