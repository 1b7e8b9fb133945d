package cmd

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/shell"
	"github.com/okvault/okv/vault"
)

type runOptions struct {
	only  []string
	maps  []string
	proxy bool
	mask  bool

	onlySet bool // --only was given, even empty

	envFiles  []string // --env-file: dotenv files of okv:// references (runfiles.go)
	templates []string // --template IN:OUT
}

func (a *App) newRunCmd() *cobra.Command {
	var o runOptions
	c := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARG...]",
		Short: "Run a command with the profile's secrets in its environment only",
		Long: `Run COMMAND with the profile's secrets added to its environment, each under its
own name (or under another with --env DEST=NAME), plus OKV_PROFILE=<profile>.
The secrets never enter your shell, argv or a file.

On Unix okv replaces itself with the command, which then owns the terminal,
signals and exit status. The exit status is the command's own; 127 when it is
not found and 126 when it cannot be executed, as a shell does. In proxy and
mask mode okv supervises the command; when a signal kills it, okv dies of the
same signal (on Windows it exits 128+N).

With --env-file FILE the command gets exactly FILE's variables instead of the
profile's: a dotenv file that may be committed, whose okv://PROFILE/NAME and
okv://NAME values are resolved (one unlock for every profile it names; a
protected profile asks) and whose plain values pass as written. ${VAR} and
$(...) are not expanded. Several --env-file merge left to right. A missing
reference is an error naming the file and line, and nothing runs; a value that
looks like a real key is refused. --template TEMPLATE:OUTPUT writes OUTPUT
(see okv inject) for the command's lifetime and removes it when the command
exits, also on SIGINT and SIGTERM; okv then supervises the command.`,
		Example: `  okv run -- npm start
  okv run -p prod -- python app.py
  okv run --only OPENAI_API_KEY -- node script.js
  okv run --env OPENAI_KEY=OPENAI_API_KEY -- ./legacy-tool
  okv run --env-file .env.okv -- npm start
  okv run --template config.tpl:config.yml -- ./server`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{msg: "okv run needs a command to run", hints: []string{"okv run -- COMMAND [ARG...], for example: okv run -- npm start"}}
			}
			o.onlySet = cmd.Flags().Changed("only")
			if len(o.envFiles) > 0 || len(o.templates) > 0 {
				return a.runWithFiles(o, args)
			}
			return a.runRun(o, args)
		},
	}
	c.Flags().SetInterspersed(false)
	c.Flags().StringSliceVar(&o.only, "only", nil, "inject only these secrets (comma-separated names)")
	c.Flags().StringArrayVar(&o.maps, "env", nil, "inject secret NAME as variable DEST (DEST=NAME, repeatable)")
	c.Flags().BoolVar(&o.proxy, "proxy", false, "give the child a local proxy URL and token instead of each real provider key")
	c.Flags().BoolVar(&o.mask, "mask", false, "replace any secret value the child prints with <okv:NAME>")
	c.Flags().StringArrayVar(&o.envFiles, "env-file", nil, "give the command exactly this dotenv file's variables, okv:// references resolved (repeatable, merged left to right)")
	c.Flags().StringArrayVar(&o.templates, "template", nil, "write TEMPLATE:OUTPUT with its {{ okv://... }} resolved while the command runs, then remove it (repeatable)")
	c.RegisterFlagCompletionFunc("only", a.completeOnly)
	c.RegisterFlagCompletionFunc("env", a.completeEnvMap)
	return c
}

