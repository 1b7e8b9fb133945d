package cmd

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/okvault/okv/dotenv"
	"github.com/okvault/okv/scan"
	"github.com/okvault/okv/shell"
	"github.com/okvault/okv/vault"
)

// envValue is one variable of an env file: a plain value, or a reference.
type envValue struct {
	plain string
	ref   *vault.Ref
	where string
}

// readEnvFiles reads dotenv files of references, merged left to right (a
// later file's assignment wins). Values are never expanded: ${VAR} is
// passed as written, and said so. A value that looks like a real key is
// refused: such a file must not be committed.
func (a *App) readEnvFiles(paths []string) (map[string]envValue, []string, []refUse, error) {
	vars := map[string]envValue{}
	var order []string
	var uses []refUse
	for _, path := range paths {
		data, err := os.ReadFile(a.abs(path))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("could not read the env file: %w", err)
		}
		entries, err := dotenv.Parse(data)
		var pe *dotenv.ParseError
		if errors.As(err, &pe) {
			return nil, nil, nil, usagef("%s:%d: %s", path, pe.Line, pe.Msg)
		} else if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		entries, _ = dotenv.Last(entries)
		for _, e := range entries {
			where := fmt.Sprintf("%s:%d", path, e.Line)
			if err := vault.ValidateSecretName(e.Key); err != nil {
				return nil, nil, nil, usagef("%s: %v", where, err)
			}
			ev := envValue{plain: e.Value, where: where}
			switch {
			case vault.IsRef(e.Value):
				r, err := vault.ParseRef(e.Value)
				if err != nil {
					return nil, nil, nil, usagef("%s: %s: %v", where, e.Key, err)
				}
				ev.ref = &r
				uses = append(uses, refUse{ref: r, where: where})
			case scan.OpenAIKeyRule([]byte(strings.TrimSpace(e.Value))) != "":
				return nil, nil, nil, withHints(fmt.Errorf("%s: %s holds what looks like a real key (%s), not an okv:// reference", where, e.Key, scan.OpenAIKeyRule([]byte(strings.TrimSpace(e.Value)))),
					fmt.Sprintf("import it with 'okv import %s' (or 'okv set %s'), then write %s=okv://%s in the file", path, e.Key, e.Key, e.Key),
					"a file okv run --env-file reads may be committed: it must hold references, never keys")
			case strings.Contains(e.Value, "${") || strings.Contains(e.Value, "$("):
				fmt.Fprintf(a.Stderr, "okv: note: %s: %s is passed as written: okv does not expand ${VAR} or $(...)\n", where, e.Key)
			}
			if _, ok := vars[e.Key]; !ok {
				order = append(order, e.Key)
			}
			vars[e.Key] = ev
		}
	}
	return vars, order, uses, nil
}

// templateSpec is one --template IN:OUT.
type templateSpec struct {
	t   *template
	out string // as given
}

func (a *App) readTemplateSpecs(specs []string) ([]templateSpec, []refUse, error) {
	var out []templateSpec
	var uses []refUse
	seen := map[string]bool{}
	for _, s := range specs {
		in, o, ok := strings.Cut(s, ":")
		if !ok || in == "" || o == "" {
			return nil, nil, usagef("--template takes TEMPLATE:OUTPUT, for example --template config.tpl:config.yml")
		}
		if seen[a.abs(o)] {
			return nil, nil, usagef("--template: %s is written twice", o)
		}
		seen[a.abs(o)] = true
		t, err := a.readTemplate(in)
		if err != nil {
			return nil, nil, err
		}
		if err := a.checkPlaintextOutput(o, false, false); err != nil {
			return nil, nil, err
		}
		out = append(out, templateSpec{t: t, out: o})
		uses = append(uses, t.uses()...)
	}
	return out, uses, nil
}

// runWithFiles is okv run with --env-file and/or --template: the child
// gets exactly the env files' variables (references resolved), and the
// templates' outputs exist while it runs.
func (a *App) runWithFiles(o runOptions, args []string) error {
	if len(o.only) > 0 || o.onlySet || len(o.maps) > 0 || o.proxy || o.mask {
		return usagef("--env-file and --template choose what the command gets: they do not combine with --only, --env, --proxy or --mask")
	}
	vars, order, uses, err := a.readEnvFiles(o.envFiles)
	if err != nil {
		return err
	}
	specs, tuses, err := a.readTemplateSpecs(o.templates)
	if err != nil {
		return err
	}
	uses = append(uses, tuses...)
	var r *resolvedRefs
	var v *vault.Vault
	if len(uses) > 0 {
		// The proxied keys are refused before a protected profile asks
		// for confirmation (the policy is the pinned one, as the use's).
		refuse := func(pre *resolvedRefs) error { return a.refuseProxiedKeys(pre, uses) }
		if r, err = a.resolveRefsChecked(uses, commandName(args), refuse); err != nil {
			return err
		}
		v = r.v
	} else if v, err = a.openVault(); err != nil {
		return err
	}
	a.warnLeftOutputs(v)
	a.warnStrayEnvDaily(v)
	env := map[string]string{}
	for _, k := range order {
		ev := vars[k]
		if ev.ref != nil {
			env[k] = r.value(*ev.ref)
		} else {
			env[k] = ev.plain
		}
	}
	childEnv := shell.ChildEnv(a.Environ(), env)
	if _, err := shell.LookPath(args[0], childEnv); err != nil {
		return err
	}
	if r != nil {
		r.audit(a, "run", commandName(args))
	}
	if len(specs) == 0 && shell.CanExec {
		return shell.Exec(args, childEnv)
	}

	// okv stays alive holding keys: no core dumps, no same-user ptrace.
	shell.NoDump()
	cleanup, err := a.writeTemplateOutputs(v, specs, r)
	defer cleanup()
	if err != nil {
		return err
	}
	child := &shell.Command{Args: args, Env: childEnv, Stdin: a.Stdin, Stdout: a.Stdout, Stderr: a.Stderr,
		SharesTerminal: shell.InForeground()}
	exit, err := shell.Supervise(child)
	if err != nil {
		return err
	}
	return &childExit{code: exit.Code, signal: exit.Signal}
}

