package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/okvault/okv/agent"
	"github.com/okvault/okv/vault"
)

// agentCommand is the hidden subcommand the okv agent runs as (a re-exec
// of this binary by 'okv unlock').
const agentCommand = "__agent"

func (a *App) agentOff() bool { return a.Getenv("OKV_NO_AGENT") == "1" }

// agentDir is the folder of the agent's socket: $XDG_RUNTIME_DIR/okv, else
// agent/ in the personal vault's folder.
func (a *App) agentDir() (string, error) {
	if d := agent.Dir(a.Getenv, ""); d != "" {
		// Asked on every run that unlocks by a backend: the personal
		// vault is found (and opened) only for the fallback.
		return d, nil
	}
	personal, err := vault.PersonalDir(a.Getenv)
	if err != nil {
		return "", err
	}
	return agent.Dir(a.Getenv, filepath.Join(personal, "agent")), nil
}

// agentSource is the vault.AgentSource of this command: the agent's socket.
type agentSource struct{ a *App }

func (s agentSource) Identity(vaultID string) (string, bool) {
	dir, err := s.a.agentDir()
	if err != nil || !agent.MayHold(dir, vaultID) {
		return "", false
	}
	id, err := agent.Get(agent.SocketPath(dir), vaultID)
	if err != nil || id == "" {
		return "", false
	}
	return id, true
}

