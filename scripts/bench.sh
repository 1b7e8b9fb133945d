#!/usr/bin/env bash
# make bench: the cost of `okv run` against baselines measured in the same
# run (the machine is noisy; compare ratios and differences, not absolutes).
#
#   1. bare `true`
#   2. okv run -- true, identity file         vs  sh -c 'K=$(age -d -i id f.age) exec true'
#   3. okv run -- true, keychain (Secret Service) vs  secret-tool lookup of the same item
#   4. peak RSS of okv run (ru_maxrss covers okv before it execs the child)
#
# Needs hyperfine, age, secret-tool, dbus-daemon and gnome-keyring-daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in hyperfine age age-keygen secret-tool dbus-run-session gnome-keyring-daemon python3; do
  command -v "$t" >/dev/null || { echo "bench: $t is missing (apt-get install hyperfine age libsecret-tools dbus gnome-keyring)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/okv" ./cmd/okv
export OKV="$work/okv" WORK="$work"

cat > "$work/inner.sh" <<'INNER'
set -euo pipefail
export XDG_DATA_HOME=$WORK/data HOME=$WORK/home
mkdir -p "$XDG_DATA_HOME" "$HOME"
printf 'bench' | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null
# wait for the login collection
for i in $(seq 100); do secret-tool search --all nothing here >/dev/null 2>&1 && break; sleep 0.05; done
KEY=sk-proj-$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 48)

# Identity-file vault, and the same identity for the age baseline.
age-keygen -o "$WORK/id.txt" 2>/dev/null
OKV_HOME=$WORK/vfile OKV_IDENTITY_FILE=$WORK/id.txt "$OKV" init 2>/dev/null
printf '%s' "$KEY" | OKV_HOME=$WORK/vfile OKV_IDENTITY_FILE=$WORK/id.txt "$OKV" set 2>/dev/null
printf '%s' "$KEY" | age -r "$(age-keygen -y "$WORK/id.txt")" -a -o "$WORK/f.age"

# Keychain vault.
OKV_HOME=$WORK/vkey "$OKV" init 2>/dev/null
printf '%s' "$KEY" | OKV_HOME=$WORK/vkey "$OKV" set 2>/dev/null
VID=$(sed -n 's/^vault_id = "\(.*\)"/\1/p' "$WORK/vkey/config.toml")
export VID

hyperfine -N --warmup 20 --runs 300 --export-json "$WORK/h1.json" \
  -n 'true' 'true' \
  -n 'age -d (identity file)' "sh -c 'K=\$(age -d -i $WORK/id.txt $WORK/f.age) exec true'" \
  -n 'okv run (identity file)' "env OKV_HOME=$WORK/vfile OKV_IDENTITY_FILE=$WORK/id.txt $OKV run -- true" \
  -n 'secret-tool lookup' "secret-tool lookup service okv username $VID" \
  -n 'okv run (keychain)' "env OKV_HOME=$WORK/vkey $OKV run -- true" >/dev/null

python3 - "$WORK/h1.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ms = lambda n: r[n]["mean"] * 1000
med = lambda n: r[n]["median"] * 1000
print("%-26s %9s %9s" % ("command", "mean ms", "median"))
for n in r:
    print("%-26s %9.2f %9.2f" % (n, ms(n), med(n)))
print()
d1 = med("okv run (identity file)") - med("age -d (identity file)")
d2 = med("okv run (keychain)") - med("secret-tool lookup")
print("okv run (identity file) - age -d baseline: %+.2f ms (goal <= +1.5 ms), ratio %.2fx" % (d1, med("okv run (identity file)") / med("age -d (identity file)")))
print("okv run (keychain) - secret-tool lookup:   %+.2f ms (goal <= +3 ms), ratio %.2fx" % (d2, med("okv run (keychain)") / med("secret-tool lookup")))
PY

python3 - <<'PY'
import os, resource, subprocess
env = dict(os.environ, OKV_HOME=os.environ["WORK"] + "/vkey")
peak = 0
for _ in range(20):
    subprocess.run([os.environ["OKV"], "run", "--", "true"], env=env, check=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
subprocess.run(["true"])
print("peak RSS of okv run (keychain, max over 20 runs): %.1f MiB (goal < 20 MiB)" % (peak / 1024))
PY
INNER
dbus-run-session -- bash "$work/inner.sh"
