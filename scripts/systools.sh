#!/usr/bin/env bash
# The system tools the full test suite needs, and the Debian packages that
# provide them: one list for `make test` (which checks them first) and for
# .ci/run (which installs what is missing).
#
#   scripts/systools.sh check      exit 1 naming the packages of missing tools
#   scripts/systools.sh missing    the packages of missing tools, one a line
#   scripts/systools.sh packages   every package, one a line
set -euo pipefail

# tool (a command, or an absolute path)   Debian package   what needs it
TOOLS='
git                                         git              scan, hook and project vault tests
age                                         age              interoperability with the age command
age-keygen                                  age              identity files for CI tests
ssh-keygen                                  openssh-client   SSH recipients
dbus-daemon                                 dbus             a private Secret Service bus for the keychain tests
gnome-keyring-daemon                        gnome-keyring    a real Secret Service for the keychain tests
secret-tool                                 libsecret-tools  keychain item tests
setpriv                                     util-linux       the okv agent tests run a client as another user
/usr/share/bash-completion/bash_completion  bash-completion  the completion script test
node                                        nodejs           the proxy test with the official openai npm package
npm                                         npm              installing that package (npm ci)
cc                                          gcc              the race detector (cgo)
/usr/include/stdio.h                        libc6-dev        the race detector (cgo)
strace                                      strace           the crash test (SIGKILL injected at each rename, fsync, unlink)
/etc/ssl/certs/ca-certificates.crt          ca-certificates  downloading Go modules and npm packages
'

have() {
	case $1 in
	/*) [ -e "$1" ] ;;
	*) command -v "$1" >/dev/null 2>&1 ;;
	esac
}

missing() {
	local tool pkg why
	while read -r tool pkg why; do
		[ -n "$tool" ] || continue
		have "$tool" || printf '%s\t%s\t%s\n' "$tool" "$pkg" "$why"
	done <<<"$TOOLS"
}

case ${1:-check} in
packages)
	awk 'NF { print $2 }' <<<"$TOOLS" | awk '!seen[$0]++'
	;;
missing)
	missing | cut -f2 | awk '!seen[$0]++'
	;;
check)
	m=$(missing)
	[ -z "$m" ] && exit 0
	echo "make test: the full test suite needs system tools that are missing:" >&2
	while IFS=$'\t' read -r tool pkg why; do
		printf '  %-44s (Debian package %s: %s)\n' "$tool" "$pkg" "$why" >&2
	done <<<"$m"
	echo "install them with:" >&2
	echo "  sudo apt-get install -y $(cut -f2 <<<"$m" | awk '!seen[$0]++' | paste -sd ' ')" >&2
	echo "or run 'make test-go' for the tests that can run here (the others skip)" >&2
	exit 1
	;;
*)
	echo "usage: $0 check|missing|packages" >&2
	exit 2
	;;
esac
