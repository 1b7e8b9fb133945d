#!/usr/bin/env bash
# Benchmark okv's proxy as its users feel it, against a direct connection
# and nginx, on loopback.
#
#   bench/proxy/run.sh                     (make bench-proxy)
#   OKV_BIN=/path/okv OKV_BIN2=/other/okv bench/proxy/run.sh
#
# The okv measured is the real product: ./cmd/okv built here (or OKV_BIN),
# running `okv proxy` on a throwaway vault (identity file backend, a fake
# OPENAI_API_KEY, OKV_OPENAI_BASE_URL at the fake upstream). OKV_BIN2 adds
# a second okv binary as target "okv2", interleaved with the first in the
# same run. nginx does what okv does for the measured requests: it checks
# a bearer token, swaps in the real key and logs each request. The fake
# upstream (fakeupstream) refuses any request without the real key.
#
# Cases (loadgen's doc comment has the details):
#   1. seq     sequential requests to a mock upstream: okv's added median latency
#   2. paced   RATE req/s open loop, upstream answering in DELAY: added p50/p99
#              from the scheduled send, and the direct path's own p99 spread
#   3. sse     STREAMS concurrent event streams of EVENTS events GAP apart:
#              first event, inter-event gaps, streams cut short
#   4. sat     CONNS connections closed loop: req/s and CPU per request vs nginx
#   5. the proxy's peak RSS over case 3, and `okv run --proxy -- true` start-up
#      with a LEDGER_RECORDS-record usage ledger vs an empty one (startup;
#      with OKV_BIN2, also okv2 on the ledger okv wrote, as after an upgrade)
#
# The machine is noisy (two cores shared by the load generator, the
# upstream, the proxies and neighbours): each case runs in ROUNDS rounds
# with the targets interleaved (seq alternates them request by request,
# sse batch by batch, paced and sat in SLICES blocks per target and round;
# the order rotates), and the report gives medians over the rounds and
# each round's difference or ratio. Compare within a run only.
#
# Knobs (environment, defaults in brackets): ROUNDS (3), CASES ("seq paced
# sse sat startup"), SEQ_N (1000 requests per target and round), RATE (200),
# DELAY (300ms), DURATION (5s per target and round, paced and sat), SLICES
# (5), WARMUP (1s per target, paced and sat), STREAMS (100), EVENTS (50),
# GAP (20ms), SSE_BATCHES (3), CONNS (64),
# LEDGER_RECORDS (200000), LEDGER_DAYS (60), STARTUP_RUNS (5 pairs per
# round), POLICY (daily_tokens=1000000000000: a budget, so the proxy counts
# tokens and start-up seeds the day's total; POLICY=none sets no policy at
# all, to measure the proxy without the budget's bookkeeping), BARE (1: the
# target gobare, bareproxy, the floor of a proxy on net/http; 0 leaves it
# out), OKV_BIN, OKV_BIN2, NGINX.
# With the defaults a run takes about 4 minutes (here, with OKV_BIN2 too).
#
# Needs go, nginx (Debian package nginx-light or nginx) and age-keygen
# (Debian package age). Everything listens on 127.0.0.1; everything
# started here is stopped on exit.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
CASES=${CASES:-seq paced sse sat startup}
SEQ_N=${SEQ_N:-1000}
RATE=${RATE:-200}
DELAY=${DELAY:-300ms}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
STREAMS=${STREAMS:-100}
EVENTS=${EVENTS:-50}
GAP=${GAP:-20ms}
SSE_BATCHES=${SSE_BATCHES:-3}
CONNS=${CONNS:-64}
SLICES=${SLICES:-5}
LEDGER_RECORDS=${LEDGER_RECORDS:-200000}
LEDGER_DAYS=${LEDGER_DAYS:-60}
STARTUP_RUNS=${STARTUP_RUNS:-5}
POLICY=${POLICY:-daily_tokens=1000000000000}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
die() {
	echo "bench-proxy: $*" >&2
	exit 1
}
[[ $POLICY == none || $POLICY == *=* ]] || die "POLICY=$POLICY: want KEY=VALUE words (okv policy set) or none"
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x $NGINX ]] || die "nginx not found: apt-get install nginx-light (or set NGINX=/path/to/nginx)"
command -v go >/dev/null || die "go not found"
command -v age-keygen >/dev/null || die "age-keygen not found: apt-get install age"
for b in "${OKV_BIN:-}" "${OKV_BIN2:-}"; do
	[[ -z $b || -x $b ]] || die "$b is not an executable okv"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/okv-bench-proxy.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_lines FILE N: waits (up to 10 s) for FILE to hold N full lines.
