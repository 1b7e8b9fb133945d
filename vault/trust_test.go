package vault_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/okvault/okv/limits"
	"github.com/okvault/okv/vault"
)

// fileVault creates a personal vault unlocked by an identity file.
func idFileVault(t *testing.T) (*vault.Vault, []age.Identity) {
	t.Helper()
	id, _ := age.GenerateX25519Identity()
	v, err := vault.Init(filepath.Join(t.TempDir(), "v"), vault.InitOptions{Backend: vault.BackendFile, Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	return v, []age.Identity{id}
}

func TestPolicyPinnedInDocument(t *testing.T) {
	v, ids := idFileVault(t)
	if err := v.CreateProfile("prod", &vault.Policy{Confirm: true, Proxy: true, Limits: limits.Limits{RPM: 60, Models: []string{"gpt-4o-mini"}}}); err != nil {
		t.Fatal(err)
	}
	edit := func(fn func(*vault.Policy)) {
		t.Helper()
		if err := v.UpdateConfig(func(c *vault.Config) error { p := c.Policy("prod"); fn(&p); c.Profiles["prod"] = &p; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := v.Load("prod", ids)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.CheckPolicy(doc); err != nil {
		t.Fatalf("fresh profile: %v", err)
	}
	for _, c := range []struct {
		name   string
		edit   func(*vault.Policy)
		weaker bool
		diff   string
	}{
		{"confirm deleted", func(p *vault.Policy) { p.Confirm = false }, true, "confirm = false (pinned: true)"},
		{"proxy deleted", func(p *vault.Policy) { p.Proxy = false }, true, "proxy = false (pinned: true)"},
		{"rpm raised", func(p *vault.Policy) { p.RPM = 600 }, true, "rpm = 600 (pinned: 60)"},
		{"rpm lowered", func(p *vault.Policy) { p.RPM = 6 }, false, "rpm = 6 (pinned: 60)"},
		{"models widened", func(p *vault.Policy) { p.Models = []string{"gpt-4o", "gpt-4o-mini"} }, true, "models = gpt-4o,gpt-4o-mini (pinned: gpt-4o-mini)"},
		{"upstream added", func(p *vault.Policy) { p.Upstream = "https://evil.example" }, true, "upstream = https://evil.example (pinned: https://api.openai.com)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			edit(c.edit)
			var pm *vault.PolicyMismatchError
			err := v.CheckPolicy(doc)
			if !errors.As(err, &pm) || pm.Weaker() != c.weaker || !strings.Contains(err.Error(), c.diff) {
				t.Fatalf("got %v (weaker %v), want %q weaker=%v", err, pm != nil && pm.Weaker(), c.diff, c.weaker)
			}
			// Nothing is written under a config that disagrees with the pin.
			before, _ := os.ReadFile(v.ProfilePath("prod"))
			if err := v.Update("prod", ids, func(d *vault.Document) error { _, err := d.SetSecret("X", []byte("value-123"), v.Now()); return err }); !errors.As(err, &pm) {
				t.Fatalf("update under a mismatch: %v", err)
			}
			if after, _ := os.ReadFile(v.ProfilePath("prod")); string(after) != string(before) {
				t.Fatal("the profile was written under a mismatched config")
			}
			edit(func(p *vault.Policy) {
				*p = vault.Policy{Confirm: true, Proxy: true, Limits: limits.Limits{RPM: 60, Models: []string{"gpt-4o-mini"}}}
			})
		})
	}
	// SetPolicy starts from the pin, not from an edited config.toml.
	edit(func(p *vault.Policy) { p.Proxy = false })
	p, err := v.SetPolicy("prod", ids, func(p *vault.Policy) error { return p.Set([]string{"tpm=1000"}) })
	if err != nil {
		t.Fatal(err)
	}
	if !p.Proxy || !p.Confirm || p.TPM != 1000 {
		t.Fatalf("policy after set: %+v", p)
	}
	doc, _ = v.Load("prod", ids)
	if err := v.CheckPolicy(doc); err != nil {
		t.Fatal(err)
	}
}

func TestUpstreamOnlyWhenPinned(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		pinned string
		env    map[string]string
		want   string
	}{
		{"", nil, "https://api.openai.com"},
		{"", map[string]string{"OKV_OPENAI_BASE_URL": "http://127.0.0.1:9/"}, "http://127.0.0.1:9"},
		{"https://gw.example.com/openai", map[string]string{"OKV_OPENAI_BASE_URL": "http://127.0.0.1:9"}, "https://gw.example.com/openai"},
	} {
		got, err := vault.Upstream(c.pinned, env(c.env))
		if err != nil || got != c.want {
			t.Errorf("Upstream(%q, %v) = %q, %v; want %q", c.pinned, c.env, got, err, c.want)
		}
	}
	if _, err := vault.Upstream("http://192.0.2.1", nil); err == nil {
		t.Error("plain http beyond loopback was accepted")
	}
}

func TestTrustNamesChanges(t *testing.T) {
	pv, _ := idFileVault(t) // the personal vault holds the trust record
	store := &vault.TrustStore{Dir: pv.Dir}
	member, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	repo := t.TempDir()
	proj, err := vault.InitProject(filepath.Join(repo, vault.ProjectDirName), member.Recipient().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ue *vault.UntrustedError
	if err := store.CheckVault(proj); !errors.As(err, &ue) || len(ue.Changes) != 0 {
		t.Fatalf("never trusted: %v", err)
	}
	if err := store.TrustVault(proj); err != nil {
		t.Fatal(err)
	}
	if err := store.CheckVault(proj); err != nil {
		t.Fatalf("trusted: %v", err)
	}
	// The same repository reached through a linked parent folder.
	alias := filepath.Join(t.TempDir(), "alias")
	os.Symlink(repo, alias)
	if via, err := vault.Open(filepath.Join(alias, vault.ProjectDirName)); err != nil {
		t.Fatal(err)
	} else if err := store.CheckVault(via); err != nil {
		t.Fatalf("trusted, through a linked parent: %v", err)
	}
	proj.UpdateConfig(func(c *vault.Config) error {
		p := c.Policy("dev")
		p.Recipients = append(p.Recipients, other.Recipient().String())
		p.Upstream = "https://evil.example"
		c.Profiles["dev"] = &p
		c.DefaultProfile = "prod"
		return nil
	})
	err = store.CheckVault(proj)
	if !errors.As(err, &ue) {
		t.Fatalf("changed: %v", err)
	}
	got := strings.Join(ue.Changes, "\n")
	for _, want := range []string{
		"default_profile prod (trusted: dev)",
		"profile dev: recipient added " + other.Recipient().String(),
		"profile dev: upstream = https://evil.example (trusted: https://api.openai.com)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("changes lack %q:\n%s", want, got)
		}
	}
	if ok, err := store.Untrust(proj.Dir); !ok || err != nil {
		t.Fatalf("untrust: %v %v", ok, err)
	}
	if err := store.CheckVault(proj); !errors.As(err, &ue) || len(ue.Changes) != 0 {
		t.Fatalf("untrusted again: %v", err)
	}
	// No personal vault: nowhere to record trust.
	none := &vault.TrustStore{Dir: filepath.Join(t.TempDir(), "none")}
	if err := none.TrustVault(proj); !errors.Is(err, vault.ErrNoTrustStore) {
		t.Fatalf("no personal vault: %v", err)
	}
}

func TestVaultFilesAreNotFollowed(t *testing.T) {
	v, ids := idFileVault(t)
	target := filepath.Join(t.TempDir(), "target")
	os.WriteFile(target, []byte("keep me\n"), 0o755)
	var le *vault.LinkError
	for _, f := range []string{".lock", "audit.jsonl"} {
		p := filepath.Join(v.Dir, f)
		os.Remove(p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		var err error
		if f == ".lock" {
			_, err = v.Lock()
		} else {
			err = v.Audit(vault.AuditRecord{Op: "test"}, nil)
		}
		if !errors.As(err, &le) {
			t.Errorf("%s linked: %v", f, err)
		}
		os.Remove(p)
	}
	if data, _ := os.ReadFile(target); string(data) != "keep me\n" {
		t.Error("the link's target was written")
	}
	// state.json: a link is neither read nor written through.
	st := filepath.Join(v.Dir, "state.json")
	os.WriteFile(target, []byte(`{"overdue_warned":{"dev":"2026-01-01"}}`), 0o755)
	os.Symlink(target, st)
	if v.OverdueWarnedOn("dev", "2026-01-01") {
		t.Error("state.json was read through a link")
	}
	if _, err := v.MarkOverdueWarned("dev", "2026-01-02"); err == nil {
		t.Error("state.json was written through a link")
	}
	os.Remove(st)
	// usage.jsonl and its lock, which the proxy opens by path.
	for _, f := range []string{"usage.jsonl", "usage.jsonl.lock"} {
		p := filepath.Join(v.Dir, f)
		os.Symlink(target, p)
		if _, err := v.UsagePath(); !errors.As(err, &le) {
			t.Errorf("%s linked: %v", f, err)
		}
		os.Remove(p)
	}
	if data, _ := os.ReadFile(target); string(data) != `{"overdue_warned":{"dev":"2026-01-01"}}` {
		t.Error("the link's target was written")
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o755 {
		t.Errorf("the link's target was chmod-ed to %v", fi.Mode())
	}
	// A profile that is a link to another vault's profile.
	other, oids := idFileVault(t)
	os.Remove(v.ProfilePath("dev"))
	os.Symlink(other.ProfilePath("dev"), v.ProfilePath("dev"))
	if _, err := v.Load("dev", append(ids, oids...)); !errors.As(err, &le) {
		t.Errorf("linked profile: %v", err)
	}
	// A linked profiles/ folder.
	pdir := filepath.Dir(v.ProfilePath("dev"))
	os.RemoveAll(pdir)
	os.Symlink(filepath.Dir(other.ProfilePath("dev")), pdir)
	if _, err := vault.Open(v.Dir); !errors.As(err, &le) {
		t.Errorf("linked profiles/: %v", err)
	}
}

// A personal profile written before policies were pinned is pinned on its
// first use, as config.toml says then: a later edit cannot weaken it.
func TestLegacyProfilePinnedOnUse(t *testing.T) {
	v, ids := idFileVault(t)
	if err := v.UpdateConfig(func(c *vault.Config) error {
		c.Profiles["dev"] = &vault.Policy{Proxy: true}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	legacy := `{"okv": 1, "profile": "dev", "secrets": {}}`
	r, _ := age.ParseX25519Recipient(v.Config.Recipient)
	ct, err := vault.Encrypt([]byte(legacy), r)
	if err != nil {
		t.Fatal(err)
	}
	if err := vault.WriteFileAtomic(v.ProfilePath("dev"), ct); err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "id.txt")
	os.WriteFile(idFile, []byte(ids[0].(*age.X25519Identity).String()+"\n"), 0o600)
	env := &vault.Env{Getenv: func(k string) string {
		if k == "OKV_HOME" {
			return v.Dir
		}
		return ""
	}, Cwd: t.TempDir()}
	u, err := env.Use(vault.UseRequest{Unlocker: &vault.Unlocker{IdentityFile: idFile}})
	if err != nil {
		t.Fatal(err)
	}
	if !u.Policy.Proxy || u.Doc.Policy == nil || !u.Doc.Policy.Proxy {
		t.Fatalf("legacy profile not pinned on use: %+v", u.Doc.Policy)
	}
	v.UpdateConfig(func(c *vault.Config) error { c.Profiles["dev"] = &vault.Policy{}; return nil })
	var pm *vault.PolicyMismatchError
	if _, err := (&vault.Env{Getenv: env.Getenv, Cwd: env.Cwd}).Use(vault.UseRequest{Unlocker: &vault.Unlocker{IdentityFile: idFile}}); !errors.As(err, &pm) {
		t.Fatalf("proxy deleted after pinning: %v", err)
	}
}
