package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"
	"github.com/gofrs/flock"
)

// File names inside the vault folder.
const (
	configFile   = "config.toml"
	identityFile = "identity.age"
	profilesDir  = "profiles"
	lockFile     = ".lock"
	profileExt   = ".age"
)

// BackendFile: the identity comes from OKV_IDENTITY_FILE / --identity on
// every use (CI, containers, hardware identities through plugins).
const BackendFile = "file"

// LockTimeout is how long a writer waits for another okv to finish.
var LockTimeout = 30 * time.Second

// Vault is an opened vault folder.
type Vault struct {
	Dir    string
	Config *Config
	Now    func() time.Time

	// PluginUI talks to the user for age plugins (age1NAME1… recipients)
	// when a profile is encrypted to one; nil lets plugins run without
	// prompts.
	PluginUI *plugin.ClientUI

	// state is state.json as first read by the lock-free readers
	// (OverdueWarnedOn, StrayEnvWarnedOn, TemplateOutputs, ...), so okv
	// run reads the file once; updateState re-reads it under the lock and
	// stores what it wrote.
	state atomic.Pointer[map[string]json.RawMessage]
}

// DefaultDir is $OKV_HOME, else os.UserConfigDir()/okv.
func DefaultDir(getenv func(string) string) (string, error) {
	if d := getenv("OKV_HOME"); d != "" {
		return filepath.Abs(d)
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("cannot find a folder for the vault: %w (set OKV_HOME)", err)
	}
	return filepath.Join(base, "okv"), nil
}

// Open opens the vault in dir, refusing unsafe permissions.
func Open(dir string) (*Vault, error) {
	// A project vault's folder is never followed through a link (its
	// parent chose it by walking up); a personal vault folder may be one
	// (dotfile managers link ~/.config/okv), since its owner made it.
	stat := os.Stat
	if filepath.Base(dir) == ProjectDirName {
		stat = checkVaultDir
	}
	fi, err := stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotInitialized
	}
	if err != nil {
		return nil, err
	}
	if err := checkPerm(dir, fi); err != nil {
		return nil, err
	}
	// profiles/ too: whoever can write there can plant a profile (it is
	// encrypted to the public recipient) and so inject variables into runs.
	pdir := filepath.Join(dir, profilesDir)
	if pfi, err := checkVaultDir(pdir); err == nil {
		if err := checkPerm(pdir, pfi); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	path := filepath.Join(dir, configFile)
	data, err := readChecked(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotInitialized
	}
	if err != nil {
		return nil, err
	}
	cfg, err := decodeConfig(path, data)
	if err != nil {
		return nil, err
	}
	return &Vault{Dir: dir, Config: cfg, Now: time.Now}, nil
}

// readChecked reads a vault file, never through a link, after checking
// its permissions.
func readChecked(path string) ([]byte, error) {
	f, err := openVaultFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkPerm(path, fi); err != nil {
		return nil, err
	}
	buf := make([]byte, fi.Size())
	n, err := io.ReadFull(f, buf)
	return buf[:n], err
}

// InitOptions says how to create a vault.
type InitOptions struct {
	Backend    string   // keychain, passphrase or file
	Keychain   Keychain // for BackendKeychain
	Passphrase []byte   // for BackendPassphrase
	Identity   age.Identity
	Now        func() time.Time
}

