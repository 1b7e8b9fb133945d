package vault

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/plugin"
)

// Prompter reads a passphrase from the user's terminal with echo off. It
// returns ErrNoTerminal when there is none.
type Prompter interface {
	Passphrase(prompt string) ([]byte, error)
}

// Unlocker produces the age identities that open the vault's profiles.
// Which source is used, for a personal vault: IdentityFile when set
// (OKV_IDENTITY_FILE or --identity), else the vault's backend (keychain or
// passphrase). A project vault has no identity of its own: IdentityFile's
// when set, else the user's personal vault's (in PersonalDir). An explicit
// identity file always replaces the backend's, never adds to it.
type Unlocker struct {
	Keychain     Keychain
	Prompter     Prompter
	IdentityFile string
	// PersonalDir is the personal vault's folder. When it is empty and
	// Getenv is set, it is found with PersonalDir(Getenv) the first time a
	// project vault needs it: a personal vault opened with an identity
	// file or its own backend never needs it, and finding it opens the
	// vault at $OKV_HOME a second time (okv run's start-up, issue 21).
	PersonalDir string
	Getenv      func(string) string
	// PluginUI talks to the user for plugin identities (AGE-PLUGIN-…) in
	// IdentityFile; nil lets plugins run without prompts.
	PluginUI *plugin.ClientUI
	// Agent, when set, is asked first for the identity of a vault that
	// unlocks by its backend (keychain or passphrase; never when an
	// identity file is given): the okv agent that 'okv unlock' filled.
	Agent AgentSource

	cached    []age.Identity
	fromAgent bool
}

// AgentSource hands out identities an agent holds, by vault id; ok is false
// when it holds none for that vault (or no agent runs).
type AgentSource interface {
	Identity(vaultID string) (text string, ok bool)
}

// personalDir is PersonalDir, found from Getenv when it was not given.
func (u *Unlocker) personalDir() string {
	if u.PersonalDir == "" && u.Getenv != nil {
		u.PersonalDir, _ = PersonalDir(u.Getenv)
	}
	return u.PersonalDir
}

// FromAgent reports whether the identities came from the agent.
func (u *Unlocker) FromAgent() bool { return u.fromAgent }

// IdentityVault is the vault whose identity opens v: v itself, or for a
// project vault the personal vault (nil when there is none).
func (u *Unlocker) IdentityVault(v *Vault) *Vault {
	if !v.Config.IsProject() {
		return v
	}
	pv, err := Open(u.personalDir())
	if err != nil || pv.Config.IsProject() {
		return nil
	}
	return pv
}

// fromAgentFor returns the identities the agent holds for v, if any.
func (u *Unlocker) fromAgentFor(v *Vault) []age.Identity {
	if u.Agent == nil || u.IdentityFile != "" {
		return nil
	}
	if v.Config.Backend != BackendKeychain && v.Config.Backend != BackendPassphrase && v.Config.Backend != BackendFile {
		return nil
	}
	text, ok := u.Agent.Identity(v.Config.VaultID)
	if !ok {
		return nil
	}
	ids, err := age.ParseIdentities(strings.NewReader(text))
	if err != nil {
		return nil
	}
	u.fromAgent = true
	return ids
}

// ErrNotAgentable: an identity okv cannot hand to the agent (an SSH key or
// a plugin identity).
var ErrNotAgentable = errors.New("the okv agent holds age identities only (AGE-SECRET-KEY-1…), not SSH keys or plugin identities")

// IdentityText is the text form of ids, one a line, for the agent.
func IdentityText(ids []age.Identity) (string, error) {
	var b strings.Builder
	for _, id := range ids {
		switch id := id.(type) {
		case *age.X25519Identity:
			b.WriteString(id.String() + "\n")
		case *age.HybridIdentity:
			b.WriteString(id.String() + "\n")
		default:
			return "", ErrNotAgentable
		}
	}
	if b.Len() == 0 {
		return "", ErrNotAgentable
	}
	return b.String(), nil
}

// Identities returns the identities for v, asking the backend once.
func (u *Unlocker) Identities(v *Vault) ([]age.Identity, error) {
	if u.cached != nil {
		return u.cached, nil
	}
	if !v.Config.IsProject() {
		if ids := u.fromAgentFor(v); ids != nil {
			u.cached = ids
			return ids, nil
		}
	}
	var ids []age.Identity
	var err error
	switch {
	case v.Config.IsProject():
		ids, err = u.projectIdentities()
	case u.IdentityFile != "":
		ids, err = u.readIdentityFile()
	case v.Config.Backend == BackendKeychain:
		ids, err = u.keychainIdentity(v)
	case v.Config.Backend == BackendPassphrase:
		ids, err = u.passphraseIdentity(v)
	case v.Config.Backend == BackendFile:
		return nil, ErrIdentityFileNeeded
	default:
		return nil, fmt.Errorf("unknown backend %q", v.Config.Backend)
	}
	if err != nil {
		return nil, err
	}
	u.cached = ids
	return ids, nil
}

