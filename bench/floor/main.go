// Command floor is the honest floor of `okv run` for make bench: it reads
// an age identity (from a file, or with -keychain from the OS keychain
// through go-keyring, as okv does), decrypts one profile with
// filippo.io/age, takes the secret values out of the document and execs
// the command with them in its environment. Nothing else: no trust check,
// no policy, no audit, no command line library. okv's cost is measured
// against it.
//
// With -agent it asks the okv agent at $XDG_RUNTIME_DIR/okv/agent.sock for
// the vault's identity, one JSON line each way over the socket: what any
// client of an agent pays (a process asleep to wake, twice) and nothing of
// okv's own.
//
//	floor -identity id.txt profile.age -- true
//	floor -keychain VAULT_ID profile.age -- true
//	floor -agent VAULT_ID profile.age -- true
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/zalando/go-keyring"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 5 || args[3] != "--" {
		return fmt.Errorf("usage: floor -identity FILE|-keychain VAULT_ID|-agent VAULT_ID PROFILE.age -- COMMAND [ARG...]")
	}
	var key []byte
	switch args[0] {
	case "-identity":
		b, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		key = b
	case "-keychain":
		s, err := keyring.Get("okv", args[1])
		if err != nil {
			return err
		}
		key = []byte(s)
	case "-agent":
		c, err := net.Dial("unix", filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "okv", "agent.sock"))
		if err != nil {
			return err
		}
		defer c.Close()
		if err := json.NewEncoder(c).Encode(map[string]string{"op": "get", "vault": args[1]}); err != nil {
			return err
		}
		var resp struct{ Identity, Error string }
		if err := json.NewDecoder(c).Decode(&resp); err != nil {
			return err
		}
		if resp.Error != "" {
			return fmt.Errorf("agent: %s", resp.Error)
		}
		key = []byte(resp.Identity)
	default:
		return fmt.Errorf("unknown flag %s", args[0])
	}
	ids, err := age.ParseIdentities(bytes.NewReader(key))
	if err != nil {
		return err
	}
	data, err := os.ReadFile(args[2])
	if err != nil {
		return err
	}
	var in io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(data, []byte("-----BEGIN AGE")) {
		in = armor.NewReader(in)
	}
	r, err := age.Decrypt(in, ids...)
	if err != nil {
		return err
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	// The values, and only them: the least a program must read of the
	// document to hand the secrets to a child.
	var doc struct {
		Secrets map[string]struct{ Value string } `json:"secrets"`
	}
	if err := json.Unmarshal(plain, &doc); err != nil {
		return err
	}
	env := os.Environ()
	for n, s := range doc.Secrets {
		env = append(env, n+"="+s.Value)
	}
	path, err := exec.LookPath(args[4])
	if err != nil {
		return err
	}
	return syscall.Exec(path, args[4:], env)
}