func (a *App) newUnlockCmd() *cobra.Command {
	var forFlag string
	c := &cobra.Command{
		Use:   "unlock",
		Short: "Unlock the vault once and let the okv agent hold its identity",
		Long: `Unlock the vault's identity once (passphrase prompt, keychain, or --identity
FILE) and hand it to the okv agent, a per-user background process started on
demand: later okv commands take the identity from the agent and prompt for
nothing, with or without a terminal.

The agent forgets the identity after it has gone unused for the idle time
(default 10m), after the absolute time (default 12h; --for sets it for this
unlock), or at once with 'okv lock'; it exits when it holds nothing. Both
defaults are set in config.toml:

    [agent]
    idle = "10m"
    max = "12h"

The agent serves only your user (its socket is 0600 in a 0700 folder, and
it checks each client's uid), holds identities only, never profile
plaintext, and is non-dumpable with its memory locked where the system
allows. OKV_NO_AGENT=1 turns it off. Not available on Windows yet.`,
		Example: `  okv unlock
  okv unlock --for 8h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runUnlock(forFlag) },
	}
	c.Flags().StringVar(&forFlag, "for", "", "forget the identity after this long at most (like 8h or 30m; default: config.toml's [agent] max, else 12h)")
	return c
}

func (a *App) newLockCmd() *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "lock",
		Short: "Make the okv agent forget the vault's identity now",
		Long: `Make the okv agent forget the identity 'okv unlock' gave it, at once: the next
okv command unlocks again (a passphrase vault asks for its passphrase). With
--all, forget every vault's. The agent exits when it holds nothing.`,
		Example: `  okv lock
  okv lock --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runLock(all) },
	}
	c.Flags().BoolVar(&all, "all", false, "forget the identities of every vault")
	return c
}

func (a *App) newAgentCmd() *cobra.Command {
	return &cobra.Command{
		Use:    agentCommand + " SOCKET",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE:   func(cmd *cobra.Command, args []string) error { return a.runAgent(args[0]) },
	}
}

func (a *App) agentUnsupported() error {
	if !agent.Supported {
		return withHints(agent.ErrNotSupported,
			"unlock with an age identity file instead: --identity FILE or OKV_IDENTITY_FILE (see 'okv identity export')",
			"or run okv inside WSL, where the agent works")
	}
	if a.agentOff() {
		return withHints(errors.New("the okv agent is turned off (OKV_NO_AGENT=1)"), "unset OKV_NO_AGENT to use 'okv unlock' and 'okv lock'")
	}
	return nil
}

// identityVault is the vault whose identity the agent holds for this
// command's vault: itself, or the personal vault for a project vault.
func (a *App) identityVault() (*vault.Vault, error) {
	v, err := a.openVault()
	if err != nil {
		return nil, err
	}
	iv := a.unlocker().IdentityVault(v)
	if iv == nil {
		return nil, withHints(errors.New("this project vault is opened with your personal vault's identity, and there is no personal vault"),
			"create one with 'OKV_HOME= okv init', or pass an identity with --identity FILE or OKV_IDENTITY_FILE")
	}
	return iv, nil
}

func (a *App) runUnlock(forFlag string) error {
	if err := a.agentUnsupported(); err != nil {
		return err
	}
	var forDur time.Duration
	if forFlag != "" {
		d, err := vault.ParseDuration(forFlag)
		if err != nil || d <= 0 {
			return usagef("invalid --for %q: use a duration like 8h, 30m or 1d", forFlag)
		}
		forDur = time.Duration(d)
	}
	iv, err := a.identityVault()
	if err != nil {
		return err
	}
	// Always from the backend, never from the agent: an unlock is renewed
	// only by the passphrase (keychain, identity file), so that the
	// absolute time holds.
	u := a.unlocker()
	a.idUnlocker = &vault.Unlocker{Keychain: u.Keychain, Prompter: u.Prompter, IdentityFile: u.IdentityFile, PersonalDir: u.PersonalDir, Getenv: u.Getenv, PluginUI: u.PluginUI}
	ids, err := a.unlocker().Identities(iv)
	if err != nil {
		return err
	}
	text, err := vault.IdentityText(ids)
	if err != nil {
		return withHints(err, "commands can still use the identity file directly: --identity FILE or OKV_IDENTITY_FILE")
	}
	idle, max := iv.Config.AgentTimeouts()
	if forDur > 0 {
		max = forDur
	}
	dir, err := a.agentDir()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the okv binary to start the agent: %w", err)
	}
	socket := agent.SocketPath(dir)
	if _, err := agent.Ensure(dir, exe, []string{"okv", agentCommand, socket}, a.agentEnv()); err != nil {
		return err
	}
	resp, err := agent.Call(socket, agent.Request{Op: agent.OpAdd, Vault: iv.Config.VaultID, Identity: text, Dir: iv.Dir, Idle: idle, Max: max})
	if err != nil {
		return err
	}
	a.audit(iv, "unlock", "", nil, "")
	until := a.Now().Add(max)
	if len(resp.Held) == 1 {
		until = resp.Held[0].Until
	}
	fmt.Fprintf(a.Stderr, "okv: the agent holds vault %s until %s, or until it goes unused for %s\n", iv.Config.VaultID, until.Local().Format("Mon 15:04"), humanDuration(idle))
	fmt.Fprintln(a.Stderr, "okv: okv commands need no unlock until then; 'okv lock' forgets it now")
	return nil
}

// agentEnv is the agent's whole environment: what it needs to run, never
// the caller's secrets (no OPENAI_API_KEY, no OKV_* settings).
func (a *App) agentEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "XDG_RUNTIME_DIR", "LANG", "LC_ALL", "TZ", "GOCOVERDIR"} {
		if v := a.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func (a *App) runLock(all bool) error {
	if err := a.agentUnsupported(); err != nil {
		return err
	}
	dir, err := a.agentDir()
	if err != nil {
		return err
	}
	req := agent.Request{Op: agent.OpLock}
	what := "any vault"
	if !all {
		iv, err := a.identityVault()
		if err != nil {
			return err
		}
		req.Vault = iv.Config.VaultID
		what = "vault " + iv.Config.VaultID
	}
	_, err = agent.Call(agent.SocketPath(dir), req)
	switch {
	case errors.Is(err, agent.ErrUnavailable), errors.Is(err, agent.ErrNotHeld):
		fmt.Fprintf(a.Stderr, "okv: the agent does not hold %s: nothing to lock\n", what)
		return nil
	case err != nil:
		return err
	}
	if all {
		what = "every vault"
	}
	fmt.Fprintf(a.Stderr, "okv: locked: the agent forgot %s\n", what)
	return nil
}

// runAgent is the agent process: hardened, listening, until it holds
// nothing. Every lock and expiry is written to the vault's audit log, keyed
// with the identity being forgotten.
func (a *App) runAgent(socket string) error {
	if err := a.agentUnsupported(); err != nil {
		return err
	}
	h := agent.Harden()
	ln, err := agent.Listen(socket)
	if err != nil {
		return err
	}
	s := &agent.Server{Now: a.Now, OnForget: a.auditForget}
	return s.Serve(ln, h)
}

func (a *App) auditForget(e agent.Entry, identity, why string) {
	v, err := vault.Open(e.Dir)
	if err != nil || v.Config.VaultID != e.Vault {
		return // the vault moved: nothing to record it in
	}
	ids, err := age.ParseIdentities(strings.NewReader(identity))
	if err != nil {
		return
	}
	var key *vault.AuditKey
	if keys := v.AuditKeys(ids); len(keys) > 0 {
		key = keys[0]
	}
	v.Audit(vault.AuditRecord{Time: a.Now(), Op: why, Command: "okv-agent", PID: os.Getpid()}, key)
}

// agentStatus is okv status's line about the agent, or "" when the agent
// is off or unavailable here.
func (a *App) agentStatus(v *vault.Vault) string {
	if !agent.Supported || a.agentOff() {
		return ""
	}
	iv := a.unlocker().IdentityVault(v)
	dir, err := a.agentDir()
	if iv == nil || err != nil {
		return ""
	}
	r, err := agent.Call(agent.SocketPath(dir), agent.Request{Op: agent.OpStatus, Vault: iv.Config.VaultID})
	if err != nil {
		return fmt.Sprintf("okv: agent: vault %s is locked (no agent runs; 'okv unlock' unlocks it once for later commands)", iv.Config.VaultID)
	}
	if len(r.Held) == 0 {
		return fmt.Sprintf("okv: agent: vault %s is locked (agent pid %d; 'okv unlock' unlocks it once for later commands)", iv.Config.VaultID, r.PID)
	}
	e := r.Held[0]
	dump := "non-dumpable"
	if r.Dumpable != 0 {
		dump = "dumpable: the system cannot prevent it"
	}
	return fmt.Sprintf("okv: agent: vault %s is unlocked until %s, or until unused for %s (next lock at %s; agent pid %d, %s, memory locked: %s)",
		iv.Config.VaultID, e.Until.Local().Format(time.DateTime), humanDuration(e.Idle), e.IdleUntil.Local().Format(time.DateTime), r.PID, dump, r.MemoryLocked)
}

// humanDuration prints 10m, 12h, 1h30m, 45s.
func humanDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
