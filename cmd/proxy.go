package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/okvault/okv/proxy"
	"github.com/okvault/okv/shell"
	"github.com/okvault/okv/vault"
)

// proxySession is a running proxy for one provider of one profile.
type proxySession struct {
	pv      *proxy.Provider
	p       *proxy.Proxy
	ln      net.Listener
	ledger  *proxy.FileLedger
	token   string
	baseURL string
	done    chan error
}

// startProxy starts the profile's proxy for pv on addr with the real key,
// under the policy (limits, upstream) u says is in effect.
func (a *App) startProxy(u *vault.Use, pv *proxy.Provider, addr string, allow []netip.Prefix, ledger *proxy.FileLedger) (*proxySession, error) {
	v, profile, doc := u.Vault, u.Profile, u.Doc
	key, ok := doc.Secrets[pv.KeyVar]
	if !ok {
		return nil, withHints(fmt.Errorf("proxy mode needs %s in profile %s", pv.KeyVar, profile),
			fmt.Sprintf("store it with 'okv set -p %s'", profile))
	}
	upstream, pol, err := a.providerPolicy(u, pv)
	if err != nil {
		return nil, err
	}
	up, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	token, err := proxy.NewToken()
	if err != nil {
		return nil, err
	}
	// Never through a link: a cloned .okv/usage*.jsonl linked elsewhere
	// would have the proxy append to the file it points at.
	if _, err := v.UsagePath(); err != nil {
		return nil, err
	}
	if ledger == nil {
		ledger = &proxy.FileLedger{Dir: v.Dir, Now: a.Now}
	}
	// From the ledger's day totals: start-up does not grow with the
	// ledger. An unreadable ledger seeds nothing rather than blocking the
	// run. The day's tokens are the profile's, all providers together: a
	// provider's daily budget counts them all (never less than it spent).
	usedToday, _ := proxy.TokensUsed(v.Dir, profile, a.Now())
	// Read once: the proxy keeps the prices it started with.
	priceOf, err := a.priceFunc()
	if err != nil {
		return nil, err
	}
	cfg := proxy.Config{
		Profile:         profile,
		Provider:        pv,
		Upstream:        up,
		APIKey:          key.Value,
		Credentials:     map[string]string{},
		Token:           token,
		Limits:          pol.Limits,
		TokensUsedToday: usedToday,
		Allow:           allow,
		Ledger:          ledger,
		Prices:          priceOf,
		Now:             a.Now,
		ErrorLog:        log.New(io.Discard, "", 0),
		Notice:          log.New(a.Stderr, "", 0),
	}
	for _, c := range pv.Credentials {
		if s, ok := doc.Secrets[c.Secret]; ok {
			cfg.Credentials[c.Secret] = s.Value
		}
	}
	p, err := proxy.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pv.Name, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, withHints(fmt.Errorf("cannot listen on %s: %w", addr, err), "pick another address with --listen")
	}
	s := &proxySession{pv: pv, p: p, ln: ln, ledger: ledger, token: token, done: make(chan error, 1)}
	host := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	s.baseURL = pv.BaseURL("http://" + host)
	go func() { s.done <- p.Serve(ln) }()
	return s, nil
}