// ErrIdentityFileNeeded: the vault's backend is "file" and no identity file
// was given.
var ErrIdentityFileNeeded = errors.New("this vault is unlocked by an identity file, and none was given")

func (u *Unlocker) keychainIdentity(v *Vault) ([]age.Identity, error) {
	s, err := u.Keychain.Get(KeychainService, v.Config.VaultID)
	if err != nil {
		return nil, err
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("the keychain item for vault %s does not hold an age identity", v.Config.VaultID)
	}
	return []age.Identity{id}, nil
}

func (u *Unlocker) passphraseIdentity(v *Vault) ([]age.Identity, error) {
	data, err := readChecked(filepath.Join(v.Dir, identityFile))
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase-protected identity: %w", err)
	}
	if u.Prompter == nil {
		return nil, ErrNoTerminal
	}
	pass, err := u.Prompter.Passphrase("Enter the okv vault passphrase: ")
	if err != nil {
		return nil, err
	}
	return decryptIdentity(data, pass)
}

func decryptIdentity(data, pass []byte) ([]age.Identity, error) {
	sid, err := age.NewScryptIdentity(string(pass))
	if err != nil {
		return nil, err
	}
	plain, err := Decrypt(data, identityFile, sid)
	if err != nil {
		var te *TamperedError
		var nm *NoMatchError
		if errors.As(err, &te) && strings.Contains(te.Err.Error(), "incorrect passphrase") || errors.As(err, &nm) {
			return nil, ErrWrongPassphrase
		}
		return nil, err
	}
	ids, err := age.ParseIdentities(bytes.NewReader(plain))
	if err != nil {
		return nil, fmt.Errorf("%s does not hold an age identity", identityFile)
	}
	return ids, nil
}

// IdentityFileError: an identity file that cannot be read or parsed.
type IdentityFileError struct {
	Path string
	Err  error
}

func (e *IdentityFileError) Error() string {
	return fmt.Sprintf("identity file %s: %v", e.Path, e.Err)
}
func (e *IdentityFileError) Unwrap() error { return e.Err }

func (u *Unlocker) readIdentityFile() ([]age.Identity, error) {
	return ReadIdentityFileUI(u.IdentityFile, u.PluginUI)
}

// ReadIdentityFile reads age identities (AGE-SECRET-KEY-1…, one per line,
// # comments) or an unencrypted OpenSSH private key. A file holding a
// private key that group or others can access is refused
// (*UnprotectedIdentityError), as ssh refuses one.
func ReadIdentityFile(path string) ([]age.Identity, error) {
	return ReadIdentityFileUI(path, nil)
}

// ReadIdentityFileUI is ReadIdentityFile that also accepts age plugin
// identities (AGE-PLUGIN-NAME-1…, run through age-plugin-NAME on PATH,
// talking to the user through ui). Native identities come first, so a
// hardware token is only asked when no file key matches.
func ReadIdentityFileUI(path string, ui *plugin.ClientUI) ([]age.Identity, error) {
	data, err := readIdentityData(path)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(data, []byte("-----BEGIN")) && bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		id, err := agessh.ParseIdentity(data)
		if err != nil {
			return nil, &IdentityFileError{Path: path, Err: errors.New("not a usable SSH private key (passphrase-protected keys are not supported)")}
		}
		return []age.Identity{withAuditSecret(id, data)}, nil
	}
	var native bytes.Buffer
	var plugins []age.Identity
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "AGE-PLUGIN-") {
			if ui == nil {
				ui = &plugin.ClientUI{}
			}
			id, err := plugin.NewIdentity(line, ui)
			if err != nil {
				// Never echo the line: it is private.
				return nil, &IdentityFileError{Path: path, Err: errors.New("malformed age plugin identity")}
			}
			plugins = append(plugins, id)
			continue
		}
		native.WriteString(line + "\n")
	}
	var ids []age.Identity
	if len(strings.TrimSpace(stripComments(native.String()))) > 0 || len(plugins) == 0 {
		ids, err = age.ParseIdentities(&native)
		if err != nil {
			return nil, &IdentityFileError{Path: path, Err: errors.New("no age identity found (want lines starting with AGE-SECRET-KEY-1 or AGE-PLUGIN-)")}
		}
	}
	return append(ids, plugins...), nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// RecipientOf returns the public recipient string of an identity okv can
// encrypt to, or "" when it has none (plugin identities).
func RecipientOf(id age.Identity) string {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient().String()
	case *age.HybridIdentity:
		return id.Recipient().String()
	}
	return ""
}
