package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/okvault/okv/vault"
)

// crashCase is one command of the crash test: args (stdin when it reads
// a value), and the next command of the same kind, which must succeed
// whatever state the crash left. next gets the recovered state, since
// what comes next depends on whether the change completed.
type crashCase struct {
	name  string
	args  []string
	stdin string
	next  func(s crashState) (args []string, stdin string)
}

// TestCrashSafety kills okv with SIGKILL (strace -e inject=…:signal=KILL)
// at the Nth rename, fsync and unlink (N = 1 to 6) of every command that
// changes the vault, then checks that the next okv finds every profile
// decrypting, the vault exactly as it was before the command or as the
// command would have left it (so no acknowledged write is lost and no
// policy is weaker than before), config.toml agreeing with every pin, and
// that the next command of the same kind succeeds.
// needStrace is the path of a strace that can trace here. Without one the
// test skips, or fails under OKV_REQUIRE_TOOLS=1 (make test); ptrace may be
// forbidden (some containers), which it says rather than fail later.
func needStrace(t *testing.T) string {
	t.Helper()
	strace, err := exec.LookPath("strace")
	if err != nil {
		if os.Getenv("OKV_REQUIRE_TOOLS") == "1" {
			t.Fatal("OKV_REQUIRE_TOOLS=1 but strace is not installed (apt-get install strace)")
		}
		t.Skip("strace is not installed (apt-get install strace)")
	}
	if out, err := exec.Command(strace, "-f", "-o", "/dev/null", "true").CombinedOutput(); err != nil {
		if os.Getenv("OKV_REQUIRE_TOOLS") == "1" {
			t.Fatalf("OKV_REQUIRE_TOOLS=1 but strace cannot trace here: %v\n%s", err, out)
		}
		t.Skipf("strace cannot trace here (ptrace not permitted?): %v", err)
	}
	return strace
}

