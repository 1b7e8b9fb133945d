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

// provider is the API okv run --proxy and okv proxy serve.
var provider = proxy.OpenAI

// proxySession is a running proxy for one profile.
type proxySession struct {
	p       *proxy.Proxy
	ln      net.Listener
	ledger  *proxy.FileLedger
	token   string
	baseURL string
	done    chan error
}

// startProxy starts the profile's proxy on addr with the real key, under
// the policy (limits, upstream) u says is in effect.
func (a *App) startProxy(u *vault.Use, addr string, allow []netip.Prefix) (*proxySession, error) {
	v, profile, doc := u.Vault, u.Profile, u.Doc
	key, ok := doc.Secrets[provider.KeyVar]
	if !ok {
		return nil, withHints(fmt.Errorf("proxy mode needs %s in profile %s", provider.KeyVar, profile),
			fmt.Sprintf("store it with 'okv set -p %s'", profile))
	}
	pol := u.Policy
	upstream, err := u.Upstream()
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
	ledger := &proxy.FileLedger{Dir: v.Dir, Now: a.Now}
	// From the ledger's day totals: start-up does not grow with the
	// ledger. An unreadable ledger seeds nothing rather than blocking the run.
	usedToday, _ := proxy.TokensUsed(v.Dir, profile, a.Now())
	cfg := proxy.Config{
		Profile:         profile,
		Provider:        provider,
		Upstream:        up,
		APIKey:          key.Value,
		Credentials:     map[string]string{},
		Token:           token,
		Limits:          pol.Limits,
		TokensUsedToday: usedToday,
		Allow:           allow,
		Ledger:          ledger,
		Now:             a.Now,
		ErrorLog:        log.New(io.Discard, "", 0),
		Notice:          log.New(a.Stderr, "", 0),
	}
	for _, c := range provider.Credentials {
		if s, ok := doc.Secrets[c.Secret]; ok {
			cfg.Credentials[c.Secret] = s.Value
		}
	}
	p, err := proxy.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, withHints(fmt.Errorf("cannot listen on %s: %w", addr, err), "pick another address with --listen")
	}
	s := &proxySession{p: p, ln: ln, ledger: ledger, token: token, done: make(chan error, 1)}
	host := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	s.baseURL = "http://" + host + provider.BasePath
	go func() { s.done <- p.Serve(ln) }()
	return s, nil
}

// stop shuts the proxy down, letting requests in flight finish briefly.
func (s *proxySession) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.p.Shutdown(ctx); err != nil {
		s.p.Close()
	}
	s.ledger.Close()
}

// proxyVars replaces the proxied secrets in the child's variables by the
// proxy's base URL and token. names (for the audit log) loses them too.
func proxyVars(vars map[string]string, names []string, doc *vault.Document, s *proxySession) []string {
	proxied := provider.Secrets()
	// By value, so that --env DEST=OPENAI_API_KEY cannot carry the real
	// key in under another name.
	for k, val := range vars {
		for _, n := range proxied {
			if sec, ok := doc.Secrets[n]; ok && sec.Value == val {
				delete(vars, k)
			}
		}
	}
	vars[provider.KeyVar] = s.token
	vars[provider.BaseURLVar] = s.baseURL
	var kept []string
	for _, n := range names {
		if !slices.Contains(proxied, n) {
			kept = append(kept, n)
		}
	}
	return kept
}

func (a *App) newProxyCmd() *cobra.Command {
	var listen string
	var allow []string
	c := &cobra.Command{
		Use:   "proxy [-p P] [--listen ADDR] [--allow CIDR]",
		Short: "Run the key-injecting proxy standalone, for tools started elsewhere",
		Long: `Run okv's OpenAI proxy for the profile until interrupted. It prints the base
URL and a fresh token on stdout, as OPENAI_BASE_URL=… and OPENAI_API_KEY=…
lines: give those to the tool. The real key never leaves okv; the profile's
policy limits (rpm, tpm, models, endpoints, max_body, daily_tokens) apply and
every request is recorded in the usage ledger (okv usage).

The proxy listens on loopback; listening on another address needs --allow
with the client networks to admit.`,
		Example: `  okv proxy -p dev --listen 127.0.0.1:8787
  okv proxy -p dev > proxy.env &        # then, in the tool's shell:
  set -a; . ./proxy.env; set +a         # OPENAI_BASE_URL and the token, not the key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runProxy(listen, allow)
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on (port 0 picks a free one)")
	c.Flags().StringSliceVar(&allow, "allow", nil, "client networks allowed besides loopback (CIDR, comma-separated)")
	return c
}

func (a *App) runProxy(listen string, allowStr []string) error {
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
	shell.NoDump()
	s, err := a.startProxy(u, listen, allow)
	if err != nil {
		return err
	}
	defer s.stop()
	a.audit(v, "proxy", profile, []string{provider.KeyVar}, "okv proxy")
	fmt.Fprintf(a.Stdout, "%s=%s\n%s=%s\n", provider.BaseURLVar, s.baseURL, provider.KeyVar, s.token)
	if f, ok := a.Stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	fmt.Fprintf(a.Stderr, "okv: proxy for profile %s on %s; stop with Ctrl-C\n", profile, s.baseURL)

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
