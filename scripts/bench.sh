#!/usr/bin/env bash
# make bench: `okv run -- true` against its floor, bench/floor (a Go program
# that reads the identity, decrypts the profile with filippo.io/age and
# execs: nothing else), per backend (identity file; keychain through a
# private gnome-keyring on a private D-Bus) and per profile size (1, 100,
# 1000 secrets), and the agent path ('okv unlock' first; a vault of each
# backend, 1 secret) against the identity-file floor and against the agent
# floor (bench/floor -agent: the same agent asked, nothing else).
#
# The machine may be noisy: every round times BENCH_RUNS pairs of runs per
# (backend, size), okv and the floor (and for the agent path the agent
# floor) one after the other in a random order,
# so that a drift in the machine's load lands on both sides of a pair
# alike (hyperfine runs each command in one block, and has no interleaving
# of its own). A round's figures are the medians of its okv runs, of its
# floor runs and of its pairs' okv - floor differences; the report is
# min/median/max over rounds, and the goals are judged on the median of
# the rounds. Then peak RSS (ru_maxrss of the process, which on Linux
# survives the exec into the child) and the disk-waiting system calls
# (fsync, fdatasync, sync_file_range) on okv run's path.
#
#   BENCH_ROUNDS=10 BENCH_RUNS=30 make bench
#
# Needs strace, dbus-daemon, gnome-keyring-daemon, secret-tool
# python3 and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in strace age-keygen /usr/bin/time secret-tool dbus-run-session gnome-keyring-daemon python3; do
  command -v "$t" >/dev/null || { echo "bench: $t is missing (apt-get install strace age libsecret-tools dbus gnome-keyring python3 time)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/okv" ./cmd/okv
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/floor" ./bench/floor
export OKV="$work/okv" FLOOR="$work/floor" WORK="$work"
export ROUNDS=${BENCH_ROUNDS:-10} RUNS=${BENCH_RUNS:-30}

# Everything under $work, the D-Bus session's daemons included (an
# activated Secret Service reads HOME and XDG_* when the bus starts it):
# never the real keyring or vault.
export HOME=$work/home XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config XDG_CACHE_HOME=$work/cache XDG_RUNTIME_DIR=$work/run
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
unset OKV_HOME OKV_IDENTITY_FILE OKV_PROFILE

cat > "$work/inner.sh" <<'INNER'
set -euo pipefail
mkdir -p "$WORK/cwd"
cd "$WORK/cwd"
printf 'bench' | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null
# wait for the login collection
for i in $(seq 100); do secret-tool search --all nothing here >/dev/null 2>&1 && break; sleep 0.05; done
age-keygen -o "$WORK/id.txt" 2>/dev/null
for n in 1 100 1000; do
  python3 - "$n" > "$WORK/s$n.env" <<'PY'
import os, sys, base64
for i in range(int(sys.argv[1])):
    name = "OPENAI_API_KEY" if i == 0 else "KEY_%04d" % i
    print("%s=sk-proj-%s" % (name, base64.b32encode(os.urandom(30)).decode().lower()))
PY
  OKV_HOME=$WORK/vfile$n OKV_IDENTITY_FILE=$WORK/id.txt "$OKV" init >/dev/null 2>&1
  OKV_HOME=$WORK/vfile$n OKV_IDENTITY_FILE=$WORK/id.txt "$OKV" import "$WORK/s$n.env" >/dev/null 2>&1
  OKV_HOME=$WORK/vkey$n "$OKV" init >/dev/null 2>&1
  OKV_HOME=$WORK/vkey$n "$OKV" import "$WORK/s$n.env" >/dev/null 2>&1
  test "$(OKV_HOME=$WORK/vkey$n "$OKV" run -- sh -c 'env | grep -c "^\(OPENAI_API_KEY\|KEY_\)"')" = "$n"
done
# The agent path: a vault of each backend whose identity 'okv unlock'
# handed to the agent (its socket in $XDG_RUNTIME_DIR/okv), run without an
# identity file. The file vault cannot open without the agent, and the
# keychain vault's item is removed after the unlock: a run that succeeds
# took its identity from the agent.
OKV_HOME=$WORK/vafile OKV_IDENTITY_FILE=$WORK/id.txt "$OKV" init >/dev/null 2>&1
OKV_HOME=$WORK/vafile OKV_IDENTITY_FILE=$WORK/id.txt "$OKV" import "$WORK/s1.env" >/dev/null 2>&1
OKV_HOME=$WORK/vafile OKV_IDENTITY_FILE=$WORK/id.txt "$OKV" unlock --for 8h >/dev/null 2>&1
OKV_HOME=$WORK/vakey "$OKV" init >/dev/null 2>&1
OKV_HOME=$WORK/vakey "$OKV" import "$WORK/s1.env" >/dev/null 2>&1
OKV_HOME=$WORK/vakey "$OKV" unlock --for 8h >/dev/null 2>&1
secret-tool clear service okv username "$(sed -n 's/^vault_id *= *"\(.*\)"/\1/p' "$WORK/vakey/config.toml")"
for v in vafile vakey; do
  OKV_HOME=$WORK/$v "$OKV" run -- true || { echo "bench: the agent does not serve $v" >&2; exit 1; }
done
# A vault whose secret is overdue: its first run of the day writes the
# reminder's bookkeeping (state.json) before the exec.
OKV_HOME=$WORK/vdue OKV_IDENTITY_FILE=$WORK/id.txt "$OKV" init >/dev/null 2>&1
OKV_HOME=$WORK/vdue OKV_IDENTITY_FILE=$WORK/id.txt "$OKV" import "$WORK/s1.env" >/dev/null 2>&1
OKV_HOME=$WORK/vdue OKV_IDENTITY_FILE=$WORK/id.txt "$OKV" policy set max_age=1s >/dev/null 2>&1
sleep 1.1
python3 "$WORK/report.py"
OKV_HOME=$WORK/vakey "$OKV" lock >/dev/null 2>&1 || true
OKV_HOME=$WORK/vafile "$OKV" lock >/dev/null 2>&1 || true
INNER

cat > "$work/report.py" <<'PY'
import os, random, shutil, statistics, subprocess, sys, time

W, OKV, FLOOR = os.environ["WORK"], os.environ["OKV"], os.environ["FLOOR"]
ROUNDS, RUNS = int(os.environ["ROUNDS"]), int(os.environ["RUNS"])
SIZES = [1, 100, 1000]

def vid(n, dir=None):
    for l in open("%s/%s/config.toml" % (W, dir or "vkey%d" % n)):
        if l.startswith("vault_id"):
            return l.split('"')[1]

def cmds(backend, n):
    if backend == "file":
        okv = "env OKV_HOME=%s/vfile%d OKV_IDENTITY_FILE=%s/id.txt %s run -- true" % (W, n, W, OKV)
        floor = "env OKV_HOME=%s/vfile%d %s -identity %s/id.txt %s/vfile%d/profiles/dev.age -- true" % (W, n, FLOOR, W, W, n)
    elif backend == "keychain":
        okv = "env OKV_HOME=%s/vkey%d %s run -- true" % (W, n, OKV)
        floor = "env OKV_HOME=%s/vkey%d %s -keychain %s %s/vkey%d/profiles/dev.age -- true" % (W, n, FLOOR, vid(n), W, n)
    else:
        # The agent path (agent-file, agent-keychain), against the
        # identity-file floor: the identity comes from the agent's socket.
        # A third command, the agent floor, asks the same agent for the
        # identity and does nothing else: what any agent's client pays.
        va = "va" + backend[len("agent-"):].replace("keychain", "key")
        okv = "env OKV_HOME=%s/%s %s run -- true" % (W, va, OKV)
        floor = "env OKV_HOME=%s/vfile%d %s -identity %s/id.txt %s/vfile%d/profiles/dev.age -- true" % (W, n, FLOOR, W, W, n)
        afloor = "env OKV_HOME=%s/%s %s -agent %s %s/%s/profiles/dev.age -- true" % (W, va, FLOOR, vid(n, va), W, va)
        return okv, floor, afloor
    # All through env(1), so that its exec is on every side.
    return okv, floor

CASES = [(b, n) for b in ("file", "keychain") for n in SIZES] + [("agent-file", 1), ("agent-keychain", 1)]
devnull = os.open(os.devnull, os.O_RDWR)
QUIET = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]

