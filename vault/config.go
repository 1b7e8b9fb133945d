package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/okvault/okv/limits"
)

// Backend names.
const (
	BackendKeychain   = "keychain"
	BackendPassphrase = "passphrase"
)

// DefaultMaxAge is the rotation period of a profile without its own.
const DefaultMaxAge = 90 * 24 * time.Hour

// KindProject marks a project vault: a .okv/ folder committed to a git
// repository, with no identity and no backend of its own. Each profile is
// encrypted to its members' recipients; each member opens it with their
// own identity.
const KindProject = "project"

// Config is config.toml: plaintext, never a secret.
type Config struct {
	Kind           string             `toml:"kind,omitempty"`
	VaultID        string             `toml:"vault_id"`
	Recipient      string             `toml:"recipient,omitempty"`
	Backend        string             `toml:"backend,omitempty"`
	DefaultProfile string             `toml:"default_profile"`
	Profiles       map[string]*Policy `toml:"profiles"`
	// Agent: how long 'okv unlock' leaves the identity with the agent.
	Agent *AgentConfig `toml:"agent,omitempty"`
}

// Agent defaults, as 1Password's: 10 minutes idle, 12 hours at most.
const (
	DefaultAgentIdle = 10 * time.Minute
	DefaultAgentMax  = 12 * time.Hour
)

// AgentConfig is config.toml's [agent] table: idle is how long an unused
// unlock lasts, max how long any unlock lasts ('okv unlock --for' sets the
// latter for one unlock). Durations as "10m", "12h", "30s".
type AgentConfig struct {
	Idle Duration `toml:"idle,omitempty,omitzero"`
	Max  Duration `toml:"max,omitempty,omitzero"`
}

// AgentTimeouts returns the idle and absolute timeouts, defaults applied.
func (c *Config) AgentTimeouts() (idle, max time.Duration) {
	idle, max = DefaultAgentIdle, DefaultAgentMax
	if c.Agent != nil && c.Agent.Idle > 0 {
		idle = time.Duration(c.Agent.Idle)
	}
	if c.Agent != nil && c.Agent.Max > 0 {
		max = time.Duration(c.Agent.Max)
	}
	return idle, max
}

// IsProject reports whether this is a project vault's config.
func (c *Config) IsProject() bool { return c.Kind == KindProject }

// Policy is the per-profile policy, and the profile's extra recipients.
type Policy struct {
	// Recipients are public keys the profile is also encrypted to (a
	// project vault's members), as okv recipient add wrote them.
	Recipients RecipientList `toml:"recipients,omitempty"`

	Confirm  bool     `toml:"confirm,omitempty"`
	Proxy    bool     `toml:"proxy,omitempty"`
	MaxAge   Duration `toml:"max_age,omitempty,omitzero"`
	Upstream string   `toml:"upstream,omitempty"`

	// Proxy limits (proxy mode): rpm, tpm, models, endpoints, max_body,
	// daily_tokens, the type the proxy enforces.
	limits.Limits

	// Providers are the other providers' settings (NAME.KEY, see
	// ProviderPolicy), by provider name.
	Providers map[string]*ProviderPolicy `toml:"providers,omitempty"`

	// Service-account rotation (okv rotate --service-account): the OpenAI
	// project, the service account okv created last and its key's id.
	// Ids only, never a secret.
	Project          string `toml:"project,omitempty"`
	ServiceAccountID string `toml:"service_account_id,omitempty"`
	APIKeyID         string `toml:"api_key_id,omitempty"`
}

// Policy returns the policy of profile, never nil.
func (c *Config) Policy(profile string) Policy {
	if p := c.Profiles[profile]; p != nil {
		return *p
	}
	return Policy{}
}

// EffectiveMaxAge is the rotation period, with the default applied.
func (p Policy) EffectiveMaxAge() time.Duration {
	if p.MaxAge > 0 {
		return time.Duration(p.MaxAge)
	}
	return DefaultMaxAge
}

