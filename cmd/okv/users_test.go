package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"filippo.io/age/plugin"

	"github.com/okvault/okv/internal/testkeyring"
)

// The test binary doubles as a real age plugin, age-plugin-okvtest, when
// started under that name (TestPluginRecipient links it onto PATH). It
// speaks the age plugin protocol through filippo.io/age/plugin; nothing of
// okv's own code runs in it.
func init() {
	if filepath.Base(os.Args[0]) == "age-plugin-okvtest" {
		os.Exit(okvtestPlugin())
	}
}

// okvtestPlugin wraps an X25519 key under its own stanza type "okvtest",
// so a file it encrypted opens only through the plugin. Recipient data is
// an age1… string, identity data an AGE-SECRET-KEY-1… string.
func okvtestPlugin() int {
	p, err := plugin.New("okvtest")
	if err != nil {
		return 1
	}
	p.HandleRecipient(func(data []byte) (age.Recipient, error) {
		r, err := age.ParseX25519Recipient(string(data))
		return okvtestRecipient{r}, err
	})
	p.HandleIdentity(func(data []byte) (age.Identity, error) {
		id, err := age.ParseX25519Identity(string(data))
		return okvtestIdentity{id}, err
	})
	return p.Main()
}

type okvtestRecipient struct{ r *age.X25519Recipient }

func (r okvtestRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	ss, err := r.r.Wrap(fileKey)
	for _, s := range ss {
		s.Type = "okvtest"
	}
	return ss, err
}

type okvtestIdentity struct{ id *age.X25519Identity }

func (i okvtestIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	var mine []*age.Stanza
	for _, s := range stanzas {
		if s.Type == "okvtest" {
			c := *s
			c.Type = "X25519"
			mine = append(mine, &c)
		}
	}
	if len(mine) == 0 {
		return nil, age.ErrIncorrectIdentity
	}
	return i.id.Unwrap(mine)
}

// user is one person on their own machine: a HOME, a personal vault under
// it, and (with a keyring) a private gnome-keyring of their own. Commands
// run the real okv binary (testscript's copy of the test binary on PATH).
type user struct {
	t    *testing.T
	name string
	home string
	env  []string
}

func newUser(t *testing.T, root, name string, keyring bool) *user {
	t.Helper()
	home := filepath.Join(root, name+"-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	gitconfig := filepath.Join(home, ".gitconfig")
	os.WriteFile(gitconfig, []byte("[user]\n\tname = "+name+"\n\temail = "+name+"@example.com\n[init]\n\tdefaultBranch = main\n"), 0o600)
	u := &user{t: t, name: name, home: home, env: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"GIT_CONFIG_GLOBAL=" + gitconfig,
		"GIT_CONFIG_NOSYSTEM=1",
		"OKV_KEYCHAIN_TIMEOUT=5s",
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(home, "no-bus"),
	}}
	if keyring {
		kdir, err := os.MkdirTemp("", "okv-keyring-")
		if err != nil {
			t.Fatal(err)
		}
		k, err := testkeyring.Start(kdir)
		if err != nil {
			os.RemoveAll(kdir)
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Stop(); os.RemoveAll(kdir) })
		u.env = k.Env(u.env)
	}
	return u
}

// with returns a copy of u with extra environment variables.
func (u *user) with(kv ...string) *user {
	c := *u
	c.env = append(append([]string(nil), u.env...), kv...)
	return &c
}

