// Package testkeyring starts a private D-Bus session bus with an unlocked
// gnome-keyring (a real Secret Service) for tests, so they never touch the
// user's own keychain. Each call makes a fresh, empty keyring in its own
// folder; Stop ends both daemons.
package testkeyring

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	dbus "github.com/godbus/dbus/v5"
)

// Password unlocks the test keyring's login collection.
const Password = "okv-test-keyring"

// Keyring is a running private Secret Service.
type Keyring struct {
	Dir     string
	Address string // DBUS_SESSION_BUS_ADDRESS
	bus     *exec.Cmd
}

const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// Available reports whether dbus-daemon and gnome-keyring-daemon exist.
func Available() bool {
	for _, p := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(p); err != nil {
			return false
		}
	}
	return true
}

// Required reports whether the test command demands keychain tests run
// (make test sets OKV_REQUIRE_KEYRING=1): then a missing keyring fails.
func Required() bool { return os.Getenv("OKV_REQUIRE_KEYRING") == "1" }

// Start launches dbus-daemon and gnome-keyring-daemon under dir.
func Start(dir string) (*Keyring, error) {
	k, err := start(dir)
	if errors.Is(err, errNotUnlocked) {
		// Seen once on a loaded 2-core machine: the daemon never
		// unlocked its new collection. Start again from empty folders
		// rather than fail a test over the harness.
		for _, sub := range []string{"data", "runtime", "home"} {
			if rerr := os.RemoveAll(filepath.Join(dir, sub)); rerr != nil {
				return nil, err
			}
		}
		k, err = start(dir)
	}
	return k, err
}

var errNotUnlocked = errors.New("gnome-keyring's login collection did not come up unlocked on the private bus")

func start(dir string) (*Keyring, error) {
	for _, sub := range []string{"data", "runtime", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	sock := filepath.Join(dir, "runtime", "bus")
	addr := "unix:path=" + sock
	// A bus of our own with no service activation: otherwise a probe of
	// org.freedesktop.secrets could activate a second, locked
	// gnome-keyring that races ours for the name.
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(busConfig, addr)), 0o600); err != nil {
		return nil, err
	}
	bus := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1")
	out, err := bus.StdoutPipe()
	if err != nil {
		return nil, err
	}
	bus.Stderr = nil
	if err := bus.Start(); err != nil {
		return nil, fmt.Errorf("starting dbus-daemon: %w", err)
	}
	k := &Keyring{Dir: dir, Address: addr, bus: bus}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "unix:") {
		k.Stop()
		return nil, fmt.Errorf("dbus-daemon did not report its address: %v", err)
	}
	gk := exec.Command("gnome-keyring-daemon", "--unlock", "--components=secrets", "--daemonize")
	gk.Env = k.Env(os.Environ())
	gk.Stdin = strings.NewReader(Password)
	var gkOut bytes.Buffer
	gk.Stdout, gk.Stderr = &gkOut, &gkOut
	if err := gk.Run(); err != nil {
		k.Stop()
		return nil, fmt.Errorf("starting gnome-keyring-daemon: %v: %s", err, gkOut.String())
	}
	// gnome-keyring creates the login collection asynchronously: wait
	// until it exists and is unlocked, or clients fall back to another
	// collection and see a locked keyring.
	deadline := time.Now().Add(10 * time.Second)
	for !k.loginUnlocked() {
		if time.Now().After(deadline) {
			k.Stop()
			return nil, errNotUnlocked
		}
		time.Sleep(20 * time.Millisecond)
	}
	return k, nil
}

// Env returns base with this keyring's bus and folders.
func (k *Keyring) Env(base []string) []string {
	set := map[string]string{
		"DBUS_SESSION_BUS_ADDRESS": k.Address,
		"XDG_DATA_HOME":            filepath.Join(k.Dir, "data"),
		"XDG_RUNTIME_DIR":          filepath.Join(k.Dir, "runtime"),
		"DISPLAY":                  "",
		"WAYLAND_DISPLAY":          "",
	}
	var out []string
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := set[name]; !ok {
			out = append(out, kv)
		}
	}
	for name, v := range set {
		out = append(out, name+"="+v)
	}
	return out
}

func (k *Keyring) secretTool(stdin []byte, args ...string) error {
	c := exec.Command("secret-tool", args...)
	c.Env = k.Env(os.Environ())
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("secret-tool %s: %v: %s", args[0], err, out)
	}
	return nil
}

// Lookup returns the secret stored under service/user, as okv stores it.
func (k *Keyring) Lookup(service, user string) (string, error) {
	c := exec.Command("secret-tool", "lookup", "service", service, "username", user)
	c.Env = k.Env(os.Environ())
	out, err := c.Output()
	return string(out), err
}

func (k *Keyring) loginUnlocked() bool {
	conn, err := dbus.Connect(k.Address)
	if err != nil {
		return false
	}
	defer conn.Close()
	v, err := conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets/collection/login").
		GetProperty("org.freedesktop.Secret.Collection.Locked")
	if err != nil {
		return false
	}
	locked, ok := v.Value().(bool)
	return ok && !locked
}

// Lock locks the login collection, as after a screen lock or reboot.
// (secret-tool lock crashes on Debian 12, so this speaks D-Bus itself.)
func (k *Keyring) Lock() error {
	conn, err := dbus.Connect(k.Address)
	if err != nil {
		return err
	}
	defer conn.Close()
	var locked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	return conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets").
		Call("org.freedesktop.Secret.Service.Lock", 0, []dbus.ObjectPath{"/org/freedesktop/secrets/collection/login"}).
		Store(&locked, &prompt)
}

// Stop ends the bus; gnome-keyring-daemon exits when its bus goes away.
func (k *Keyring) Stop() {
	if k.bus != nil && k.bus.Process != nil {
		k.bus.Process.Kill()
		k.bus.Wait()
	}
}