wait_lines() {
	local i
	for i in $(seq 1 200); do
		if [[ -s $1 ]] && [[ $(wc -l <"$1") -ge $2 ]]; then
			return 0
		fi
		sleep 0.05
	done
	echo "bench-proxy: no output in $1:" >&2
	cat "$1" "$1.err" >&2 2>/dev/null || true
	return 1
}

# wait_port PORT: waits (up to 10 s) for something to accept on 127.0.0.1:PORT.
wait_port() {
	local i
	for i in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	die "nothing listens on port $1"
}

# random N: N random letters and digits.
random() { head -c 256 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c "$1"; }

echo "bench-proxy: building" >&2
bin=$tmp/bin
mkdir -p "$bin" "$tmp/results"
(cd "$root" && go build -o "$bin/" ./bench/proxy/fakeupstream ./bench/proxy/loadgen ./bench/proxy/bareproxy)
names=(okv)
bins=("${OKV_BIN:-}")
if [[ -z ${bins[0]} ]]; then
	version=$(cd "$root" && git describe --tags --always --dirty 2>/dev/null || echo dev)
	(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/okvault/okv/cmd.Version=$version" -o "$bin/okv" ./cmd/okv)
	bins[0]=$bin/okv
fi
if [[ -n ${OKV_BIN2:-} ]]; then
	names+=(okv2)
	bins+=("$OKV_BIN2")
fi

# The fake key and nginx's token travel in the environment, never in argv.
BENCH_KEY=sk-proj-$(random 48)
NGINX_TOKEN=nginx-$(random 43)
BARE_TOKEN=bare-$(random 43)
export BENCH_KEY NGINX_TOKEN BARE_TOKEN

"$bin/fakeupstream" -events "$EVENTS" -gap "$GAP" >"$tmp/upstream.addr" 2>"$tmp/upstream.addr.err" &
pids+=($!)
wait_lines "$tmp/upstream.addr" 1
up=$(head -n1 "$tmp/upstream.addr")

age-keygen -o "$tmp/identity.txt" 2>/dev/null
export OKV_IDENTITY_FILE=$tmp/identity.txt OKV_OPENAI_BASE_URL=http://$up
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy

# new_vault BIN DIR: a vault at DIR holding the fake key, with $POLICY.
new_vault() {
	OKV_HOME=$2 "$1" init >/dev/null 2>&1 || die "$1 init failed"
	printf '%s' "$BENCH_KEY" | OKV_HOME=$2 "$1" set >/dev/null 2>&1 || die "$1 set failed"
	if [[ $POLICY != none ]]; then
		# shellcheck disable=SC2086 # POLICY is a list of KEY=VALUE words
		OKV_HOME=$2 "$1" policy set $POLICY >/dev/null 2>&1 || die "$1 policy set $POLICY failed"
	fi
}

# start_proxy BIN DIR OUT: runs `okv proxy` on the vault DIR in the
# background; its two lines (OPENAI_BASE_URL=…, OPENAI_API_KEY=…) go to OUT.
# Sets proxy_pid.
start_proxy() {
	OKV_HOME=$2 "$1" proxy >"$3" 2>"$3.err" &
	proxy_pid=$!
	pids+=($proxy_pid)
	wait_lines "$3" 2
}

# stop_proxy: stops the last proxy start_proxy started (okv writes its
# ledger out as it stops).
stop_proxy() {
	kill -TERM "$proxy_pid"
	wait "$proxy_pid" || true
	local kept=() p
	for p in "${pids[@]}"; do
		[[ $p == "$proxy_pid" ]] || kept+=("$p")
	done
	pids=("${kept[@]}")
}

# The okv proxies under test.
targets=("-t" "direct,http://$up/v1/chat/completions,BENCH_KEY")
okv_targets=()
for i in "${!names[@]}"; do
	n=${names[$i]}
	new_vault "${bins[$i]}" "$tmp/vault-$n"
	start_proxy "${bins[$i]}" "$tmp/vault-$n" "$tmp/$n.out"
	base=$(sed -n 's/^OPENAI_BASE_URL=//p' "$tmp/$n.out")
	tok=$(sed -n 's/^OPENAI_API_KEY=//p' "$tmp/$n.out")
	[[ -n $base && -n $tok ]] || die "$n proxy printed no base URL and token"
	export "TOKEN_$n=$tok"
	okv_targets+=("-t" "$n,$base/chat/completions,TOKEN_$n,$proxy_pid")
	echo "bench-proxy: $n = ${bins[$i]} ($("${bins[$i]}" --version 2>/dev/null || echo '?')), okv proxy at $base" >&2
done
targets+=("${okv_targets[@]}")

# The floor of a proxy on net/http (BARE=0 leaves it out): bareproxy does
# what nginx does below with httputil.ReverseProxy and okv's Transport
# settings, and nothing of okv's own. okv minus gobare is okv's own work;
# gobare minus nginx is net/http's and the Go runtime's.
if [[ ${BARE:-1} != 0 ]]; then
	"$bin/bareproxy" -upstream "http://$up" -log "$tmp/bare-access.log" >"$tmp/bare.addr" 2>"$tmp/bare.err" &
	bare_pid=$!
	pids+=($bare_pid)
	wait_lines "$tmp/bare.addr" 1
	targets+=("-t" "gobare,http://$(head -n1 "$tmp/bare.addr")/v1/chat/completions,BARE_TOKEN,$bare_pid")
fi

nport=$("$bin/loadgen" freeport)
mkdir -p "$tmp/nginx"
user_line=""
if [[ $(id -u) -eq 0 ]]; then
	user_line="user $(id -un) $(id -gn);"
fi
(
	umask 077 # the config holds the fake key
	cat >"$tmp/nginx/nginx.conf" <<CONF
$user_line
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log $tmp/nginx/access.log;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    keepalive_requests 1000000;
    upstream fake {
        server $up;
        keepalive 256;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$nport;
        location / {
            if (\$http_authorization != "Bearer $NGINX_TOKEN") {
                return 401;
            }
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer $BENCH_KEY";
            proxy_buffering off;
            proxy_request_buffering off;
        }
    }
}
CONF
)
"$NGINX" -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" -g 'daemon off;' 2>"$tmp/nginx/stderr" &
nginx_pid=$!
pids+=($nginx_pid)
wait_port "$nport"
nginx_pids=$nginx_pid
for p in $(pgrep -P "$nginx_pid" || true); do
	nginx_pids+="+$p"