// Init creates a vault in dir with a fresh identity (or opts.Identity: the
// file backend's, or for the others one restored from a backup) and an
// empty default profile "dev". Nothing is left behind when it fails.
func Init(dir string, opts InitOptions) (v *Vault, err error) {
	if _, err := os.Stat(filepath.Join(dir, configFile)); err == nil {
		return nil, ErrAlreadyInitialized
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var idBytes [8]byte
	if _, err := rand.Read(idBytes[:]); err != nil {
		return nil, err
	}
	cfg := &Config{
		VaultID:        "okv-" + hex.EncodeToString(idBytes[:]),
		Backend:        opts.Backend,
		DefaultProfile: "dev",
		Profiles:       map[string]*Policy{},
	}

	var identityAge []byte
	switch opts.Backend {
	case BackendKeychain, BackendPassphrase:
		// opts.Identity: one restored from a backup (init --import-identity).
		id, _ := opts.Identity.(*age.X25519Identity)
		if id == nil {
			if id, err = age.GenerateX25519Identity(); err != nil {
				return nil, err
			}
		}
		cfg.Recipient = id.Recipient().String()
		if opts.Backend == BackendKeychain {
			if err := opts.Keychain.Set(KeychainService, cfg.VaultID, id.String()); err != nil {
				return nil, err
			}
			defer func() {
				if err != nil {
					opts.Keychain.Delete(KeychainService, cfg.VaultID)
				}
			}()
		} else {
			sr, err := age.NewScryptRecipient(string(opts.Passphrase))
			if err != nil {
				return nil, err
			}
			identityAge, err = Encrypt([]byte("# okv vault identity, created "+now().UTC().Format(time.RFC3339)+"\n"+id.String()+"\n"), sr)
			if err != nil {
				return nil, err
			}
		}
	case BackendFile:
		cfg.Recipient = RecipientOf(opts.Identity)
		if cfg.Recipient == "" {
			return nil, errors.New("this identity has no recipient okv can encrypt to (use an X25519 age identity)")
		}
	default:
		return nil, fmt.Errorf("unknown backend %q", opts.Backend)
	}

	// Never adopt (and chmod 0700) a folder that already holds other
	// things: OKV_HOME=/tmp would lock everyone out of /tmp.
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, &NotEmptyError{Dir: dir}
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
				os.Remove(filepath.Join(dir, identityFile))
				os.Remove(filepath.Join(dir, profilesDir, "dev"+profileExt))
				os.Remove(filepath.Join(dir, configFile))
			}
		}
	}()
	for _, d := range []string{dir, filepath.Join(dir, profilesDir)} {
		if err := chmodDir(d); err != nil {
			return nil, err
		}
	}
	v = &Vault{Dir: dir, Config: cfg, Now: now}
	unlock, err := v.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if identityAge != nil {
		if err := WriteFileAtomic(filepath.Join(dir, identityFile), identityAge); err != nil {
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

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Lock takes the vault's advisory write lock, waiting up to LockTimeout.
// The lock file is opened (once, by flock) without following a link (a
// cloned .okv/.lock linked elsewhere must not be created, chmod-ed or
// locked through); anything but a regular file is refused, and a wrong
// mode is set through an open file (refused instead when the file has
// other names, a hard link: the mode would change on the other name too).
func (v *Vault) Lock() (unlock func(), err error) {
	path := filepath.Join(v.Dir, lockFile)
	if oNoFollow == 0 { // no O_NOFOLLOW here: check by name first
		if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
			return nil, linkError(path, fi)
		}
	}
	fl := flock.New(path, flock.SetFlag(os.O_RDONLY|os.O_CREATE|oNoFollow), flock.SetPermissions(filePerm))
	// Most locks are free: one try first, and the timed wait (a context
	// and its timer, on okv run's path) only when another okv holds it.
	ok, err := fl.TryLock()
	if err == nil && !ok {
		ctx, cancel := context.WithTimeout(context.Background(), LockTimeout)
		defer cancel()
		ok, err = fl.TryLockContext(ctx, 20*time.Millisecond)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, noFollowError(path, err)
	}
	if !ok {
		return nil, ErrLockTimeout
	}
	fi, err := fl.Stat() // the locked file, not the name
	if err != nil {
		fl.Unlock()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		fl.Unlock()
		return nil, &LinkError{Path: path, Kind: "not a regular file"}
	}
	if fi.Mode().Perm() != filePerm && runtime.GOOS != "windows" {
		// The mode is set through the open file: a hard link would have
		// it set on the link's other file. (A hard-linked lock whose mode
		// is right is only locked, which changes nothing: it is used.)
		if err := checkOneName(path, fi); err != nil {
			fl.Unlock()
			return nil, err
		}
		if f, err := openVaultFile(path, os.O_RDONLY, 0); err == nil {
			f.Chmod(filePerm)
			f.Close()
		}
	}
	return func() { fl.Unlock() }, nil
}

// SaveConfig writes config.toml atomically under the lock.
func (v *Vault) SaveConfig() error {
	unlock, err := v.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	return v.saveConfigLocked()
}

func (v *Vault) saveConfigLocked() error {
	data, err := encodeConfig(v.Config)
	if err != nil {
		return err
	}
	return WriteFileAtomic(v.configPath(), data)
}

func (v *Vault) configPath() string { return filepath.Join(v.Dir, configFile) }

// UpdateConfig re-reads config.toml under the lock, applies fn and writes
// it back, so concurrent changes by other okv processes are not lost.
func (v *Vault) UpdateConfig(fn func(*Config) error) error {
	unlock, err := v.begin()
	if err != nil {
		return err
	}
	defer unlock()
	return v.updateConfigLocked(fn)
}

func (v *Vault) updateConfigLocked(fn func(*Config) error) error {
	path := filepath.Join(v.Dir, configFile)
	data, err := readChecked(path)
	if err != nil {
		return err
	}
	cfg, err := decodeConfig(path, data)
	if err != nil {
		return err
	}
	if err := fn(cfg); err != nil {
		return err
	}
	v.Config = cfg
	return v.saveConfigLocked()
}

// ProfilePath is the file of profile name.
func (v *Vault) ProfilePath(name string) string {
	return filepath.Join(v.Dir, profilesDir, name+profileExt)
}

// ProfileNames lists profiles from file names; it needs no unlock.
func (v *Vault) ProfileNames() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(v.Dir, profilesDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), profileExt)
		if !ok || e.IsDir() || ValidateProfileName(n) != nil {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// HasProfile reports whether profile name exists.
func (v *Vault) HasProfile(name string) bool {
	return ValidateProfileName(name) == nil && exists(v.ProfilePath(name))
}

// Recipients are the age recipients profile is encrypted to: see
// RecipientStrings.
func (v *Vault) Recipients(profile string) ([]age.Recipient, error) {
	return v.parseRecipients(v.Config, profile)
}

func (v *Vault) parseRecipients(c *Config, profile string) ([]age.Recipient, error) {
	strs := recipientStrings(c, profile)
	if len(strs) == 0 {
		return nil, &NoRecipientsError{Profile: profile}
	}
	out := make([]age.Recipient, 0, len(strs))
	for _, s := range strs {
		r, err := ParseRecipient(s, v.PluginUI)
		if err != nil {
			return nil, &ConfigError{Path: v.configPath(), Err: fmt.Errorf("invalid recipient: %v", err)}
		}
		out = append(out, r)
	}
	return out, nil
}

// Load decrypts and validates profile name.
func (v *Vault) Load(name string, ids []age.Identity) (*Document, error) {
	if err := ValidateProfileName(name); err != nil {
		return nil, err
	}
	data, err := readChecked(v.ProfilePath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &ProfileNotFoundError{Name: name}
	}
	if err != nil {
		return nil, err
	}
	plain, err := Decrypt(data, name, ids...)
	if err != nil {
		var nm *NoMatchError
		var ce *ConflictError
		switch {
		case errors.As(err, &nm):
			// X25519 stanzas do not carry the public key: config.toml
			// says whom the file was encrypted to, so the user knows
			// whom to ask, when the header agrees with it.
			if rs := v.RecipientStrings(name); configMatchesFile(data, rs, ids) {
				nm.Recipients = rs
			} else {
				nm.Mismatch = len(rs) > 0
			}
			nm.Project = v.Config.IsProject()
		case errors.As(err, &ce):
			ce.Path = v.ProfilePath(name)
		}
		return nil, err
	}
	defer wipe(plain)
	return DecodeDocument(plain, name)
}

func (v *Vault) writeProfile(doc *Document) error {
	if err := v.CheckRecipients(doc); err != nil {
		return err
	}
	if err := v.CheckPolicy(doc); err != nil {
		return err
	}
	ct, err := v.sealProfile(doc, v.Config)
	if err != nil {
		return err
	}
	return WriteFileAtomic(v.ProfilePath(doc.Profile), ct)
}

// UnapprovedRecipientsError: config.toml lists recipients the profile was
// never encrypted to through okv: someone edited the file (or committed to
// it) to receive the next value written.
type UnapprovedRecipientsError struct {
	Profile    string
	Recipients []string
}

func (e *UnapprovedRecipientsError) Error() string {
	return fmt.Sprintf("config.toml lists recipients for profile %q that were not added with okv: %s", e.Profile, strings.Join(e.Recipients, ", "))
}

// CheckRecipients refuses a config whose recipients for doc's profile go
// beyond those pinned in the document. A document without a pin (written
// by an older okv, or new) is trusted as it is and pinned by its next
// write.
func (v *Vault) CheckRecipients(doc *Document) error {
	if doc.Recipients == nil {
		return nil
	}
	var extra []string
	for _, r := range recipientStrings(v.Config, doc.Profile) {
		if !slices.ContainsFunc(doc.Recipients, func(p string) bool { return SameRecipient(p, r) }) {
			extra = append(extra, ShortRecipient(r))
		}
	}
	if len(extra) > 0 {
		return &UnapprovedRecipientsError{Profile: doc.Profile, Recipients: extra}
	}
	return nil
}

// sealProfile encrypts doc to the recipients c lists for it, and pins that
// list inside the document. A document without a policy pin (an older
// okv's) gets c's policy pinned, as it was trusted.
func (v *Vault) sealProfile(doc *Document, c *Config) ([]byte, error) {
	rcpts, err := v.parseRecipients(c, doc.Profile)
	if err != nil {
		return nil, err
	}
	doc.Recipients = recipientStrings(c, doc.Profile)
	if doc.Policy == nil {
		pin := PinOf(c.Policy(doc.Profile))
		doc.Policy, doc.Upstream = &pin, ""
	}
	plain, err := doc.Encode()
	if err != nil {
		return nil, err
	}
	defer wipe(plain)
	return Encrypt(plain, rcpts...)
}

// cleanTemps removes temp files a killed writer left behind. Called under
// the lock, so no live writer owns one.
func (v *Vault) cleanTemps() {
	for _, dir := range []string{v.Dir, filepath.Join(v.Dir, profilesDir)} {
		matches, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
		for _, m := range matches {
			os.Remove(m)
		}
	}
}

// Update loads profile name under the lock, applies fn, and writes it back
// atomically. If fn fails nothing is written. A config.toml whose
// recipients or policy for the profile differ from the pinned ones is
// refused before anything is written.
func (v *Vault) Update(name string, ids []age.Identity, fn func(*Document) error) error {
	unlock, err := v.begin()
	if err != nil {
		return err
	}
	defer unlock()
	doc, err := v.Load(name, ids)
	if err != nil {
		return err
	}
	if err := fn(doc); err != nil {
		return err
	}
	return v.writeProfile(doc)
}

// cloneConfig copies c deeply enough to change one profile's policy.
func cloneConfig(c *Config) *Config {
	next := *c
	next.Profiles = make(map[string]*Policy, len(c.Profiles))
	for k, p := range c.Profiles {
		if p != nil {
			cp := *p
			next.Profiles[k] = &cp
		}
	}
	return &next
}

// CreateProfile creates an empty profile, with policy p when not nil. It
// needs no identity: a new profile is encrypted to the vault's recipient.
// Its policy is pinned inside it from the start.
func (v *Vault) CreateProfile(name string, p *Policy) error {
	if err := ValidateProfileName(name); err != nil {
		return err
	}
	unlock, err := v.begin()
	if err != nil {
		return err
	}
	defer unlock()
	if exists(v.ProfilePath(name)) {
		return &ProfileExistsError{Name: name}
	}
	next := cloneConfig(v.Config)
	doc := NewDocument(name)
	if p != nil {
		cp := *p
		next.Profiles[name] = &cp
		pin := PinOf(cp)
		doc.Policy = &pin
	} else {
		delete(next.Profiles, name) // a stale policy of a removed profile
	}
	ch := v.newChange("profile-create")
	if err := ch.profile(doc, next); err != nil {
		return err
	}
	if err := ch.config(next); err != nil {
		return err
	}
	if err := ch.commit(); err != nil {
		return err
	}
	v.Config = next
	return nil
}

// RemoveProfile deletes a profile and its policy, together. The default
// profile cannot be removed while it is the default.
func (v *Vault) RemoveProfile(name string) error {
	if err := ValidateProfileName(name); err != nil {
		return err
	}
	unlock, err := v.begin()
	if err != nil {
		return err
	}
	defer unlock()
	if !exists(v.ProfilePath(name)) {
		return &ProfileNotFoundError{Name: name}
	}
	if v.Config.DefaultProfile == name {
		return &DefaultProfileError{Name: name}
	}
	next := cloneConfig(v.Config)
	delete(next.Profiles, name)
	ch := v.newChange("profile-rm")
	ch.remove(name)
	if err := ch.config(next); err != nil {
		return err
	}
	if err := ch.commit(); err != nil {
		return err
	}
	v.Config = next
	return nil
}

// DefaultProfileError: removing the default profile.
type DefaultProfileError struct{ Name string }

func (e *DefaultProfileError) Error() string {
	return fmt.Sprintf("profile %q is the default profile", e.Name)
}

// CopyProfile copies from's secrets and policy into a new profile to;
// with rename, from is removed (and the default follows it). The document
// is re-encrypted because the profile name lives inside it. The new file,
// config.toml and the removal are one change: a crash completes it or
// leaves the vault as it was.
func (v *Vault) CopyProfile(from, to string, ids []age.Identity, rename bool) error {
	for _, n := range []string{from, to} {
		if err := ValidateProfileName(n); err != nil {
			return err
		}
	}
	unlock, err := v.begin()
	if err != nil {
		return err
	}
	defer unlock()
	doc, err := v.Load(from, ids)
	if err != nil {
		return err
	}
	if exists(v.ProfilePath(to)) {
		return &ProfileExistsError{Name: to}
	}
	// The copy carries the original's pins: a config.toml that disagrees
	// with them is not copied into a new profile.
	if err := v.CheckRecipients(doc); err != nil {
		return err
	}
	if err := v.CheckPolicy(doc); err != nil {
		return err
	}
	doc.Profile = to
	next := cloneConfig(v.Config)
	if p := next.Profiles[from]; p != nil {
		cp := *p
		next.Profiles[to] = &cp
	} else {
		delete(next.Profiles, to)
	}
	op := "profile-copy"
	if rename {
		op = "profile-rename"
		delete(next.Profiles, from)
		if next.DefaultProfile == from {
			next.DefaultProfile = to
		}
	}
	ch := v.newChange(op)
	if err := ch.profile(doc, next); err != nil {
		return err
	}
	if err := ch.config(next); err != nil {
		return err
	}
	if rename {
		ch.remove(from)
	}
	if err := ch.commit(); err != nil {
		return err
	}
	v.Config = next
	return nil
}

// SetPolicy changes profile's policy: fn gets the policy in effect (the
// pinned settings, not an edited config.toml's) and changes it; the
// document, with the new pin, and config.toml are then written together.
// It unlocks nothing itself: ids must open the profile, so a command that
// cannot unlock changes no file.
func (v *Vault) SetPolicy(profile string, ids []age.Identity, fn func(*Policy) error) (Policy, error) {
	unlock, err := v.begin()
	if err != nil {
		return Policy{}, err
	}
	defer unlock()
	doc, err := v.Load(profile, ids)
	if err != nil {
		return Policy{}, err
	}
	if err := v.CheckRecipients(doc); err != nil {
		return Policy{}, err
	}
	p := v.EffectivePolicy(doc)
	if _, full := doc.pinOf(); !full {
		p = v.Config.Policy(profile) // an older okv's document: config.toml was its policy
	}
	if err := fn(&p); err != nil {
		return Policy{}, err
	}
	if err := ValidateUpstream(p.Upstream); err != nil {
		return Policy{}, err
	}
	next := cloneConfig(v.Config)
	next.Profiles[profile] = &p
	pin := PinOf(p)
	doc.Policy, doc.Upstream = &pin, ""
	ch := v.newChange("policy")
	if err := ch.profile(doc, next); err != nil {
		return Policy{}, err
	}
	if err := ch.config(next); err != nil {
		return Policy{}, err
	}
	if err := ch.commit(); err != nil {
		return Policy{}, err
	}
	v.Config = next
	return p, nil
}

// wipe overwrites plaintext buffers once they are no longer needed. Go's
// GC may have copied them; this narrows, not closes, the window.
func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