// startProxies starts one proxy per provider whose key the profile holds,
// each on its own loopback port, sharing one ledger. No provider key is
// an error naming the variables okv knows.
//
// only, when not nil, limits them to the providers whose key it names
// (okv run --only / --env): the child gets no token it did not ask for.
func (a *App) startProxies(u *vault.Use, only []string) ([]*proxySession, error) {
	pvs, err := a.heldProviders(u)
	if err != nil {
		return nil, err
	}
	if only != nil {
		held := len(pvs) > 0
		pvs = slices.DeleteFunc(pvs, func(pv *proxy.Provider) bool { return !slices.Contains(only, pv.KeyVar) })
		if held && len(pvs) == 0 {
			return nil, nil // the child asked for no provider's key
		}
	}
	if len(pvs) == 0 {
		var vars []string
		for _, pv := range proxy.Builtin() {
			vars = append(vars, pv.KeyVar)
		}
		return nil, withHints(fmt.Errorf("proxy mode needs a provider key in profile %s", u.Profile),
			"okv proxies "+strings.Join(vars, ", "),
			fmt.Sprintf("store one with 'okv set -p %s OPENAI_API_KEY'", u.Profile))
	}
	ledger := &proxy.FileLedger{Dir: u.Vault.Dir, Now: a.Now}
	var out []*proxySession
	for _, pv := range pvs {
		s, err := a.startProxy(u, pv, "127.0.0.1:0", nil, ledger)
		if err != nil {
			stopAll(out)
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func stopAll(ss []*proxySession) {
	for _, s := range ss {
		s.stopServer()
	}
	if len(ss) > 0 {
		ss[0].ledger.Close()
	}
}

// stopServer shuts one proxy down, letting requests in flight finish
// briefly.
func (s *proxySession) stopServer() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.p.Shutdown(ctx); err != nil {
		s.p.Close()
	}
}

// stop shuts the proxy down and closes its ledger.
func (s *proxySession) stop() {
	s.stopServer()
	s.ledger.Close()
}

// proxyVars replaces every proxied provider's secrets in the child's
// variables by its proxy's base URL and token. names (for the audit log)
// loses them too.
func proxyVars(vars map[string]string, names []string, doc *vault.Document, ss []*proxySession) []string {
	var proxied []string
	for _, s := range ss {
		proxied = append(proxied, s.pv.Secrets()...)
		if s.pv.UpstreamSecret != "" {
			proxied = append(proxied, s.pv.UpstreamSecret)
		}
	}
	// By value, so that --env DEST=OPENAI_API_KEY cannot carry the real
	// key in under another name.
	for k, val := range vars {
		for _, n := range proxied {
			if sec, ok := doc.Secrets[n]; ok && sec.Value == val {
				delete(vars, k)
			}
		}
	}
	for _, s := range ss {
		vars[s.pv.KeyVar] = s.token
		vars[s.pv.BaseURLVar] = s.baseURL
	}
	var kept []string
	for _, n := range names {
		if !slices.Contains(proxied, n) {
			kept = append(kept, n)
		}
	}
	return kept
}

func (a *App) newProxyCmd() *cobra.Command {
	var listen, name string
	var allow []string
	c := &cobra.Command{
		Use:   "proxy [-p P] [--provider NAME] [--listen ADDR] [--allow CIDR]",
		Short: "Run the key-injecting proxy standalone, for tools started elsewhere",
		Long: `Run okv's proxy for one provider of the profile (--provider, default openai)
until interrupted. It prints the base URL and a fresh token on stdout, as
OPENAI_BASE_URL=… and OPENAI_API_KEY=… lines (ANTHROPIC_BASE_URL=… and
ANTHROPIC_API_KEY=… for anthropic, and so on): give those to the tool. The real key never leaves okv; the profile's
policy limits (rpm, tpm, models, endpoints, max_body, daily_tokens) apply and
every request is recorded in the usage ledger (okv usage).

The proxy listens on loopback; listening on another address needs --allow
with the client networks to admit.`,
		Example: `  okv proxy -p dev --listen 127.0.0.1:8787
  okv proxy -p dev > proxy.env &        # then, in the tool's shell:
  set -a; . ./proxy.env; set +a         # OPENAI_BASE_URL and the token, not the key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runProxy(name, listen, allow)
		},
	}
	c.Flags().StringVar(&name, "provider", "openai", "the provider to proxy (openai, anthropic, gemini, azure, groq, …)")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on (port 0 picks a free one)")
	c.Flags().StringSliceVar(&allow, "allow", nil, "client networks allowed besides loopback (CIDR, comma-separated)")
	return c
}

func (a *App) runProxy(name, listen string, allowStr []string) error {
	var allow []netip.Prefix
	for _, s := range allowStr {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return usagef("--allow %q: want a network like 192.168.1.0/24", s)
		}
		allow = append(allow, p)
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return usagef("--listen %q: want HOST:PORT like 127.0.0.1:8787", listen)
	}
	if ip, err := netip.ParseAddr(host); (err != nil && host != "localhost") || (err == nil && !ip.IsLoopback()) {
		if len(allow) == 0 {
			return &usageError{msg: fmt.Sprintf("--listen %s is not a loopback address", listen),
				hints: []string{"listening beyond loopback needs --allow CIDR naming the clients to admit"}}
		}
	}
	u, err := a.use("okv proxy")
	if err != nil {
		return err
	}
	v, profile := u.Vault, u.Profile
	provider, err := a.providerNamed(u, name)
	if err != nil {
		return err
	}
	shell.NoDump()
	s, err := a.startProxy(u, provider, listen, allow, nil)
	if err != nil {
		return err
	}
	defer s.stop()
	a.audit(v, "proxy", profile, []string{provider.KeyVar}, "okv proxy")
	fmt.Fprintf(a.Stdout, "%s=%s\n%s=%s\n", provider.BaseURLVar, s.baseURL, provider.KeyVar, s.token)
	if f, ok := a.Stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	fmt.Fprintf(a.Stderr, "okv: %s proxy for profile %s on %s; stop with Ctrl-C\n", provider.Name, profile, s.baseURL)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case <-sigs:
		return nil
	case err := <-s.done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
