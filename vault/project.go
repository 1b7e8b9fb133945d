package vault

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
)

// ProjectDirName is the project vault's folder at a repository's root.
const ProjectDirName = ".okv"

// projectGitignore keeps a checkout's local state out of git: the lock, the
// audit and usage logs and warning bookkeeping are per person, and a
// private identity must never be committed even by mistake.
const projectGitignore = `# okv: local state of this checkout, never committed
.lock
.*.tmp-*
audit.jsonl
audit.head
usage.jsonl
usage-*.jsonl
usage-days.json
usage-held.json
usage-accepted.json
usage.lock
state.json
.journal
identity.age
`

// Location says which vault a command uses, and why.
type Location struct {
	Dir     string
	Project bool   // a .okv/ folder found by walking up from the working folder
	Source  string // "OKV_HOME", "project", or "personal"
}

// Locate picks the vault: $OKV_HOME when set (explicit wins), else the
// nearest .okv/ holding a config.toml in cwd or a parent, else the
// personal vault (os.UserConfigDir()/okv).
func Locate(getenv func(string) string, cwd string) (Location, error) {
	if getenv("OKV_HOME") != "" {
		d, err := DefaultDir(getenv)
		return Location{Dir: d, Source: "OKV_HOME"}, err
	}
	if d := FindProjectDir(cwd); d != "" {
		// Like git's safe.directory: a .okv/ planted by another user in a
		// shared parent (/tmp) must not choose what okv run injects.
		for _, p := range []string{d, filepath.Join(d, configFile)} {
			if fi, err := os.Lstat(p); err == nil && ownedByOther(fi) {
				return Location{}, &ForeignProjectError{Dir: d}
			}
		}
		return Location{Dir: d, Project: true, Source: "project"}, nil
	}
	d, err := DefaultDir(getenv)
	return Location{Dir: d, Source: "personal"}, err
}

// ForeignProjectError: a project vault found by walking up that belongs to
// another user.
type ForeignProjectError struct{ Dir string }

func (e *ForeignProjectError) Error() string {
	return "refusing the project vault " + e.Dir + ": it belongs to another user"
}

// FindProjectDir returns the nearest .okv/ folder with a config.toml in dir
// or one of its parents, or "".
func FindProjectDir(dir string) string {
	if dir == "" {
		return ""
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, ProjectDirName)
		// Lstat: a .okv that is a link is found, and then refused by Open,
		// rather than followed or passed over.
		if _, err := os.Lstat(p); err == nil {
			if _, err := os.Lstat(filepath.Join(p, configFile)); err == nil {
				return p
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// PersonalDir is the personal vault's folder, whose identity opens project
// vaults: $OKV_HOME unless it points at a project vault, else
// os.UserConfigDir()/okv.
func PersonalDir(getenv func(string) string) (string, error) {
	d, err := DefaultDir(getenv)
	if err != nil || getenv("OKV_HOME") == "" {
		return d, err
	}
	if v, err := Open(d); err == nil && v.Config.IsProject() {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(base, "okv"), nil
	}
	return d, nil
}

// InitProject creates a project vault in dir (a .okv/ folder) with an
// empty profile "dev" encrypted to member, the creator's public
// recipient. It holds no identity: every member unlocks with their own.
// Nothing is left behind when it fails.
func InitProject(dir, member string, now func() time.Time) (v *Vault, err error) {
	if exists(filepath.Join(dir, configFile)) {
		return nil, ErrAlreadyInitialized
	}
	member, err = NormalizeRecipient(member)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	var idBytes [8]byte
	if _, err := rand.Read(idBytes[:]); err != nil {
		return nil, err
	}
	cfg := &Config{
		Kind:           KindProject,
		VaultID:        "okv-" + hex.EncodeToString(idBytes[:]),
		DefaultProfile: "dev",
		Profiles:       map[string]*Policy{"dev": {Recipients: RecipientList{member}}},
	}
	created := !exists(dir)
	if err := os.MkdirAll(filepath.Join(dir, profilesDir), dirPerm); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if created {
				os.RemoveAll(dir)
			} else {
				os.Remove(filepath.Join(dir, profilesDir, "dev"+profileExt))
				os.Remove(filepath.Join(dir, configFile))
			}
		}
	}()
	v = &Vault{Dir: dir, Config: cfg, Now: now}
	unlock, err := v.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !exists(filepath.Join(dir, ".gitignore")) {
		if err := WriteFileAtomic(filepath.Join(dir, ".gitignore"), []byte(projectGitignore)); err != nil {
			return nil, err
		}
	}
	if err := v.writeProfile(NewDocument("dev")); err != nil {
		return nil, err
	}
	if err := v.saveConfigLocked(); err != nil {
		return nil, err
	}
	return v, nil
}

// PrivateKeyFiles lists files under the vault folder that hold something
// looking like a private key. A project vault must never have one: it is
// committed to git.
func (v *Vault) PrivateKeyFiles() ([]string, error) {
	var out []string
	err := filepath.WalkDir(v.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		f, err := openVaultFile(path, os.O_RDONLY, 0) // swapped for a link since the walk: refused
		if err != nil {
			return err
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return err
		}
		if looksPrivate(string(data)) {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}

// ErrNoIdentity: a project vault, and neither a personal vault nor an
// identity file to open it with.
var ErrNoIdentity = errors.New("no identity to open this project vault: no personal vault and no identity file")

// projectIdentities collects the user's identities for a project vault:
// the identity file's alone when one is given (it replaces the personal
// vault's, so that a CI key check cannot pass on the keychain identity of
// the machine it runs on), else the personal vault's (keychain or
// passphrase).
func (u *Unlocker) projectIdentities() ([]age.Identity, error) {
	if u.IdentityFile != "" {
		return u.readIdentityFile()
	}
	pv, err := Open(u.personalDir())
	switch {
	case err == nil && pv.Config.IsProject():
		// OKV_HOME points at a project: there is no personal vault to use.
		return nil, ErrNoIdentity
	case err == nil:
		if ids := u.fromAgentFor(pv); ids != nil {
			return ids, nil
		}
		switch pv.Config.Backend {
		case BackendKeychain:
			return u.keychainIdentity(pv)
		case BackendPassphrase:
			return u.passphraseIdentity(pv)
		case BackendFile:
			return nil, ErrIdentityFileNeeded
		}
		return nil, fmt.Errorf("personal vault: unknown backend %q", pv.Config.Backend)
	case errors.Is(err, ErrNotInitialized):
		return nil, ErrNoIdentity
	default:
		return nil, fmt.Errorf("personal vault: %w", err)
	}
}