// Duration is a time.Duration that also accepts a day suffix ("90d") in
// config.toml, since rotation periods are counted in days.
type Duration time.Duration

// Days returns a Duration of n days.
func Days(n int) Duration { return Duration(time.Duration(n) * 24 * time.Hour) }

// ParseDuration parses "90d", "12h", "1h30m".
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || int64(n) > math.MaxInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("invalid duration %q: use a number of days like 90d, or hours like 36h", s)
		}
		return Days(n), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q: use a number of days like 90d, or hours like 36h", s)
	}
	return Duration(d), nil
}

func (d Duration) String() string {
	td := time.Duration(d)
	if td%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", td/(24*time.Hour))
	}
	return td.String()
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ConfigError reports an unreadable config.toml.
type ConfigError struct {
	Path string
	Err  error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("config %s: %v", e.Path, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }

func decodeConfig(path string, data []byte) (*Config, error) {
	if hasConflictMarkers(data) {
		return nil, &ConflictError{Path: path}
	}
	var c Config
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		return nil, &ConfigError{Path: path, Err: err}
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return nil, &ConfigError{Path: path, Err: fmt.Errorf("unknown setting %s", strings.Join(keys, ", "))}
	}
	if c.Profiles == nil {
		c.Profiles = map[string]*Policy{}
	}
	for name, p := range c.Profiles {
		if err := ValidateProfileName(name); err != nil {
			return nil, &ConfigError{Path: path, Err: err}
		}
		if p == nil {
			continue
		}
		for _, r := range p.Recipients {
			if _, err := NormalizeRecipient(r); err != nil {
				return nil, &ConfigError{Path: path, Err: fmt.Errorf("profiles.%s.recipients: %v", name, err)}
			}
		}
	}
	switch c.Kind {
	case "":
		switch c.Backend {
		case BackendKeychain, BackendPassphrase, BackendFile:
		default:
			return nil, &ConfigError{Path: path, Err: fmt.Errorf("unknown backend %q (want keychain, passphrase or file)", c.Backend)}
		}
	case KindProject:
		// A project vault holds no identity: its members bring their own.
		if c.Backend != "" || c.Recipient != "" {
			return nil, &ConfigError{Path: path, Err: errors.New("a project vault has no backend or recipient of its own: list members under [profiles.NAME] recipients")}
		}
	default:
		return nil, &ConfigError{Path: path, Err: fmt.Errorf("unknown kind %q (want %q, or no kind for a personal vault)", c.Kind, KindProject)}
	}
	return &c, nil
}

func encodeConfig(c *Config) ([]byte, error) {
	var buf bytes.Buffer
	if c.IsProject() {
		buf.WriteString("# okv project vault, meant to be committed. No secrets here: values live in\n" +
			"# profiles/*.age, encrypted to each profile's recipients (its members' public keys).\n")
	} else {
		buf.WriteString("# okv vault configuration. No secrets here: values live in profiles/*.age.\n")
	}
	enc := toml.NewEncoder(&buf)
	enc.Indent = "" // flat, so diffs of a committed project vault stay plain
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	// Belt and braces: recipients are checked when added, but nothing that
	// looks like a private key is ever written to a config file.
	if looksPrivate(buf.String()) {
		return nil, errors.New("refusing to write config.toml: it would contain private key material")
	}
	return buf.Bytes(), nil
}

// RecipientList is written one recipient per line, so that adding or
// removing a member is a one-line diff in git.
type RecipientList []string

// MarshalTOML writes a multi-line TOML array of strings.
func (l RecipientList) MarshalTOML() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("[\n")
	for _, r := range l {
		q, err := json.Marshal(r) // a JSON string is a valid TOML basic string
		if err != nil {
			return nil, err
		}
		b.WriteString("  ")
		b.Write(q)
		b.WriteString(",\n")
	}
	b.WriteString("]")
	return b.Bytes(), nil
}
