package vault

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"filippo.io/age/plugin"
	"golang.org/x/crypto/ssh"
)

// RecipientFormats lists, for errors and help, the recipients okv can
// encrypt a profile to.
const RecipientFormats = "age1… (age X25519), age1pq1… (age post-quantum), " +
	"ssh-ed25519 AAAA…, ssh-rsa AAAA…, or age1NAME1… for an age plugin (with age-plugin-NAME on PATH)"

// RecipientError: a string that is not a recipient okv can encrypt to.
// Input is a short, quotable form of it; empty when it looks like a
// private key, which is never echoed.
// File and Line name a recipients file's line instead, which is never
// echoed (it may be the wrong file, full of secrets).
type RecipientError struct {
	Input   string
	Private bool
	Reason  string
	File    string
	Line    int
}

func (e *RecipientError) Error() string {
	if e.Private {
		return "that is a private identity, not a public recipient: okv never stores private keys in a vault's config"
	}
	msg := fmt.Sprintf("%q is not a recipient okv knows", e.Input)
	if e.File != "" {
		msg = fmt.Sprintf("%s, line %d, is not a recipient okv knows", e.File, e.Line)
	}
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// NoRecipientsError: a project profile whose config lists nobody to
// encrypt to, or a change that would leave it so.
type NoRecipientsError struct{ Profile string }

func (e *NoRecipientsError) Error() string {
	return fmt.Sprintf("profile %q has no recipients to encrypt to", e.Profile)
}

// looksPrivate reports whether s looks like private key material.
func looksPrivate(s string) bool {
	u := strings.ToUpper(s)
	return strings.Contains(u, "AGE-SECRET-KEY-") || strings.Contains(u, "AGE-PLUGIN-") || strings.Contains(u, "PRIVATE KEY")
}

// quotable clips a non-secret input for an error message.
func quotable(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// NormalizeRecipient checks that s is a recipient okv can encrypt to and
// returns its canonical text: trimmed, and for SSH keys "TYPE KEY
// [COMMENT]" with single spaces, the comment kept because it says whose
// key it is.
func NormalizeRecipient(s string) (string, error) {
	s = strings.TrimSpace(s)
	if looksPrivate(s) {
		return "", &RecipientError{Private: true}
	}
	if strings.HasPrefix(s, "ssh-") {
		s = strings.Join(strings.Fields(s), " ")
	}
	if _, err := ParseRecipient(s, nil); err != nil {
		return "", err
	}
	return s, nil
}

// ParseRecipient parses one recipient string. ui is handed to plugin
// recipients, which run age-plugin-NAME when a file is encrypted.
func ParseRecipient(s string, ui *plugin.ClientUI) (age.Recipient, error) {
	var (
		r   age.Recipient
		err error
	)
	switch {
	case looksPrivate(s):
		return nil, &RecipientError{Private: true}
	case strings.HasPrefix(s, "age1pq1"):
		r, err = age.ParseHybridRecipient(s)
	case strings.HasPrefix(s, "age1") && strings.Count(s, "1") > 1:
		// A plugin's age1name1…: bech32 data never holds a '1', so a
		// native age1… key has exactly one.
		if ui == nil {
			ui = &plugin.ClientUI{}
		}
		r, err = plugin.NewRecipient(s, ui)
	case strings.HasPrefix(s, "age1"):
		r, err = age.ParseX25519Recipient(s)
	case strings.HasPrefix(s, "ssh-ed25519 "), strings.HasPrefix(s, "ssh-rsa "):
		r, err = agessh.ParseRecipient(s)
		if err != nil {
			// agessh quotes the whole key in its error: say it briefly.
			err = errors.New("malformed SSH public key")
		}
	case strings.HasPrefix(s, "ssh-"):
		t, _, _ := strings.Cut(s, " ")
		return nil, &RecipientError{Input: quotable(s), Reason: "SSH keys of type " + quotable(t) + " are not supported; use ssh-ed25519 or ssh-rsa"}
	default:
		return nil, &RecipientError{Input: quotable(s)}
	}
	if err != nil {
		return nil, &RecipientError{Input: quotable(s), Reason: err.Error()}
	}
	return r, nil
}

// recipientKey is what identifies a recipient regardless of an SSH key's
// comment.
func recipientKey(s string) string {
	if strings.HasPrefix(s, "ssh-") {
		f := strings.Fields(s)
		if len(f) >= 2 {
			return f[0] + " " + f[1]
		}
	}
	return strings.TrimSpace(s)
}

// SameRecipient reports whether a and b are the same public key.
func SameRecipient(a, b string) bool { return recipientKey(a) == recipientKey(b) }

// ReadRecipientsFile reads recipients in age's recipients-file format: one
// per line, blank lines and # comments ignored. A line that is not a
// recipient fails the whole file, naming the line but never echoing it (the
// file might be the wrong one, full of secrets).
func ReadRecipientsFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseRecipientsFile(f, path)
}

func parseRecipientsFile(r io.Reader, name string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	sc.Buffer(make([]byte, 0, 8<<10), 16<<10)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !utf8.ValidString(line) {
			return nil, &RecipientError{File: name, Line: n, Reason: "not valid UTF-8"}
		}
		s, err := NormalizeRecipient(line)
		if err != nil {
			var re *RecipientError
			if errors.As(err, &re) && re.Private {
				return nil, err
			}
			return nil, &RecipientError{File: name, Line: n}
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no recipients", name)
	}
	return out, nil
}

// RecipientStrings are the recipients profile is encrypted to, as
// config.toml lists them: for a personal vault the vault's own recipient
// first, then the profile's extra recipients; for a project vault the
// profile's members.
func (v *Vault) RecipientStrings(profile string) []string {
	return recipientStrings(v.Config, profile)
}

func recipientStrings(c *Config, profile string) []string {
	var out []string
	if !c.IsProject() && c.Recipient != "" {
		out = append(out, c.Recipient)
	}
	for _, r := range c.Policy(profile).Recipients {
		if !slices.ContainsFunc(out, func(o string) bool { return SameRecipient(o, r) }) {
			out = append(out, r)
		}
	}
	return out
}

// RecipientChange is what ChangeRecipients did.
type RecipientChange struct {
	Added, Removed []string // as listed in config.toml
	Already        []string // asked to add, but already recipients
	Secrets        []string // names of the profile's secrets
}

// RecipientNotFoundError: removing a recipient the profile does not have.
type RecipientNotFoundError struct{ Profile, Recipient string }

func (e *RecipientNotFoundError) Error() string {
	return fmt.Sprintf("%s is not a recipient of profile %q", e.Recipient, e.Profile)
}

// OwnRecipientError: removing a personal vault's own recipient, without
// which the vault cannot open its own profile.
type OwnRecipientError struct{ Recipient string }

func (e *OwnRecipientError) Error() string {
	return "that is this vault's own recipient: without it the vault cannot open its profiles"
}

// AddRecipients adds recipients to profile and re-encrypts it. Adding one
// that is already there re-encrypts all the same, which repairs a file that
// fell out of step with config.toml.
func (v *Vault) AddRecipients(profile string, ids []age.Identity, add []string) (*RecipientChange, error) {
	return v.changeRecipients(profile, ids, func(cur []string, ch *RecipientChange) ([]string, error) {
		for _, r := range add {
			if slices.ContainsFunc(cur, func(c string) bool { return SameRecipient(c, r) }) {
				ch.Already = append(ch.Already, r)
				continue
			}
			cur = append(cur, r)
			ch.Added = append(ch.Added, r)
		}
		return cur, nil
	})
}

// RemoveRecipients removes recipients from profile and re-encrypts it, so
// that a later version is closed to them. What they already copied stays
// theirs: the caller must say so.
func (v *Vault) RemoveRecipients(profile string, ids []age.Identity, rm []string) (*RecipientChange, error) {
	return v.changeRecipients(profile, ids, func(cur []string, ch *RecipientChange) ([]string, error) {
		for _, r := range rm {
			if !v.Config.IsProject() && SameRecipient(r, v.Config.Recipient) {
				return nil, &OwnRecipientError{Recipient: r}
			}
			i := slices.IndexFunc(cur, func(c string) bool { return SameRecipient(c, r) })
			if i < 0 {
				// A typo must not pass for a removal: nothing is written.
				return nil, &RecipientNotFoundError{Profile: profile, Recipient: r}
			}
			ch.Removed = append(ch.Removed, cur[i])
			cur = slices.Delete(cur, i, i+1)
		}
		if len(cur) == 0 && v.Config.IsProject() {
			return nil, &NoRecipientsError{Profile: profile}
		}
		return cur, nil
	})
}

// changeRecipients is the locked read-modify-write of a profile's
// recipients: re-read config.toml, decrypt the profile (which proves the
// caller may read it), compute the new list, and write the profile
// encrypted to it and the config as one change (see journalFile): a crash
// completes it or leaves both as they were.
func (v *Vault) changeRecipients(profile string, ids []age.Identity, fn func([]string, *RecipientChange) ([]string, error)) (*RecipientChange, error) {
	unlock, err := v.begin()
	if err != nil {
		return nil, err
	}
	defer unlock()
	doc, err := v.Load(profile, ids)
	if err != nil {
		return nil, err
	}
	if err := v.CheckPolicy(doc); err != nil {
		return nil, err
	}
	ch := &RecipientChange{Secrets: doc.Names()}
	extra, err := fn(slices.Clone(v.Config.Policy(profile).Recipients), ch)
	if err != nil {
		return nil, err
	}
	next := cloneConfig(v.Config)
	p := next.Policy(profile)
	p.Recipients = extra
	next.Profiles[profile] = &p
	// Recipients okv did not put there (an edited or committed
	// config.toml) are not approved by adding or removing another one.
	if doc.Recipients != nil {
		var unapproved []string
		for _, r := range extra {
			pinned := slices.ContainsFunc(doc.Recipients, func(p string) bool { return SameRecipient(p, r) })
			// Named in this 'okv recipient add', newly or again.
			added := slices.ContainsFunc(append(slices.Clone(ch.Added), ch.Already...), func(a string) bool { return SameRecipient(a, r) })
			if !pinned && !added {
				unapproved = append(unapproved, ShortRecipient(r))
			}
		}
		if len(unapproved) > 0 {
			return nil, &UnapprovedRecipientsError{Profile: profile, Recipients: unapproved}
		}
	}
	c := v.newChange("recipients")
	if err := c.profile(doc, next); err != nil {
		return nil, err
	}
	if err := c.config(next); err != nil {
		return nil, err
	}
	if err := c.commit(); err != nil {
		return nil, err
	}
	v.Config = next
	return ch, nil
}

// reloadConfigLocked re-reads config.toml (under the lock) so a change
// starts from what another okv or a git pull left there.
func (v *Vault) reloadConfigLocked() error {
	path := v.configPath()
	data, err := readChecked(path)
	if err != nil {
		return err
	}
	cfg, err := decodeConfig(path, data)
	if err != nil {
		return err
	}
	v.Config = cfg
	return nil
}

// RecipientOfIdentityFile returns the public recipient of the first
// identity in an identity file, for 'okv identity' and 'okv init
// --project': an age key's age1…, an SSH key's public key, a plugin
// identity's age1NAME1… (which the plugin must support).
func RecipientOfIdentityFile(path string) (string, error) {
	data, err := readIdentityData(path)
	if err != nil {
		return "", err
	}
	if bytes.Contains(data, []byte("-----BEGIN")) && bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		k, err := ssh.ParseRawPrivateKey(data)
		if err != nil {
			return "", &IdentityFileError{Path: path, Err: errors.New("not a usable SSH private key (passphrase-protected keys are not supported)")}
		}
		signer, err := ssh.NewSignerFromKey(k)
		if err != nil {
			return "", &IdentityFileError{Path: path, Err: err}
		}
		return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), nil
	}
	ids, err := ReadIdentityFile(path)
	if err != nil {
		return "", err
	}
	for _, id := range ids {
		if r := RecipientOf(id); r != "" {
			return r, nil
		}
	}
	return "", &IdentityFileError{Path: path, Err: errors.New("okv cannot derive a public recipient from this identity; ask its owner (or its plugin) for the age1… recipient")}
}