def timed(argv):
    # Wall time of one run, from the spawn to the reaped exit, as
    # hyperfine -N measures it; a failed run stops the bench.
    t = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=QUIET)
    _, status = os.waitpid(pid, 0)
    d = (time.perf_counter_ns() - t) / 1e6
    if status != 0:
        sys.exit("bench: %s failed (wait status %d)" % (" ".join(argv), status))
    return d

def argv(cmd):
    a = cmd.split()
    return [shutil.which(a[0])] + a[1:]

res = {c: {"okv": [], "floor": [], "diff": [], "afloor": [], "adiff": []} for c in CASES}
for r in range(ROUNDS):
    for c in CASES:
        named = list(zip(("okv", "floor", "afloor"), (argv(x) for x in cmds(*c))))
        for _ in range(3):  # warm-up
            for _, a in named:
                timed(a)
        runs = {name: [] for name, _ in named}
        diffs = {"diff": [], "adiff": []}
        for _ in range(RUNS):
            random.shuffle(named)
            t = {name: timed(a) for name, a in named}
            for k in t:
                runs[k].append(t[k])
            diffs["diff"].append(t["okv"] - t["floor"])
            if "afloor" in t:
                diffs["adiff"].append(t["okv"] - t["afloor"])
        for k in runs:
            res[c][k].append(statistics.median(runs[k]))
        for k in diffs:
            if diffs[k]:
                res[c][k].append(statistics.median(diffs[k]))
    print("round %d/%d done" % (r + 1, ROUNDS), file=sys.stderr)

