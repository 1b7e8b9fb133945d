// Package scripts_test checks the helper scripts make test relies on.
package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystoolsNamesMissingPackages: with none of the tools on PATH,
// 'systools.sh check' fails and names every Debian package and the
// apt-get line that installs them; 'missing' lists the same packages.
// With the machine's PATH under make test (OKV_REQUIRE_TOOLS=1) nothing is
// missing.
func TestSystoolsNamesMissingPackages(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"bash", "awk", "cut", "paste", "cat"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s is not installed", tool)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	run := func(path string, args ...string) (string, error) {
		c := exec.Command(filepath.Join(bin, "bash"), append([]string{"systools.sh"}, args...)...)
		c.Env = []string{"PATH=" + path}
		out, err := c.CombinedOutput()
		return string(out), err
	}
	all, err := run(os.Getenv("PATH"), "packages")
	if err != nil {
		t.Fatalf("packages: %v\n%s", err, all)
	}
	listed := map[string]bool{}
	for _, p := range strings.Fields(all) {
		listed[p] = true
	}
	for _, want := range []string{"age", "gnome-keyring", "dbus", "nodejs", "npm", "gcc", "libc6-dev", "git", "bash-completion", "openssh-client", "libsecret-tools"} {
		if !listed[want] {
			t.Errorf("packages does not list %s:\n%s", want, all)
		}
	}

	// Tools found by absolute path (bash-completion, libc6-dev's headers,
	// ca-certificates) cannot be hidden by PATH; the commands can.
	out, err := run(bin, "check")
	if err == nil {
		t.Fatalf("check passed with no tools on PATH:\n%s", out)
	}
	if !strings.Contains(out, "sudo apt-get install -y ") {
		t.Errorf("check does not give the apt-get line:\n%s", out)
	}
	missing, _ := run(bin, "missing")
	for _, p := range []string{"age", "gnome-keyring", "dbus", "nodejs", "npm", "gcc", "git", "openssh-client", "libsecret-tools"} {
		if !strings.Contains(out, "Debian package "+p+":") || !strings.Contains("\n"+missing, "\n"+p+"\n") {
			t.Errorf("package %s of a missing tool is not named:\n%s\nmissing:\n%s", p, out, missing)
		}
	}
	if os.Getenv("OKV_REQUIRE_TOOLS") == "1" {
		if out, err := run(os.Getenv("PATH"), "check"); err != nil {
			t.Errorf("OKV_REQUIRE_TOOLS=1 but tools are missing:\n%s", out)
		}
	}
}

// TestReadmeListsSystools: the README's apt-get line names exactly the
// packages systools.sh checks for.
func TestReadmeListsSystools(t *testing.T) {
	out, err := exec.Command("bash", "systools.sh", "packages").Output()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "apt-get install git ") {
			line = strings.TrimSpace(l)
		}
	}
	if line == "" {
		t.Fatal("README.md has no 'apt-get install git …' line")
	}
	want := strings.Join(strings.Fields(string(out)), " ")
	got := strings.TrimPrefix(line, "apt-get install ")
	if got != want {
		t.Errorf("README lists\n  %s\nsystools.sh checks\n  %s", got, want)
	}
}