// ShortRecipient shortens an SSH key's long base64 for messages, keeping
// its type, both ends and its comment (who it is); age keys stay whole so
// they can be compared with 'okv identity'.
func ShortRecipient(s string) string {
	f := strings.Fields(s)
	if len(f) < 2 || !strings.HasPrefix(f[0], "ssh-") || len(f[1]) <= 24 {
		return s
	}
	f[1] = f[1][:12] + "…" + f[1][len(f[1])-8:]
	return strings.Join(f, " ")
}

// headerStanzas returns each recipient stanza of an age header as its type
// and arguments; nothing when the header cannot be read.
func headerStanzas(data []byte) [][]string {
	var in io.Reader = bytes.NewReader(data)
	if looksArmored(data) {
		in = armor.NewReader(in)
	}
	hdr, err := age.ExtractHeader(in)
	if err != nil {
		return nil
	}
	var out [][]string
	for _, line := range strings.Split(string(hdr), "\n") {
		if rest, ok := strings.CutPrefix(line, "-> "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				out = append(out, f)
			}
		}
	}
	return out
}

// expectedStanza is the stanza type (and, for SSH keys, the key's tag) that
// encrypting to recipient r writes; "" for plugins, whose type is theirs.
func expectedStanza(r string) (typ, tag string) {
	switch {
	case strings.HasPrefix(r, "ssh-"):
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(r))
		if err != nil {
			return "?", ""
		}
		h := sha256.Sum256(pk.Marshal())
		return pk.Type(), base64.RawStdEncoding.EncodeToString(h[:4])
	case strings.HasPrefix(r, "age1pq1"):
		return "mlkem768x25519", ""
	case strings.HasPrefix(r, "age1") && strings.Count(r, "1") == 1:
		return "X25519", ""
	}
	return "", ""
}