mmm = lambda xs: (min(xs), statistics.median(xs), max(xs))
print("okv run -- true against bench/floor: %d rounds of %d okv/floor pairs in random order, medians in ms (min/median/max over rounds)" % (ROUNDS, RUNS))
print("%-14s %7s  %-20s %-20s %-20s" % ("backend", "secrets", "floor", "okv run", "okv - floor"))
for c in CASES:
    f = lambda k: "%5.2f %5.2f %6.2f" % mmm(res[c][k])
    print("%-14s %7d  %-20s %-20s %-20s" % (c[0], c[1], f("floor"), f("okv"), f("diff")))
print("the agent path against the agent floor (bench/floor -agent: the same agent asked, nothing else):")
for c in CASES:
    if res[c]["afloor"]:
        f = lambda k: "%5.2f %5.2f %6.2f" % mmm(res[c][k])
        print("%-14s %7d  %-20s %-20s %-20s" % (c[0], c[1], f("afloor"), f("okv"), f("adiff")))
print()

ok = True
def goal(what, good):
    global ok
    ok &= good
    print("  %-4s %s" % ("ok" if good else "MISS", what))

med = lambda c, k: statistics.median(res[c][k])
print("goals (median of rounds):")
for b in ("file", "keychain"):
    d = med((b, 1), "diff")
    goal("%s, 1 secret: okv - floor = %+.2f ms (<= +1.5 ms)" % (b, d), d <= 1.5)
    okv_per = (med((b, 1000), "okv") - med((b, 1), "okv")) / 999 * 1000
    floor_per = (med((b, 1000), "floor") - med((b, 1), "floor")) / 999 * 1000
    goal("%s: cost per secret %.1f us, floor's %.1f us (<= 2x)" % (b, okv_per, floor_per), okv_per <= 2 * max(floor_per, 0.1))
    d = med((b, 1000), "diff")
    goal("%s, 1000 secrets: okv - floor = %+.2f ms (<= +10 ms)" % (b, d), d <= 10)
for b in ("agent-file", "agent-keychain"):
    d = med((b, 1), "diff")
    goal("%s, 1 secret: okv - identity-file floor = %+.2f ms (<= +1.5 ms)" % (b, d), d <= 1.5)

def peak(cmd):
    # GNU time forks a small C process and execs cmd: its %M is the
    # process's ru_maxrss, okv's before the exec included.
    best = 0
    for _ in range(10):
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", W + "/rss"] + cmd, check=True)
        best = max(best, int(open(W + "/rss").read().split()[-1]))
    return best / 1024

print("\npeak RSS (/usr/bin/time %M, max of 10 runs, MiB):")
for c in [("file", 1), ("keychain", 1), ("file", 1000), ("keychain", 1000)]:
    okv, floor = cmds(*c)
    o, f = peak(okv.split()), peak(floor.split())
    line = "%s, %d secret(s): okv %.1f, floor %.1f" % (c[0], c[1], o, f)
    if c[1] == 1:
        goal(line + " (okv <= 8 MiB)", o <= 8)
    else:
        print("       " + line)

print("\ndisk-waiting system calls on okv run's path (strace -f):")
for b in ("file", "keychain"):
    okv, _ = cmds(b, 1)
    out = subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,sync_file_range,syncfs,sync", "-o", W + "/st"] + okv.split(), check=True)
    n = sum(1 for l in open(W + "/st") if "sync" in l and "exited" not in l)
    goal("%s: %d fsync-like calls before exec (<= 1)" % (b, n), n <= 1)
due = "env OKV_HOME=%s/vdue OKV_IDENTITY_FILE=%s/id.txt %s run -- true" % (W, W, OKV)
subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,sync_file_range,syncfs,sync", "-o", W + "/st"] + due.split(), check=True, stderr=subprocess.DEVNULL)
n = sum(1 for l in open(W + "/st") if "sync" in l and "exited" not in l)
goal("file, overdue secret, the day's first run (reminder written): %d fsync-like calls before exec (<= 1)" % n, n <= 1)
print("\nall goals met" if ok else "\nsome goals missed (the machine's noise is in the min/max columns)")
PY
dbus-run-session -- bash "$work/inner.sh"
