//go:build linux || freebsd || openbsd || netbsd || dragonfly

package vault

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// keychainPrecheck fails fast when there is no D-Bus session bus at all.
// Without it godbus would try to autolaunch one through dbus-launch, which
// can spawn a stray bus (or hang on X11) on a headless machine.
func keychainPrecheck() error {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" || addr == "autolaunch:" {
		// godbus then looks in /run/user/UID (not $XDG_RUNTIME_DIR).
		rt := filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
		for _, f := range []string{"bus", "dbus-session"} {
			if _, err := os.Stat(filepath.Join(rt, f)); err == nil {
				return nil
			}
		}
		return errors.New("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
	}
	// unix:path=... addresses can be checked without connecting.
	for _, part := range strings.Split(addr, ";") {
		rest, ok := strings.CutPrefix(part, "unix:")
		if !ok {
			return nil
		}
		for _, kv := range strings.Split(rest, ",") {
			if p, ok := strings.CutPrefix(kv, "path="); ok {
				if _, err := os.Stat(p); err == nil {
					return nil
				}
			} else {
				return nil // abstract sockets, tmpdir=…: let D-Bus decide
			}
		}
	}
	return errors.New("the D-Bus session bus in DBUS_SESSION_BUS_ADDRESS does not exist")
}