func TestCrashSafety(t *testing.T) {
	strace := needStrace(t)
	if testing.Short() {
		t.Skip("-short: the crash-injection test runs okv a few hundred times")
	}
	root := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// testscript.Main runs the okv command when the binary is called okv.
	bin := filepath.Join(root, "bin")
	os.MkdirAll(bin, 0o700)
	okv := filepath.Join(bin, "okv")
	if err := os.Symlink(exe, okv); err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(root, "id.txt")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	var others []string
	for range 5 {
		o, _ := age.GenerateX25519Identity()
		others = append(others, o.Recipient().String())
	}
	env := func(dir string) []string {
		return append(os.Environ(), "OKV_HOME="+dir, "OKV_IDENTITY_FILE="+idFile, "HOME="+root,
			"XDG_CONFIG_HOME="+filepath.Join(root, "config"), "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(root, "no-bus"),
			"GOMAXPROCS=1", "OKV_PROFILE=")
	}
	run := func(dir, stdin string, args ...string) (string, error) {
		c := exec.Command(okv, args...)
		c.Env = env(dir)
		c.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		return out.String(), err
	}
	must := func(dir, stdin string, args ...string) {
		t.Helper()
		if out, err := run(dir, stdin, args...); err != nil {
			t.Fatalf("okv %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// The vault every case starts from.
	tmpl := filepath.Join(root, "template")
	must(tmpl, "", "init")
	must(tmpl, "sk-dev-aaaaaaaaaaaaaaaaaaaa\n", "set", "-p", "dev")
	must(tmpl, "other-bbbbbbbbbbbbbbbb\n", "set", "OTHER", "-p", "dev")
	must(tmpl, "", "profile", "create", "prod", "--protect")
	must(tmpl, "sk-prod-cccccccccccccccccccc\n", "set", "-p", "prod")
	must(tmpl, "", "policy", "set", "-p", "prod", "--yes", "rpm=60", "models=gpt-4o-mini")
	must(tmpl, "", "recipient", "add", "-p", "prod", "--yes", others[0], others[1])
	must(tmpl, "", "profile", "create", "staging")
	must(tmpl, "sk-staging-dddddddddddddddddd\n", "set", "-p", "staging")
	must(tmpl, "", "profile", "create", "spare")

	existing := func(s crashState, a, b string) string {
		if _, ok := s.Profiles[a]; ok {
			return a
		}
		return b
	}
	cases := []crashCase{
		{"set", []string{"set", "NEW", "-p", "dev"}, "new-eeeeeeeeeeeeeeee\n",
			func(crashState) ([]string, string) {
				return []string{"set", "NEW2", "-p", "dev"}, "new-ffffffffffffffff\n"
			}},
		{"rotate", []string{"rotate", "OPENAI_API_KEY", "-p", "dev"}, "sk-dev-rotated-gggggggggggg\n",
			func(crashState) ([]string, string) {
				return []string{"rotate", "OPENAI_API_KEY", "-p", "dev"}, "sk-dev-rotated-again-hhhhhh\n"
			}},
		{"rm", []string{"rm", "OTHER", "-p", "dev", "--yes"}, "",
			func(crashState) ([]string, string) {
				return []string{"rm", "OPENAI_API_KEY", "-p", "staging", "--yes"}, ""
			}},
		{"profile rename", []string{"profile", "rename", "prod", "production"}, "",
			func(s crashState) ([]string, string) {
				return []string{"profile", "rename", existing(s, "prod", "production"), "prod2"}, ""
			}},
		{"profile copy", []string{"profile", "copy", "prod", "prodcopy"}, "",
			func(crashState) ([]string, string) { return []string{"profile", "copy", "prod", "prodcopy2"}, "" }},
		{"profile rm", []string{"profile", "rm", "staging", "--yes"}, "",
			func(crashState) ([]string, string) { return []string{"profile", "rm", "spare", "--yes"}, "" }},
		{"recipient add", []string{"recipient", "add", "-p", "prod", "--yes", others[2]}, "",
			func(crashState) ([]string, string) {
				return []string{"recipient", "add", "-p", "prod", "--yes", others[3]}, ""
			}},
		{"recipient rm", []string{"recipient", "rm", "-p", "prod", "--yes", others[0]}, "",
			func(crashState) ([]string, string) {
				return []string{"recipient", "rm", "-p", "prod", "--yes", others[1]}, ""
			}},
		{"policy set", []string{"policy", "set", "-p", "prod", "--yes", "rpm=30", "proxy=false"}, "",
			func(crashState) ([]string, string) {
				return []string{"policy", "set", "-p", "prod", "--yes", "tpm=1000"}, ""
			}},
	}
	ids := []age.Identity{id}
	before := readCrashState(t, tmpl, ids)
	syscalls := []struct{ name, set string }{
		{"rename", "rename,renameat,renameat2"},
		{"fsync", "fsync,fdatasync"},
		{"unlink", "unlink,unlinkat"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			// What the command leaves when nothing goes wrong.
			clean := filepath.Join(root, "clean-"+strings.ReplaceAll(c.name, " ", "-"))
			copyDir(t, tmpl, clean)
			if out, err := run(clean, c.stdin, c.args...); err != nil {
				t.Fatalf("okv %s without a crash: %v\n%s", strings.Join(c.args, " "), err, out)
			}
			after := readCrashState(t, clean, ids)
			if after.equal(before) {
				t.Fatalf("okv %s changed nothing: the case tests nothing", strings.Join(c.args, " "))
			}
			kills := 0
			for _, sc := range syscalls {
				for n := 1; n <= 6; n++ {
					dir := filepath.Join(root, fmt.Sprintf("crash-%s-%s-%d", strings.ReplaceAll(c.name, " ", "-"), sc.name, n))
					copyDir(t, tmpl, dir)
					cmd := exec.Command(strace, append([]string{"-f", "-o", "/dev/null", "-e", "inject=" + sc.set + fmt.Sprintf(":signal=KILL:when=%d", n), okv}, c.args...)...)
					cmd.Env = env(dir)
					cmd.Stdin = strings.NewReader(c.stdin)
					var out bytes.Buffer
					cmd.Stdout, cmd.Stderr = &out, &out
					err := cmd.Run()
					var ee *exec.ExitError
					killed := errors.As(err, &ee) && (ee.ExitCode() == 137 || ee.ExitCode() == -1)
					if err != nil && !killed {
						t.Fatalf("%s #%d: okv %s failed without being killed: %v\n%s", sc.name, n, strings.Join(c.args, " "), err, out.String())
					}
					if killed {
						kills++
					}
					where := fmt.Sprintf("killed at %s #%d", sc.name, n)
					got := readCrashState(t, dir, ids)
					switch {
					case got.equal(before):
					case got.equal(after):
					default:
						t.Fatalf("%s: the vault is neither as before nor as after okv %s:\nbefore %s\nafter  %s\ngot    %s",
							where, strings.Join(c.args, " "), before, after, got)
					}
					if !killed && !got.equal(after) {
						t.Fatalf("%s: okv %s reported success, but its change is not there", where, strings.Join(c.args, " "))
					}
					args, stdin := c.next(got)
					if out, err := run(dir, stdin, args...); err != nil {
						t.Fatalf("%s: the next command, okv %s, failed: %v\n%s", where, strings.Join(args, " "), err, out)
					}
					os.RemoveAll(dir)
				}
			}
			if kills == 0 {
				t.Fatalf("okv %s was never killed: the injection did not reach it", strings.Join(c.args, " "))
			}
		})
	}
}

// crashState is what the crash test compares: per profile, its secrets'
// values, its pinned policy and its recipients; and the default profile.
type crashState struct {
	Default  string
	Profiles map[string]crashProfile
}

type crashProfile struct {
	Secrets    map[string]string
	Policy     vault.Pin
	Recipients []string
}

func (s crashState) String() string {
	b, _ := json.Marshal(s)
	// Values are test values, but keep the output short.
	return string(b)
}

func (s crashState) equal(o crashState) bool { return s.String() == o.String() }

// readCrashState opens the vault as the next okv would (completing an
// unfinished change), and requires every profile to decrypt and
// config.toml to agree with every pin.
func readCrashState(t *testing.T, dir string, ids []age.Identity) crashState {
	t.Helper()
	v, err := vault.Open(dir)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	if err := v.Recover(); err != nil {
		t.Fatalf("recover %s: %v", dir, err)
	}
	names, err := v.ProfileNames()
	if err != nil {
		t.Fatal(err)
	}
	s := crashState{Default: v.Config.DefaultProfile, Profiles: map[string]crashProfile{}}
	for _, n := range names {
		doc, err := v.Load(n, ids)
		if err != nil {
			t.Fatalf("%s: profile %s does not decrypt: %v", dir, n, err)
		}
		if err := v.CheckPolicy(doc); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if err := v.CheckRecipients(doc); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		p := crashProfile{Secrets: map[string]string{}, Policy: vault.PinOf(v.EffectivePolicy(doc)), Recipients: slices.Sorted(slices.Values(v.RecipientStrings(n)))}
		for _, name := range doc.Names() {
			p.Secrets[name] = doc.Secrets[name].Value
		}
		s.Profiles[n] = p
	}
	for n := range v.Config.Profiles {
		if !slices.Contains(names, n) {
			t.Fatalf("%s: config.toml has a policy for profile %s, which has no file", dir, n)
		}
	}
	return s
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, fi.Mode().Perm())
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, src)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
