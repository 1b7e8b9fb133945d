package vault

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Backend names.
const (
	BackendKeychain   = "keychain"
	BackendPassphrase = "passphrase"
)

// DefaultMaxAge is the rotation period of a profile without its own.
const DefaultMaxAge = 90 * 24 * time.Hour

// Config is config.toml: plaintext, never a secret.
type Config struct {
	VaultID        string             `toml:"vault_id"`
	Recipient      string             `toml:"recipient"`
	Backend        string             `toml:"backend"`
	DefaultProfile string             `toml:"default_profile"`
	Profiles       map[string]*Policy `toml:"profiles"`
}

// Policy is the per-profile policy.
type Policy struct {
	Confirm  bool     `toml:"confirm,omitempty"`
	Proxy    bool     `toml:"proxy,omitempty"`
	MaxAge   Duration `toml:"max_age,omitempty"`
	Upstream string   `toml:"upstream,omitempty"`

	// Proxy limits (proxy mode).
	RPM         int      `toml:"rpm,omitempty"`
	TPM         int      `toml:"tpm,omitempty"`
	Models      []string `toml:"models,omitempty"`
	Endpoints   []string `toml:"endpoints,omitempty"`
	MaxBody     int64    `toml:"max_body,omitempty"`
	DailyTokens int64    `toml:"daily_tokens,omitempty"`

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
	for name := range c.Profiles {
		if err := ValidateProfileName(name); err != nil {
			return nil, &ConfigError{Path: path, Err: err}
		}
	}
	switch c.Backend {
	case BackendKeychain, BackendPassphrase, BackendFile:
	default:
		return nil, &ConfigError{Path: path, Err: fmt.Errorf("unknown backend %q (want keychain, passphrase or file)", c.Backend)}
	}
	return &c, nil
}

func encodeConfig(c *Config) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# okv vault configuration. No secrets here: values live in profiles/*.age.\n")
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