func (a *App) newShellCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "shell",
		Short: "Start $SHELL with the profile's secrets in its environment",
		Long: `Start your shell ($SHELL, else /bin/sh) with the profile's secrets in its
environment and OKV_PROFILE set. Leave it with 'exit'. Every program started
from that shell sees the secrets; prefer 'okv run' for a single command.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sh := a.Getenv("SHELL")
			if sh == "" {
				sh = "/bin/sh"
				if runtime.GOOS == "windows" {
					if sh = a.Getenv("COMSPEC"); sh == "" {
						sh = "cmd.exe"
					}
				}
			}
			return a.runRun(runOptions{}, []string{sh})
		},
	}
}

// childVars selects the profile's secrets for the child's environment.
func childVars(doc *vault.Document, o runOptions) (map[string]string, []string, error) {
	all := doc.Names() // sorted once: selection and audit order
	selected := all
	if o.onlySet && len(o.only) == 0 {
		// An empty --only (an unset $NAMES in a script) must not widen to
		// every secret.
		return nil, nil, usagef("--only is empty: name the secrets to inject, like --only OPENAI_API_KEY")
	}
	if len(o.only) > 0 {
		selected = nil
		for _, n := range o.only {
			n = strings.TrimSpace(n)
			if err := vault.ValidateSecretName(n); err != nil {
				return nil, nil, err
			}
			if _, err := doc.Secret(n); err != nil {
				return nil, nil, err
			}
			selected = append(selected, n)
		}
	}
	// Sized up front: a 1,000-secret profile otherwise regrows them on
	// every run (issue 21).
	vars := make(map[string]string, len(selected)+len(o.maps)+1) // +1: OKV_PROFILE
	used := make(map[string]bool, len(selected))
	mapped := map[string]bool{}
	for _, m := range o.maps {
		dest, name, ok := strings.Cut(m, "=")
		if !ok {
			// The argument is not echoed: it may be a pasted value.
			return nil, nil, usagef("--env takes DEST=NAME, for example --env OPENAI_KEY=OPENAI_API_KEY")
		}
		if err := vault.ValidateSecretName(dest); err != nil {
			return nil, nil, err
		}
		if err := vault.ValidateSecretName(name); err != nil {
			return nil, nil, err
		}
		s, err := doc.Secret(name)
		if err != nil {
			return nil, nil, err
		}
		vars[dest] = s.Value
		used[name] = true
		mapped[name] = true
	}
	for _, n := range selected {
		if mapped[n] {
			continue // injected under its DEST name instead
		}
		vars[n] = doc.Secrets[n].Value
		used[n] = true
	}
	names := make([]string, 0, len(used))
	for _, n := range all {
		if used[n] {
			names = append(names, n)
		}
	}
	return vars, names, nil
}

func (a *App) runRun(o runOptions, args []string) error {
	// One call decides whether the profile may be used here, and how.
	u, err := a.use(commandName(args))
	if err != nil {
		return err
	}
	v, profile, doc := u.Vault, u.Profile, u.Doc
	a.warnOverdue(v, profile, doc)
	a.warnLeftOutputs(v)
	a.warnStrayEnvDaily(v)
	vars, names, err := childVars(doc, o)
	if err != nil {
		return err
	}
	if _, taken := vars["OKV_PROFILE"]; taken {
		return usagef("OKV_PROFILE is reserved for the profile name; map the secret to another name with --env")
	}
	vars["OKV_PROFILE"] = profile

	// Resolve before auditing, so a typo is reported as 127 without a
	// record of a run that never happened.
	// The environment and the path are built once, for the exec and the
	// masked run too (a proxied run rebuilds the environment below).
	env := shell.ChildEnv(a.Environ(), vars)
	path, err := shell.LookPath(args[0], env)
	if err != nil {
		return err
	}

	proxyMode := o.proxy || u.Policy.Proxy
	if !proxyMode && !o.mask && shell.CanExec {
		a.audit(v, "run", profile, names, commandName(args))
		return shell.ExecPath(path, args, env)
	}

	// okv stays alive holding keys: no core dumps, no same-user ptrace.
	shell.NoDump()
	op := "run"
	if proxyMode {
		var only []string // nil: every provider the profile holds
		if o.onlySet || len(o.maps) > 0 {
			only = names
		}
		ss, err := a.startProxies(u, only)
		if err != nil {
			return err
		}
		defer stopAll(ss)
		names = proxyVars(vars, names, doc, ss)
		names = a.withholdKeyShaped(vars, names)
		// The proxies use the keys on the child's behalf: the audit says so.
		var keys []string
		for _, s := range ss {
			keys = append(keys, s.pv.KeyVar)
		}
		names = append(keys, names...)
		op = "run-proxy"
		// An identity file in the child's environment would let it decrypt
		// the vault itself. (A child can still ask the keychain as the
		// same user: see the README's threat model.)
		base := shell.WithoutVars(a.Environ(), "OKV_IDENTITY_FILE")
		// Nor does a variable inherited from the caller that holds a
		// proxied key under another name (LEGACY_OPENAI_KEY=$K okv run
		// --proxy …).
		var held []string
		for _, s := range ss {
			for _, n := range s.pv.Secrets() {
				if sec, ok := doc.Secrets[n]; ok {
					held = append(held, sec.Value)
				}
			}
		}
		var dropped []string
		if base, dropped = shell.WithoutValues(base, held...); len(dropped) > 0 {
			sort.Strings(dropped)
			fmt.Fprintf(a.Stderr, "okv: removed %s from the child's environment: a key the proxy keeps from the child is in it\n", strings.Join(dropped, ", "))
		}
		env = shell.ChildEnv(base, vars) // vars now point at the proxies
	}
	a.audit(v, op, profile, names, commandName(args))
	child := &shell.Command{Args: args, Env: env, Stdin: a.Stdin, Stdout: a.Stdout, Stderr: a.Stderr,
		SharesTerminal: shell.InForeground()}
	var exit shell.Exit
	if o.mask {
		m := shell.Masked{Secrets: map[string]string{}}
		for _, n := range doc.Names() {
			m.Secrets[n] = doc.Secrets[n].Value
		}
		if a.Terminal.IsTerminal(a.Stdout) && a.Terminal.IsTerminal(a.Stdin) {
			m.Terminal, _ = a.Stdout.(*os.File)
			m.TermIn, _ = a.Stdin.(*os.File)
		}
		exit, err = shell.SuperviseMasked(child, m)
	} else {
		exit, err = shell.Supervise(child)
	}
	if err != nil {
		return err
	}
	return &childExit{code: exit.Code, signal: exit.Signal}
}
