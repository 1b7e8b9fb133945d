#!/usr/bin/env bash
# Checks what `make release-snapshot` (goreleaser) left in dist/ the way a
# user meets it: the checksums verify; the .deb installs into a throwaway
# root with dpkg --root, where the binary reports the snapshot's version and
# commit, bash, zsh and fish load the installed completions, man renders the
# installed pages, and dpkg -r removes every file again; the .rpm lists the
# expected paths; the Homebrew formula and the Scoop manifest name the
# release URLs and sha256 sums of the archives built beside them. Nothing
# outside temporary folders is touched.
#
# Usage: scripts/check-release.sh [DIST]     (make check-release)
# Needs: dpkg, rpm, man-db, bash-completion, zsh, fish, jq, unzip (.ci/run).
set -euo pipefail

dist=${1:-dist}
cd "$(dirname "$0")/.."
dist=$(cd "$dist" && pwd)
fails=0
passes=0
pass() { passes=$((passes + 1)); echo "ok   $*"; }
fail() { fails=$((fails + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...: pass when COMMAND succeeds
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
# mark, then passed DESCRIPTION: one "ok" for a group of checks that
# reported no FAIL since the mark.
mark() { marked=$fails; }
passed() { if [ "$fails" -eq "$marked" ]; then pass "$*"; fi; }
need() { command -v "$1" >/dev/null || { echo "check-release: $1 is missing ($2)"; exit 1; }; }
need dpkg "apt-get install dpkg"
need rpm "apt-get install rpm"
need man "apt-get install man-db"
need jq "apt-get install jq"
need unzip "apt-get install unzip"
need zsh "apt-get install zsh"
need fish "apt-get install fish"
[ -f /usr/share/bash-completion/bash_completion ] || { echo "check-release: apt-get install bash-completion"; exit 1; }
[ -f "$dist/metadata.json" ] || { echo "check-release: no $dist/metadata.json: run 'make release-snapshot' first"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

version=$(jq -r .version "$dist/metadata.json")
tag=$(jq -r .tag "$dist/metadata.json")
commit=$(git rev-parse HEAD)
base="https://github.com/okvault/okv/releases/download/$tag"
echo "release $version (tag $tag, commit $commit) in $dist"

# --- checksums ---------------------------------------------------------
check "checksums.txt verifies (sha256sum -c)" bash -c "cd '$dist' && sha256sum --quiet -c checksums.txt"
mapfile -t shipped < <(jq -r '.[] | select(.type == "Archive" or .type == "Linux Package") | .name' "$dist/artifacts.json" | sort)
[ "${#shipped[@]}" -eq 10 ] && pass "10 archives and packages built" || fail "expected 6 archives + 4 packages, got ${#shipped[@]}: ${shipped[*]}"
for f in "${shipped[@]}"; do
	grep -qE "^[0-9a-f]{64}  $f\$" "$dist/checksums.txt" || fail "$f is not in checksums.txt"
done
sum_of() { awk -v f="$1" '$2 == f { print $1 }' "$dist/checksums.txt"; }

# The README's checksum step, as written there, passes on each file name it
# shows, and fails on a copy with one byte changed. (nfpm writes a
# prerelease's "-" as "~" in package versions: 0.0.1-next -> 0.0.1~next.)
pkgver=${version//-/\~}
for a in "okv_${pkgver}_amd64.deb" "okv-${pkgver}-1.x86_64.rpm" "okv_${version}_linux_amd64.tar.gz"; do
	check "README checksum step verifies $a" bash -c "cd '$dist' && grep '  $a\$' checksums.txt | sha256sum -c --quiet"
done
mkdir "$tmp/bad" && cp "$dist/$a" "$dist/checksums.txt" "$tmp/bad/" && printf x >>"$tmp/bad/$a"
check "README checksum step rejects a tampered $a" bash -c "cd '$tmp/bad' && ! grep '  $a\$' checksums.txt | sha256sum -c --quiet >/dev/null 2>&1"

# --- make build sets the same fields -------------------------------------
t0=$(date -u +%s)
make -s build >/dev/null
json=$(./okv version --json)
check "make build: okv version --json reports commit $commit" test "$(jq -r .commit <<<"$json")" = "$commit"
built=$(date -u -d "$(jq -r .date <<<"$json")" +%s 2>/dev/null || echo 0)
check "make build: okv version --json reports the build's date and time" test "$built" -ge $((t0 - 1)) -a "$built" -le "$(date -u +%s)"
check "make build: okv version reports git describe (less a tag's v)" test "$(jq -r .version <<<"$json")" = "$(git describe --tags --always --dirty | sed 's/^v\([0-9]\)/\1/')"

# --- archives ----------------------------------------------------------
mark
for a in "${shipped[@]}"; do
	case $a in
	*.tar.gz) list=$(tar -tzf "$dist/$a") bin=okv ;;
	*.zip) list=$(unzip -Z1 "$dist/$a") bin=okv.exe ;;
	*) continue ;;
	esac
	for want in "$bin" README.md completions/okv.bash completions/okv.zsh completions/okv.fish completions/okv.ps1 man/okv.1 man/okv-run.1; do
		grep -qx "$want" <<<"$list" || fail "$a lacks $want"
	done
done
passed "every archive holds the binary, README, completions and man pages"
mkdir "$tmp/tar" && tar -xzf "$dist/okv_${version}_linux_amd64.tar.gz" -C "$tmp/tar"
check "the linux_amd64 archive's okv reports $version" grep -qx "okv $version" <("$tmp/tar/okv" version)

# --- deb: install into a throwaway root, use, remove --------------------
arch=$(dpkg --print-architecture)
deb=$(jq -r --arg a "$arch" '.[] | select(.type == "Linux Package" and (.name | endswith("_" + $a + ".deb"))) | .path' "$dist/artifacts.json")
[ -f "$deb" ] || { fail "no .deb for $arch"; deb=; }
if [ -n "$deb" ]; then
	root=$tmp/root
	mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
	touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
	check "dpkg --root -i $(basename "$deb")" dpkg --root="$root" -i "$deb"
	check "dpkg says okv $version is installed" bash -c "dpkg --root='$root' -s okv | grep -qx 'Status: install ok installed'"

	mark
	for p in /usr/bin/okv /usr/share/bash-completion/completions/okv /usr/share/zsh/vendor-completions/_okv \
		/usr/share/fish/vendor_completions.d/okv.fish /usr/share/man/man1/okv.1.gz /usr/share/man/man1/okv-run.1.gz; do
		[ -f "$root$p" ] || fail "the .deb did not install $p"
	done
	for page in man/*.1; do
		[ -f "$root/usr/share/man/man1/$(basename "$page").gz" ] || fail "the .deb lacks $(basename "$page").gz"
		cmp -s "$page" <(gzip -dc "$root/usr/share/man/man1/$(basename "$page").gz") || fail "the .deb's $(basename "$page").gz differs from man/$(basename "$page")"
	done
	cmp -s completions/okv.bash "$root/usr/share/bash-completion/completions/okv" || fail "installed bash completion differs from completions/okv.bash"
	passed "the .deb installs okv, completions for bash/zsh/fish and $(ls man/*.1 | wc -l) gzipped man pages"

	json=$("$root/usr/bin/okv" version --json)
	check "installed okv reports version $version" test "$(jq -r .version <<<"$json")" = "$version"
	check "installed okv reports commit $commit" test "$(jq -r .commit <<<"$json")" = "$commit"
	check "installed okv reports a build date" bash -c "jq -r .date <<<'$json' | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T'"

	# An interactive bash set up as a Debian user's ~/.bashrc sets it up
	# (/etc/skel sources bash-completion), with the throwaway root's
	# /usr/bin on PATH and its /usr/share first in XDG_DATA_DIRS:
	# bash-completion then looks for okv's script in the root's
	# /usr/share/bash-completion/completions as it looks in the system's.
	# Loading is lazy (on the first Tab), so ask the loader as Tab would,
	# then complete "okv ru" through the installed binary.
	home=$tmp/home
	mkdir -p "$home"
	printf '%s\n' '. /usr/share/bash-completion/bash_completion' >"$home/.bashrc"
	out=$(env -i HOME="$home" PATH="$root/usr/bin:/usr/bin:/bin" XDG_DATA_DIRS="$root/usr/share:/usr/share" \
		TERM=dumb OKV_HOME="$tmp/vault" bash -ic '
		type -P okv
		__load_completion okv
		complete -p okv
		COMP_WORDS=(okv ru); COMP_CWORD=1; COMP_LINE="okv ru"; COMP_POINT=${#COMP_LINE}
		__start_okv okv ru okv
		printf "reply:%s\n" "${COMPREPLY[@]}"
	' 2>"$tmp/bash.err") || true
	before=$fails
	check "bash -i runs the installed okv" grep -qx "$root/usr/bin/okv" <<<"$out"
	check "bash -ic 'complete -p okv' finds the installed completion" grep -qx 'complete -o default -F __start_okv okv' <<<"$out"
	check "the installed completion completes 'okv ru' to run" grep -qE '^reply:run([[:space:]]|$)' <<<"$out"
	[ "$fails" -eq "$before" ] || { echo "--- bash output:"; cat <<<"$out"; cat "$tmp/bash.err"; }

	# zsh: the root's vendor-completions in front of fpath (Debian's zsh has
	# /usr/share/zsh/vendor-completions in its own), compinit binds okv.
	out=$(env -i HOME="$home" PATH="$root/usr/bin:/usr/bin:/bin" zsh -fc "
		fpath=('$root/usr/share/zsh/vendor-completions' \$fpath)
		autoload -Uz compinit && compinit -u -d '$tmp/zcompdump'
		print -r -- \$_comps[okv]")
	check "zsh's compinit binds okv to the installed _okv" test "$out" = _okv
	# fish builds its completion path from XDG_DATA_DIRS
	# (…/fish/vendor_completions.d), as for /usr/share.
	out=$(env -i HOME="$home" PATH="$root/usr/bin:/usr/bin:/bin" XDG_DATA_DIRS="$root/usr/share:/usr/share" \
		OKV_HOME="$tmp/vault" fish -c "complete -C 'okv ru'")
	check "fish completes 'okv ru' to run with the installed okv.fish" grep -qE '^run[[:space:]]' <<<"$out"

	# man finds the page by name in the root's manpath, and renders it.
	check "man finds okv-run(1) in the installed manpath" bash -c "MANPATH='$root/usr/share/man' man -w okv-run | grep -qx '$root/usr/share/man/man1/okv-run.1.gz'"
	page=$(MANWIDTH=80 MAN_KEEP_FORMATTING= man -l "$root/usr/share/man/man1/okv-run.1.gz" 2>"$tmp/man.err" | col -bx)
	check "man -l renders okv-run.1: NAME" grep -qE 'okv-run +- +Run a command' <<<"$page"
	check "man -l renders okv-run.1: SYNOPSIS and options" bash -c 'grep -q "okv run \[flags\] -- COMMAND" <<<"$1" && grep -q -- "--only" <<<"$1"' _ "$page"
	check "man -l renders okv-run.1 without warnings" test ! -s "$tmp/man.err"

	check "dpkg --root -r okv" dpkg --root="$root" -r okv
	left=$(cd "$root" && find . -mindepth 1 -not -path './var' -not -path './var/lib' -not -path './var/lib/dpkg*')
	check "removing the package leaves no file or folder behind" test -z "$left"
	[ -z "$left" ] || echo "$left"
	check "dpkg no longer knows okv as installed" bash -c "! dpkg --root='$root' -s okv >/dev/null 2>&1"
fi

# --- rpm ---------------------------------------------------------------
mark
for rpmf in "$dist"/okv-*.rpm; do
	files=$(rpm -qlp "$rpmf" 2>/dev/null)
	for p in /usr/bin/okv /usr/share/bash-completion/completions/okv /usr/share/zsh/site-functions/_okv \
		/usr/share/fish/vendor_completions.d/okv.fish /usr/share/man/man1/okv.1.gz /usr/share/man/man1/okv-run.1.gz; do
		grep -qx "$p" <<<"$files" || fail "$(basename "$rpmf") lacks $p"
	done
	[ "$(grep -c '^/usr/share/man/man1/okv.*\.1\.gz$' <<<"$files")" -eq "$(ls man/*.1 | wc -l)" ] || fail "$(basename "$rpmf"): not one man page per man/*.1"
	[ "$(rpm -qp --qf '%{NAME}' "$rpmf" 2>/dev/null)" = okv ] || fail "$(basename "$rpmf") is not named okv"
done
passed "rpm -qlp: both .rpm list the binary, completions and man pages"

# --- Homebrew formula --------------------------------------------------
rb=$dist/homebrew/Formula/okv.rb
if [ -f "$rb" ]; then
	check "formula version is $version" grep -qx "  version \"$version\"" "$rb"
	mark
	mapfile -t urls < <(sed -n 's/^ *url "\(.*\)"$/\1/p' "$rb")
	mapfile -t sums < <(sed -n 's/^ *sha256 "\(.*\)"$/\1/p' "$rb")
	[ "${#urls[@]}" -eq 4 ] && [ "${#sums[@]}" -eq 4 ] || fail "formula: expected 4 url/sha256 pairs, got ${#urls[@]}/${#sums[@]}"
	want=(darwin_amd64 darwin_arm64 linux_amd64 linux_arm64)
	for i in "${!urls[@]}"; do
		name=${urls[$i]##*/}
		[ "${urls[$i]}" = "$base/$name" ] || fail "formula url ${urls[$i]} is not under $base"
		[ -f "$dist/$name" ] || { fail "formula names $name, which was not built"; continue; }
		[ "${sums[$i]}" = "$(sum_of "$name")" ] || fail "formula sha256 of $name differs from checksums.txt"
		[ "${sums[$i]}" = "$(sha256sum "$dist/$name" | cut -d' ' -f1)" ] || fail "formula sha256 of $name differs from the archive"
		[ "$name" = "okv_${version}_${want[$i]}.tar.gz" ] || fail "formula entry $i is $name, expected okv_${version}_${want[$i]}.tar.gz"
	done
	passed "formula names the 4 macOS/Linux archives with their sha256"
else
	fail "no $rb"
fi

# --- Scoop manifest ----------------------------------------------------
sc=$dist/scoop/okv.json
if [ -f "$sc" ]; then
	check "scoop manifest version is $version" test "$(jq -r .version "$sc")" = "$version"
	mark
	for pair in 64bit:amd64 arm64:arm64; do
		key=${pair%%:*} goarch=${pair#*:}
		name=okv_${version}_windows_${goarch}.zip
		url=$(jq -r --arg k "$key" '.architecture[$k].url' "$sc")
		hash=$(jq -r --arg k "$key" '.architecture[$k].hash' "$sc")
		[ "$url" = "$base/$name" ] || fail "scoop $key url $url, expected $base/$name"
		[ "$hash" = "$(sum_of "$name")" ] && [ "$hash" = "$(sha256sum "$dist/$name" | cut -d' ' -f1)" ] || fail "scoop $key hash does not match $name"
		[ "$(jq -r --arg k "$key" '.architecture[$k].bin[0]' "$sc")" = okv.exe ] || fail "scoop $key bin is not okv.exe"
	done
	passed "scoop manifest names both Windows zips with their sha256"
else
	fail "no $sc"
fi

# --- SBOMs (syft) --------------------------------------------------------
if jq -e '.[] | select(.type == "SBOM")' "$dist/artifacts.json" >/dev/null; then
	mark
	for a in "${shipped[@]}"; do
		case $a in *.tar.gz | *.zip) ;; *) continue ;; esac
		s=$dist/$a.sbom.json
		[ -f "$s" ] || { fail "no SBOM for $a"; continue; }
		jq -e '.spdxVersion and (.packages | map(.name) | index("filippo.io/age"))' "$s" >/dev/null || fail "SBOM of $a is not SPDX or lacks filippo.io/age"
		grep -qE "^[0-9a-f]{64}  $a.sbom.json\$" "$dist/checksums.txt" || fail "SBOM of $a is not in checksums.txt"
	done
	passed "an SPDX SBOM per archive, naming okv's modules, in checksums.txt"
else
	fail "no SBOM in dist/artifacts.json (.goreleaser.yaml's sboms, syft on PATH)"
fi

echo "check-release: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
