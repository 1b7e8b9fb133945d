package vault_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/okvault/okv/vault"
)

// The test binary doubles as the helper processes of the multi-process
// tests: when OKV_TEST_HELPER is set, TestMain runs that helper instead of
// the tests. The helpers take their parameters from the environment.
const helperEnv = "OKV_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := runHelper(mode); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHelper(mode string) error {
	dir := os.Getenv("OKV_TEST_DIR")
	prefix := os.Getenv("OKV_TEST_PREFIX")
	n, _ := strconv.Atoi(os.Getenv("OKV_TEST_N"))
	v, err := vault.Open(dir)
	if err != nil {
		return err
	}
	var ids []age.Identity
	if s := os.Getenv("OKV_TEST_IDENTITY"); s != "" {
		id, err := age.ParseX25519Identity(s)
		if err != nil {
			return err
		}
		ids = []age.Identity{id}
	}
	// Start barrier: wait for the parent to release all helpers at once,
	// so that concurrent helpers really overlap.
	if os.Getenv("OKV_TEST_BARRIER") == "1" {
		var b [1]byte
		os.Stdin.Read(b[:])
	}
	switch mode {
	case "write":
		// Set n distinct secrets, one Update each.
		for i := range n {
			name := fmt.Sprintf("%s_%d", prefix, i)
			if err := v.Update("dev", ids, setFn(name, valueFor(name))); err != nil {
				return err
			}
		}
		return nil
	case "killwrite":
		// Set secrets one after another until killed, reporting each
		// write on stdout only after Update returned success.
		os.Stdout.WriteString("ready\n")
		for i := 0; ; i++ {
			name := fmt.Sprintf("%s_%d", prefix, i)
			if err := v.Update("dev", ids, setFn(name, valueFor(name))); err != nil {
				return err
			}
			if _, err := os.Stdout.WriteString(name + "\n"); err != nil {
				return err
			}
		}
	case "audit":
		for i := range n {
			rec := vault.AuditRecord{Op: "run", Profile: "dev", Command: fmt.Sprintf("%s_%d", prefix, i), PID: os.Getpid()}
			var key *vault.AuditKey
			if k := v.AuditKeys(ids); len(k) > 0 {
				key = k[0]
			}
			if err := v.Audit(rec, key); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// helperCmd prepares the test binary as helper process mode.
func helperCmd(t *testing.T, mode, dir string, id *age.X25519Identity, prefix string, n int) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(),
		helperEnv+"="+mode,
		"OKV_TEST_DIR="+dir,
		"OKV_TEST_PREFIX="+prefix,
		"OKV_TEST_N="+strconv.Itoa(n),
	)
	if id != nil {
		cmd.Env = append(cmd.Env, "OKV_TEST_IDENTITY="+id.String())
	}
	return cmd
}

// valueFor is the deterministic value the helpers store under name.
func valueFor(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "sk-test-" + hex.EncodeToString(sum[:12]) + "-" + name
}

func setFn(name, value string) func(*vault.Document) error {
	return func(d *vault.Document) error {
		_, err := d.SetSecret(name, []byte(value), time.Now())
		return err
	}
}

// fileVault creates a vault unlocked by an X25519 identity file (the fast
// backend: no keychain, no scrypt).
func fileVault(t testing.TB) (*vault.Vault, *age.X25519Identity) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Init(filepath.Join(t.TempDir(), "vault"), vault.InitOptions{Backend: vault.BackendFile, Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	return v, id
}

func ids(id age.Identity) []age.Identity { return []age.Identity{id} }

func mustSet(t *testing.T, v *vault.Vault, id age.Identity, profile, name, value string) {
	t.Helper()
	if err := v.Update(profile, ids(id), setFn(name, value)); err != nil {
		t.Fatalf("setting %s in %s: %v", name, profile, err)
	}
}

// treeState records every entry under dir: name, mode and content hash.
func treeState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		desc := fi.Mode().String()
		if !d.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			desc += " " + hex.EncodeToString(sum[:])
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertTreeUnchanged(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := treeState(t, dir)
	var diffs []string
	for k, b := range before {
		if a, ok := after[k]; !ok {
			diffs = append(diffs, "removed "+k)
		} else if a != b {
			diffs = append(diffs, "changed "+k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, "created "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("vault folder changed: %s", strings.Join(diffs, ", "))
	}
}

// assertNoSecret fails if msg contains secret or any 8-byte piece of it.
func assertNoSecret(t *testing.T, msg, secret string) {
	t.Helper()
	if len(secret) < 8 {
		if strings.Contains(msg, secret) {
			t.Errorf("message contains the secret value: %q", msg)
		}
		return
	}
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(msg, secret[i:i+8]) {
			t.Errorf("message contains %q, a piece of the secret value: %q", secret[i:i+8], msg)
			return
		}
	}
}

// requireTool returns the path of a command the test needs. Missing, it
// skips the test, or fails it when OKV_REQUIRE_TOOLS=1.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("OKV_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is not installed and OKV_REQUIRE_TOOLS=1", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// asError is errors.As that returns the target.
func asError[E error](t *testing.T, err error) E {
	t.Helper()
	var e E
	if !errors.As(err, &e) {
		t.Fatalf("got error %T (%v), want %T", err, err, e)
	}
	return e
}

// tempFiles lists the atomic-write temp files under the vault folder.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, d := range []string{dir, filepath.Join(dir, "profiles")} {
		m, err := filepath.Glob(filepath.Join(d, ".*.tmp-*"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	return out
}