done
targets+=("-t" "nginx,http://127.0.0.1:$nport/v1/chat/completions,NGINX_TOKEN,$nginx_pids")

has_case() { [[ " $CASES " == *" $1 "* ]]; }
res=$tmp/results
lg=$bin/loadgen
echo "bench-proxy: upstream $up, nginx 127.0.0.1:$nport; $ROUNDS round(s); cases: $CASES" >&2
if has_case seq; then
	"$lg" seq -rounds "$ROUNDS" -dir "$res" "${targets[@]}" -n "$SEQ_N"
fi
if has_case paced; then
	"$lg" paced -rounds "$ROUNDS" -dir "$res" "${targets[@]}" -rate "$RATE" -delay "$DELAY" -d "$DURATION" -slices "$SLICES" -warmup "$WARMUP"
fi
if has_case sse; then
	"$lg" sse -rounds "$ROUNDS" -dir "$res" "${targets[@]}" -streams "$STREAMS" -events "$EVENTS" -batches "$SSE_BATCHES" -stagger "$GAP"
fi
if has_case sat; then
	"$lg" sat -rounds "$ROUNDS" -dir "$res" "${targets[@]}" -c "$CONNS" -d "$DURATION" -slices "$SLICES" -warmup "$WARMUP" -hz "$(getconf CLK_TCK)" -upstream "http://$up"