// refuseProxiedKeys refuses a reference to a key of a profile pinned to
// proxy mode (policy proxy, as --protect sets): such a profile's keys never
// enter a child through okv run, and an env file or a template output would
// hand the child the real key where a proxied run gives it a token. The
// secrets refused are those a proxied run keeps from the child: each held
// provider's key and companions, and any value shaped like a provider key.
func (a *App) refuseProxiedKeys(r *resolvedRefs, uses []refUse) error {
	for _, u := range uses {
		ref := u.ref
		if ref.Profile == "" {
			ref.Profile = r.defaultProfile
		}
		use := r.uses[ref.Profile]
		if use == nil || !use.Policy.Proxy {
			continue
		}
		withheld := keyShaped(r.values[ref])
		pvs, err := a.heldProviders(use)
		if err != nil {
			return err
		}
		for _, pv := range pvs {
			if slices.Contains(pv.Secrets(), ref.Name) || pv.UpstreamSecret == ref.Name {
				withheld = true
			}
		}
		if withheld {
			return withHints(fmt.Errorf("%s: %s: profile %s is pinned to proxy mode: its provider keys never enter a command's environment or a file", u.where, ref, ref.Profile),
				fmt.Sprintf("run the command with 'okv run -p %s -- COMMAND': the proxy stands in for the key", ref.Profile))
		}
	}
	return nil
}

// writeTemplateOutputs records the outputs in state.json (so that a killed
// okv's leftovers are named by the next run), then writes them. cleanup
// removes what was written and the record.
func (a *App) writeTemplateOutputs(v *vault.Vault, specs []templateSpec, r *resolvedRefs) (cleanup func(), err error) {
	pid := os.Getpid()
	var written []string
	cleanup = func() {
		for _, p := range written {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(a.Stderr, "okv: warning: could not remove %s, which holds secrets in plaintext: %v\n", p, err)
			}
		}
		if len(specs) == 0 {
			return
		}
		v.UpdateTemplateOutputs(func(outs []vault.TemplateOutput) []vault.TemplateOutput {
			keep := outs[:0]
			for _, o := range outs {
				if o.PID != pid {
					keep = append(keep, o)
				}
			}
			return keep
		})
	}
	if len(specs) == 0 {
		return cleanup, nil
	}
	now := a.Now()
	if err := v.UpdateTemplateOutputs(func(outs []vault.TemplateOutput) []vault.TemplateOutput {
		for _, s := range specs {
			outs = append(outs, vault.TemplateOutput{Path: a.abs(s.out), PID: pid, Since: now})
		}
		return outs
	}); err != nil {
		return cleanup, fmt.Errorf("could not record the template outputs in state.json: %w", err)
	}
	for _, s := range specs {
		p := a.abs(s.out)
		// Exclusive: a file created at OUTPUT since the check above (while
		// okv asked for a passphrase) is neither replaced nor, later, removed.
		if err := vault.WriteFileExclusive(p, s.t.fill(r)); err != nil {
			return cleanup, fmt.Errorf("could not write %s: %w", s.out, err)
		}
		written = append(written, p)
	}
	return cleanup, nil
}

// warnLeftOutputs names the template outputs a killed okv run left behind
// (its process is gone, the file is not); records of files already gone
// are dropped.
func (a *App) warnLeftOutputs(v *vault.Vault) {
	outs := v.TemplateOutputs()
	if len(outs) == 0 {
		return
	}
	gone := map[string]bool{}
	for _, o := range outs {
		if o.PID == os.Getpid() || processAlive(o.PID) {
			continue
		}
		if _, err := os.Lstat(o.Path); errors.Is(err, os.ErrNotExist) {
			gone[o.Path] = true
			continue
		}
		fmt.Fprintf(a.Stderr, "okv: warning: %s was left by 'okv run --template' (pid %d, started %s), which was killed before it could remove it: it holds secrets in plaintext; delete it\n",
			o.Path, o.PID, o.Since.Local().Format("2006-01-02 15:04"))
	}
	if len(gone) > 0 {
		v.UpdateTemplateOutputs(func(outs []vault.TemplateOutput) []vault.TemplateOutput {
			keep := outs[:0]
			for _, o := range outs {
				if !gone[o.Path] || processAlive(o.PID) {
					keep = append(keep, o)
				}
			}
			return keep
		})
	}
}

// processAlive reports whether pid is a running process (signal 0).
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}