func (u *user) exec(dir, stdin, prog string, args ...string) (stdout, stderr string, code int) {
	u.t.Helper()
	c := exec.Command(prog, args...)
	c.Dir = dir
	c.Env = u.env
	c.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		u.t.Fatalf("%s: %s %s: %v", u.name, prog, strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// okv runs okv in dir and returns its output and exit code.
func (u *user) okv(dir, stdin string, args ...string) (string, string, int) {
	u.t.Helper()
	out, errs, code := u.exec(dir, stdin, "okv", args...)
	u.t.Logf("%s$ okv %s  [exit %d]\n%s%s", u.name, strings.Join(args, " "), code, out, errs)
	return out, errs, code
}

// ok runs okv and fails the test unless it succeeds.
func (u *user) ok(dir, stdin string, args ...string) (string, string) {
	u.t.Helper()
	out, errs, code := u.okv(dir, stdin, args...)
	if code != 0 {
		u.t.Fatalf("%s: okv %s: exit %d\n%s", u.name, strings.Join(args, " "), code, errs)
	}
	return out, errs
}

func (u *user) git(dir string, args ...string) string {
	u.t.Helper()
	out, errs, code := u.exec(dir, "", "git", args...)
	if code != 0 {
		u.t.Fatalf("%s: git %s: exit %d\n%s", u.name, strings.Join(args, " "), code, errs)
	}
	return out
}

func (u *user) commitAndPush(repo, msg string) {
	u.t.Helper()
	u.git(repo, "add", "-A")
	u.git(repo, "commit", "-q", "-m", msg)
	u.git(repo, "push", "-q", "origin", "HEAD:main")
}

// privateKeyRE is what no file of a project vault may ever hold.
var privateKeyRE = regexp.MustCompile(`AGE-SECRET-KEY-|AGE-PLUGIN-|PRIVATE KEY`)

// assertNoPrivateKeys checks every file under repo/.okv, and the repository's
// whole history, for private key material.
func assertNoPrivateKeys(t *testing.T, u *user, repo string) {
	t.Helper()
	filepath.WalkDir(filepath.Join(repo, ".okv"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if privateKeyRE.Match(data) {
			t.Fatalf("%s holds private key material", p)
		}
		return nil
	})
	if hist := u.git(repo, "log", "-p", "--all"); privateKeyRE.MatchString(hist) {
		t.Fatalf("the git history of %s holds private key material", repo)
	}
}

func needKeyring(t *testing.T) {
	if !testkeyring.Available() {
		if testkeyring.Required() {
			t.Fatal("OKV_REQUIRE_KEYRING=1 but dbus-daemon or gnome-keyring-daemon is missing")
		}
		t.Skip("needs dbus-daemon and gnome-keyring-daemon")
	}
}

func needProgram(t *testing.T, name string) {
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("OKV_REQUIRE_TOOLS") == "1" {
			t.Fatalf("OKV_REQUIRE_TOOLS=1 but %s is missing", name)
		}
		t.Skip("needs " + name)
	}
}

// TestTwoUsersShareProjectVault: Alice and Bob, each with their own HOME,
// personal vault and gnome-keyring, share a project vault through a git
// remote. Membership is what opens it: Bob reads it once added, cannot read
// what Alice sets after removing him, and still reads the old version in his
// old checkout — which is why okv tells Alice to rotate.
func TestTwoUsersShareProjectVault(t *testing.T) {
	needKeyring(t)
	needProgram(t, "git")
	root := t.TempDir()
	alice := newUser(t, root, "alice", true)
	bob := newUser(t, root, "bob", true)
	const key1 = "sk-proj-alice-first-0123456789abcdef"
	const key2 = "sk-proj-alice-second-0123456789abcdef"
	noValues := func(who, s string) {
		t.Helper()
		if strings.Contains(s, key1) || strings.Contains(s, key2) {
			t.Fatalf("%s's messages hold a secret value:\n%s", who, s)
		}
	}

	alice.ok(root, "", "init")
	bob.ok(root, "", "init")
	aliceID, _ := alice.ok(root, "", "identity")
	bobID, _ := bob.ok(root, "", "identity")
	aliceID, bobID = strings.TrimSpace(aliceID), strings.TrimSpace(bobID)
	if !strings.HasPrefix(aliceID, "age1") || !strings.HasPrefix(bobID, "age1") || aliceID == bobID {
		t.Fatalf("identities: alice %q, bob %q", aliceID, bobID)
	}

	// Alice creates the project vault and pushes it.
	origin := filepath.Join(root, "origin.git")
	alice.git(root, "init", "-q", "--bare", origin)
	arepo := filepath.Join(root, "alice-repo")
	alice.git(root, "clone", "-q", origin, arepo)
	os.WriteFile(filepath.Join(arepo, "README"), []byte("app\n"), 0o644)
	alice.ok(arepo, "", "init", "--project")
	alice.ok(arepo, key1, "set")
	if out, _ := alice.ok(arepo, "", "run", "--", "printenv", "OPENAI_API_KEY"); strings.TrimSpace(out) != key1 {
		t.Fatalf("alice reads %q", out)
	}
	// Local state (audit log, lock) stays out of git.
	if st := alice.git(arepo, "status", "--porcelain", "--ignored", ".okv"); !strings.Contains(st, "!! .okv/audit.jsonl") {
		t.Fatalf("audit.jsonl is not ignored:\n%s", st)
	}
	alice.commitAndPush(arepo, "okv project vault")
	assertNoPrivateKeys(t, alice, arepo)

	// Bob clones: not a member yet. The error names whom to ask and what
	// to ask for.
	brepo := filepath.Join(root, "bob-repo")
	bob.git(root, "clone", "-q", origin, brepo)
	sub := filepath.Join(brepo, "src", "deep")
	os.MkdirAll(sub, 0o755)
	// A clone is untrusted until Bob has seen what it does.
	_, errs, code := bob.okv(sub, "", "run", "--", "printenv", "OPENAI_API_KEY")
	if code != 1 || !strings.Contains(errs, "okv: error: the project vault "+filepath.Join(brepo, ".okv")+" is not trusted") ||
		!strings.Contains(errs, "okv trust") {
		t.Fatalf("bob before trusting: exit %d\n%s", code, errs)
	}
	if out, _ := bob.ok(sub, "", "trust"); !strings.Contains(out, "recipient "+aliceID) {
		t.Fatalf("okv trust does not show the recipients:\n%s", out)
	}
	_, errs, code = bob.okv(sub, "", "run", "--", "printenv", "OPENAI_API_KEY")
	if code != 3 || !strings.Contains(errs, `okv: error: profile "dev" is not encrypted to your identity`) ||
		!strings.Contains(errs, "the file is encrypted to: "+aliceID) ||
		!strings.Contains(errs, "okv recipient add -p dev "+bobID) {
		t.Fatalf("bob before being added: exit %d\n%s", code, errs)
	}

	// Alice adds Bob; Bob pulls and runs with his own keychain identity.
	alice.ok(arepo, "", "recipient", "add", "-p", "dev", bobID)
	if out, _ := alice.ok(arepo, "", "recipient", "ls", "-p", "dev"); out != aliceID+"\n"+bobID+"\n" {
		t.Fatalf("recipients:\n%s", out)
	}
	alice.commitAndPush(arepo, "share dev with bob")
	bob.git(brepo, "pull", "-q", "--ff-only")
	// A new recipient is a change to what Bob trusted: okv says which.
	_, errs, code = bob.okv(sub, "", "run", "--", "printenv", "OPENAI_API_KEY")
	if code != 1 || !strings.Contains(errs, "changed since you trusted it: profile dev: recipient added "+bobID) {
		t.Fatalf("bob after the pull: exit %d\n%s", code, errs)
	}
	bob.ok(sub, "", "trust")
	out, errs := bob.ok(sub, "", "run", "--", "printenv", "OPENAI_API_KEY")
	if strings.TrimSpace(out) != key1 {
		t.Fatalf("bob reads %q", out)
	}
	noValues("bob", errs)
	_, errs = bob.ok(brepo, "", "status")
	if !strings.Contains(errs, "okv: using the project vault "+filepath.Join(brepo, ".okv")) {
		t.Fatalf("status does not say which vault:\n%s", errs)
	}
	// A copy of this version stays in Bob's hands.
	oldrepo := filepath.Join(root, "bob-old-checkout")
	bob.git(root, "clone", "-q", origin, oldrepo)

	// Alice removes Bob: the honest warning, then she rotates the key.
	_, errs = alice.ok(arepo, "", "recipient", "rm", "-p", "dev", bobID)
	for _, want := range []string{
		"okv: profile dev is no longer encrypted to " + bobID,
		"may have kept a copy",
		"okv rotate OPENAI_API_KEY -p dev",
	} {
		if !strings.Contains(errs, want) {
			t.Fatalf("recipient rm: missing %q in:\n%s", want, errs)
		}
	}
	_, errs = alice.ok(arepo, key2, "rotate", "OPENAI_API_KEY")
	noValues("alice", errs)
	alice.commitAndPush(arepo, "remove bob, rotate")

	// Bob pulls: the current version is closed to him, with a clear error
	// naming the remaining recipients (and not him).
	bob.git(brepo, "pull", "-q", "--ff-only")
	bob.ok(brepo, "", "trust")
	_, errs, code = bob.okv(brepo, "", "run", "--", "printenv", "OPENAI_API_KEY")
	if code != 3 || !strings.Contains(errs, `profile "dev" is not encrypted to your identity`) ||
		!strings.Contains(errs, "okv: hint: the file is encrypted to: "+aliceID+"\n") {
		t.Fatalf("bob after removal: exit %d\n%s", code, errs)
	}
	noValues("bob", errs)
	// His old checkout still opens the old version: the reason to rotate.
	bob.ok(oldrepo, "", "trust")
	if out, _ := bob.ok(oldrepo, "", "run", "--", "printenv", "OPENAI_API_KEY"); strings.TrimSpace(out) != key1 {
		t.Fatalf("bob's old checkout reads %q", out)
	}
	// Alice reads the new key.
	if out, _ := alice.ok(arepo, "", "run", "--", "printenv", "OPENAI_API_KEY"); strings.TrimSpace(out) != key2 {
		t.Fatalf("alice reads %q", out)
	}
	for _, repo := range []string{arepo, brepo, oldrepo} {
		assertNoPrivateKeys(t, alice, repo)
	}
}

// TestPluginRecipient: a profile encrypted to an age plugin recipient
// (age1okvtest1…) opens with the plugin identity (AGE-PLUGIN-OKVTEST-1…)
// given through OKV_IDENTITY_FILE, the plugin running as its own process.
func TestPluginRecipient(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	os.MkdirAll(bin, 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "age-plugin-okvtest")); err != nil {
		t.Fatal(err)
	}
	u := newUser(t, root, "ci", false)
	noPlugin := u.with() // PATH without the plugin
	u.env = append(u.env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	own, _ := age.GenerateX25519Identity()
	ownFile := filepath.Join(root, "ci-key.txt")
	os.WriteFile(ownFile, []byte(own.String()+"\n"), 0o600)
	hw, _ := age.GenerateX25519Identity()
	hwRecipient := plugin.EncodeRecipient("okvtest", []byte(hw.Recipient().String()))
	hwFile := filepath.Join(root, "hw-identity.txt")
	os.WriteFile(hwFile, []byte("# a hardware key, through age-plugin-okvtest\n"+plugin.EncodeIdentity("okvtest", []byte(hw.String()))+"\n"), 0o600)
	if !strings.HasPrefix(hwRecipient, "age1okvtest1") {
		t.Fatalf("recipient %q", hwRecipient)
	}
	const key = "sk-plugin-0123456789abcdef"
	withOwn := u.with("OKV_IDENTITY_FILE=" + ownFile)
	withHW := u.with("OKV_IDENTITY_FILE=" + hwFile)

	for _, project := range []bool{false, true} {
		dir := filepath.Join(root, "personal")
		profilePath := filepath.Join(u.home, ".config", "okv", "profiles", "dev.age")
		if project {
			dir = filepath.Join(root, "project")
			os.MkdirAll(dir, 0o755)
			withOwn.ok(dir, "", "init", "--project")
			profilePath = filepath.Join(dir, ".okv", "profiles", "dev.age")
		} else {
			os.MkdirAll(dir, 0o755)
			withOwn.ok(dir, "", "init")
		}
		withOwn.ok(dir, key, "set")
		withOwn.ok(dir, "", "recipient", "add", hwRecipient)

		// The plugin wrapped the file key: an okvtest stanza in the header.
		data, err := os.ReadFile(profilePath)
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := age.ExtractHeader(armor.NewReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(hdr, []byte("\n-> okvtest ")) {
			t.Fatalf("no okvtest stanza in the header:\n%s", hdr)
		}

		out, _ := withHW.ok(dir, "", "run", "--", "printenv", "OPENAI_API_KEY")
		if strings.TrimSpace(out) != key {
			t.Fatalf("project=%v: the plugin identity reads %q", project, out)
		}

		// Without the plugin installed: a clear error, not "tampered".
		_, errs, code := noPlugin.with("OKV_IDENTITY_FILE="+hwFile).okv(dir, "", "run", "--", "true")
		if code != 1 || !strings.Contains(errs, `okv: error: the age plugin "okvtest" is not installed`) ||
			!strings.Contains(errs, "okv: hint: install age-plugin-okvtest and make sure it is on PATH") {
			t.Fatalf("project=%v, plugin missing: exit %d\n%s", project, code, errs)
		}
		_, errs, code = noPlugin.with("OKV_IDENTITY_FILE="+ownFile).okv(dir, "sk-other-0123456789", "set", "OTHER")
		if code != 1 || !strings.Contains(errs, `the age plugin "okvtest" is not installed`) {
			t.Fatalf("project=%v, encrypting without the plugin: exit %d\n%s", project, code, errs)
		}
		if project {
			if data, _ := os.ReadFile(filepath.Join(dir, ".okv", "config.toml")); privateKeyRE.Match(data) {
				t.Fatalf("config.toml holds private key material:\n%s", data)
			}
		}
	}
}
