package vault_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/okvault/okv/vault"
)

const (
	sshEd25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE50LtCPk4YI9YcYDcHxQwYJ7YzTU6Lc1jO4MrxJR8AO alice@laptop"
	ageR1      = "age1wx7p3jhwql3t5l7jpphj48jywatrhngvtmark2f6dfzp6p057v4sef5m8d"
)

func TestNormalizeRecipient(t *testing.T) {
	good := map[string]string{
		ageR1:               ageR1,
		"  " + ageR1 + "\n": ageR1,
		"ssh-ed25519   AAAAC3NzaC1lZDI1NTE5AAAAIE50LtCPk4YI9YcYDcHxQwYJ7YzTU6Lc1jO4MrxJR8AO   alice@laptop": sshEd25519,
	}
	pr := plugin.EncodeRecipient("okvtest", []byte("some data"))
	good[pr] = pr // a plugin's
	for in, want := range good {
		got, err := vault.NormalizeRecipient(in)
		if err != nil || got != want {
			t.Errorf("NormalizeRecipient(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "nonsense", "age1notbech32!", "ssh-dss AAAAB3NzaC1kc3M", "ssh-ed25519 AAAA", "github:alice"} {
		_, err := vault.NormalizeRecipient(in)
		var re *vault.RecipientError
		if !errors.As(err, &re) || re.Private {
			t.Errorf("NormalizeRecipient(%q) = %v, want a RecipientError", in, err)
		}
	}
	// Private keys are refused and never quoted.
	id, _ := age.GenerateX25519Identity()
	for _, in := range []string{id.String(), "AGE-PLUGIN-YUBIKEY-1QQQQQQ", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----"} {
		_, err := vault.NormalizeRecipient(in)
		var re *vault.RecipientError
		if !errors.As(err, &re) || !re.Private {
			t.Errorf("NormalizeRecipient(private) = %v, want a private-key RecipientError", err)
		}
		if err != nil && strings.Contains(err.Error(), in[:12]) {
			t.Errorf("the error quotes the private key: %v", err)
		}
	}
	if !vault.SameRecipient(sshEd25519, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE50LtCPk4YI9YcYDcHxQwYJ7YzTU6Lc1jO4MrxJR8AO") {
		t.Error("an SSH key without its comment is not the same recipient")
	}
}

func TestReadRecipientsFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "team.txt")
	os.WriteFile(good, []byte("# the team\n\n"+ageR1+"\n"+sshEd25519+"\n"), 0o600)
	got, err := vault.ReadRecipientsFile(good)
	if err != nil || len(got) != 2 || got[0] != ageR1 || got[1] != sshEd25519 {
		t.Fatalf("ReadRecipientsFile = %q, %v", got, err)
	}
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte(ageR1+"\nOPENAI_API_KEY=sk-secret-value-123\n"), 0o600)
	_, err = vault.ReadRecipientsFile(bad)
	var re *vault.RecipientError
	if !errors.As(err, &re) || re.Line != 2 || strings.Contains(err.Error(), "sk-secret") {
		t.Fatalf("bad line: %v", err)
	}
}

// Adding and removing recipients re-encrypts the profile: the added key
// opens it, the removed one no longer does, and config.toml lists them.
func TestAddRemoveRecipients(t *testing.T) {
	v, own := fileVault(t)
	mustSet(t, v, own, "dev", "OPENAI_API_KEY", "sk-recipients-0123456789")
	mate, _ := age.GenerateX25519Identity()
	ch, err := v.AddRecipients("dev", ids(own), []string{mate.Recipient().String()})
	if err != nil || len(ch.Added) != 1 || len(ch.Secrets) != 1 {
		t.Fatalf("AddRecipients: %+v, %v", ch, err)
	}
	if _, err := v.Load("dev", ids(mate)); err != nil {
		t.Fatalf("the added recipient cannot open the profile: %v", err)
	}
	re, err := vault.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if rs := re.RecipientStrings("dev"); len(rs) != 2 || rs[1] != mate.Recipient().String() {
		t.Fatalf("config lists %q", rs)
	}
	if _, err := v.RemoveRecipients("dev", ids(own), []string{ageR1}); !errors.As(err, new(*vault.RecipientNotFoundError)) {
		t.Fatalf("removing a stranger: %v", err)
	}
	if _, err := v.RemoveRecipients("dev", ids(own), []string{v.Config.Recipient}); !errors.As(err, new(*vault.OwnRecipientError)) {
		t.Fatalf("removing the vault's own recipient: %v", err)
	}
	if _, err := v.RemoveRecipients("dev", ids(own), []string{mate.Recipient().String()}); err != nil {
		t.Fatal(err)
	}
	_, err = v.Load("dev", ids(mate))
	var nm *vault.NoMatchError
	if !errors.As(err, &nm) || len(nm.Recipients) != 1 || nm.Recipients[0] != v.Config.Recipient {
		t.Fatalf("the removed recipient: %v (%+v)", err, nm)
	}
	// The copy of a shared profile is shared with the same recipients.
	v.AddRecipients("dev", ids(own), []string{mate.Recipient().String()})
	if err := v.CopyProfile("dev", "dev2", ids(own), false); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Load("dev2", ids(mate)); err != nil {
		t.Fatalf("the copy is not encrypted to the profile's recipients: %v", err)
	}
}