fi
# record_requests BIN VAULT: okv's proxy on VAULT records a few requests
# to the fake upstream in its usage ledger, and stops.
record_requests() {
	local out=$tmp/record.$RANDOM
	start_proxy "$1" "$2" "$out"
	TOKEN_record=$(sed -n 's/^OPENAI_API_KEY=//p' "$out")
	export TOKEN_record
	mkdir -p "$out.res"
	"$lg" seq -rounds 1 -dir "$out.res" -n 5 -warmup 0 \
		-t "record,$(sed -n 's/^OPENAI_BASE_URL=//p' "$out")/chat/completions,TOKEN_record" 2>/dev/null
	"$lg" report -dir "$out.res" >/dev/null || die "requests through $1 proxy on $2 failed"
	stop_proxy
}

if has_case startup; then
	startup=()
	for i in "${!names[@]}"; do
		n=${names[$i]} b=${bins[$i]}
		new_vault "$b" "$tmp/start-$n-empty"
		# The fixture copies a record this binary wrote, in its layout;
		# then okv records a few requests on top of it, so that whatever
		# it keeps besides the records (day totals, offsets) is its own.
		new_vault "$b" "$tmp/start-$n-probe"
		record_requests "$b" "$tmp/start-$n-probe"
		new_vault "$b" "$tmp/start-$n-ledger"
		"$lg" ledger -from "$tmp/start-$n-probe" -dir "$tmp/start-$n-ledger" -n "$LEDGER_RECORDS" -days "$LEDGER_DAYS" 2>&1 |
			sed "s|$tmp/start-$n-ledger|$n's ledger vault|" | tee -a "$tmp/notes" >&2
		record_requests "$b" "$tmp/start-$n-ledger"
		startup+=("-s" "$n=$b:$tmp/start-$n-empty:$tmp/start-$n-ledger")
	done
	if [[ -n ${OKV_BIN2:-} ]]; then
		# okv2 on the ledger okv wrote: an upgrade, when okv is the older
		# one (its first run is reported apart). On a copy: a newer okv
		# may upgrade the vault's files, which the older one then cannot
		# read for its own runs.
		cp -a "$tmp/start-okv-ledger" "$tmp/start-okv2-upgrade"
		startup+=("-s" "okv2-on-okv-ledger=$OKV_BIN2:$tmp/start-okv2-empty:$tmp/start-okv2-upgrade")
	fi
	"$lg" startup -rounds "$ROUNDS" -dir "$res" -runs "$STARTUP_RUNS" "${startup[@]}"
fi

echo
for i in "${!names[@]}"; do
	echo "${names[$i]}: ${bins[$i]} ($("${bins[$i]}" --version 2>/dev/null || echo '?'))"
done
status=0
"$lg" report -dir "$res" || status=$?
[[ -s $tmp/notes ]] && sed 's/^loadgen: /   /' "$tmp/notes"
for n in "${names[@]}"; do
	recs=$(find "$tmp/vault-$n" -name '*.jsonl' ! -name audit.jsonl -exec cat {} + | wc -l)
	echo "usage records written by $n's proxy: $recs"
done
echo "policy: $POLICY"
echo "machine: $(nproc) cores (shared, noisy: compare within a run), $(uname -sr), $(go version | awk '{print $3}'), $("$NGINX" -v 2>&1 | sed 's/.*: //')"
exit "$status"