// configMatchesFile reports whether data's header is what encrypting to
// configured would write, and none of the identities that just failed to
// open it is among them. Then config.toml's list names the file's
// recipients (X25519 stanzas do not carry the public key); otherwise the
// file was written outside okv, or config.toml edited, and only the
// header's stanza types can be told.
func configMatchesFile(data []byte, configured []string, failed []age.Identity) bool {
	stanzas := headerStanzas(data)
	if len(stanzas) == 0 || len(configured) == 0 {
		return false
	}
	for _, id := range failed {
		if r := RecipientOf(id); r != "" && slices.ContainsFunc(configured, func(c string) bool { return SameRecipient(c, r) }) {
			return false
		}
	}
	native := map[string]bool{"X25519": true, "mlkem768x25519": true, "ssh-ed25519": true, "ssh-rsa": true, "scrypt": true}
	plugins := 0
	for _, r := range configured {
		typ, tag := expectedStanza(r)
		if typ == "" {
			plugins++
			continue
		}
		i := slices.IndexFunc(stanzas, func(s []string) bool {
			return s[0] == typ && (tag == "" || len(s) > 1 && s[1] == tag)
		})
		if i < 0 {
			return false
		}
		stanzas = slices.Delete(stanzas, i, i+1)
	}
	for _, s := range stanzas {
		if native[s[0]] {
			return false
		}
	}
	return len(stanzas) == plugins
}