func TestProjectVault(t *testing.T) {
	own, _ := age.GenerateX25519Identity()
	repo := t.TempDir()
	dir := filepath.Join(repo, vault.ProjectDirName)
	if _, err := vault.InitProject(dir, own.String(), nil); err == nil {
		t.Fatal("InitProject took a private key as its member")
	}
	v, err := vault.InitProject(dir, own.Recipient().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, v, own, "dev", "OPENAI_API_KEY", "sk-project-0123456789")
	// Found from a subfolder, unless OKV_HOME says otherwise.
	sub := filepath.Join(repo, "a", "b")
	os.MkdirAll(sub, 0o755)
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	loc, err := vault.Locate(getenv, sub)
	if err != nil || !loc.Project || loc.Dir != dir {
		t.Fatalf("Locate from a subfolder = %+v, %v", loc, err)
	}
	env["OKV_HOME"] = filepath.Join(repo, "personal")
	if loc, _ := vault.Locate(getenv, sub); loc.Project || loc.Source != "OKV_HOME" {
		t.Fatalf("Locate with OKV_HOME = %+v", loc)
	}
	// Opened with the user's identity through an identity file, with no
	// personal vault; nothing private is ever under .okv.
	idFile := filepath.Join(t.TempDir(), "id.txt")
	os.WriteFile(idFile, []byte(own.String()+"\n"), 0o600)
	pv, err := vault.Open(dir)
	if err != nil || !pv.Config.IsProject() {
		t.Fatal(err)
	}
	u := &vault.Unlocker{IdentityFile: idFile, PersonalDir: filepath.Join(t.TempDir(), "none")}
	got, err := u.Identities(pv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pv.Load("dev", got); err != nil {
		t.Fatal(err)
	}
	if _, err := (&vault.Unlocker{PersonalDir: filepath.Join(t.TempDir(), "none")}).Identities(pv); !errors.Is(err, vault.ErrNoIdentity) {
		t.Fatalf("no identity at all: %v", err)
	}
	if files, err := pv.PrivateKeyFiles(); err != nil || len(files) != 0 {
		t.Fatalf("private keys under .okv: %q, %v", files, err)
	}
	// The last member cannot be removed.
	if _, err := pv.RemoveRecipients("dev", got, []string{own.Recipient().String()}); !errors.As(err, new(*vault.NoRecipientsError)) {
		t.Fatalf("removing the last member: %v", err)
	}
}

// A merge conflict in config.toml is a ConflictError naming the file, not
// a TOML parse error.
func TestConfigConflict(t *testing.T) {
	v, _ := fileVault(t)
	path := filepath.Join(v.Dir, "config.toml")
	data, _ := os.ReadFile(path)
	conflicted := strings.Replace(string(data), "default_profile", "<<<<<<< HEAD\ndefault_profile = \"dev\"\n=======\ndefault_profile = \"prod\"\n>>>>>>> other\ndefault_profile_x", 1)
	os.WriteFile(path, []byte(conflicted), 0o600)
	_, err := vault.Open(v.Dir)
	var ce *vault.ConflictError
	if !errors.As(err, &ce) || ce.Path != path || ce.Profile != "" {
		t.Fatalf("Open on a conflicted config: %v", err)
	}
	if !strings.Contains(err.Error(), "config.toml has unresolved git merge conflict markers") {
		t.Fatalf("message: %v", err)
	}
}

// A .okv/ that belongs to another user (planted in a shared folder such as
// /tmp) is refused, as git refuses a repository of dubious ownership.
func TestForeignProjectVault(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give a folder to another user")
	}
	own, _ := age.GenerateX25519Identity()
	repo := t.TempDir()
	dir := filepath.Join(repo, vault.ProjectDirName)
	if _, err := vault.InitProject(dir, own.Recipient().String(), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := vault.Locate(func(string) string { return "" }, repo)
	if !errors.As(err, new(*vault.ForeignProjectError)) {
		t.Fatalf("Locate = %v, want a ForeignProjectError", err)
	}
}

// A write through a Vault opened before another okv added a member keeps
// that member: Update re-reads the recipients under the lock.
func TestUpdateKeepsConcurrentlyAddedRecipient(t *testing.T) {
	v, own := fileVault(t)
	stale, err := vault.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	mate, _ := age.GenerateX25519Identity()
	if _, err := v.AddRecipients("dev", ids(own), []string{mate.Recipient().String()}); err != nil {
		t.Fatal(err)
	}
	mustSet(t, stale, own, "dev", "OPENAI_API_KEY", "sk-concurrent-0123456789")
	if _, err := v.Load("dev", ids(mate)); err != nil {
		t.Fatalf("the member added meanwhile lost access: %v", err)
	}
}
