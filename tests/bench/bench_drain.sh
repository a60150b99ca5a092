#!/usr/bin/env bash
# shellcheck disable=SC2154 # requests, record, ...: assigned by eval "$(platform stats ...)"
# bench_drain.sh — delivery throughput per platform: a backlog of queued sales drained by
# tillsyncd into a local nginx over HTTPS (HTTP/2), beside curl clients sending the same requests.
#
# Not a test: it prints figures and verdicts, and exits 0 whether or not the targets are met
# (non-zero only if the benchmark itself could not run, or a sale was not stored or delivered).
#
# For each platform (--platform glu|gleantap|givebutter|all; all = those the firmware has):
# Debian's nginx on 127.0.0.1 (TLS, HTTP/2 by ALPN, certificate from tests/mock/make_test_ca.sh)
# answers that platform's endpoints with canned JSON of the seeds' shapes (drain_platforms.py),
# and its access log counts the requests per endpoint. One daemon per platform, one backend:
#
#   warm-up        EMAILS sales, one per customer, delivered with nginx up: every contact is then
#                  in the daemon's contact cache (the figures below are for regulars).
#   (a) tillsyncd  nginx stops; SALES sales (customer i % EMAILS) are stored through the POS
#                  socket; nginx starts and the daemon drains the backlog on its own. Rate =
#                  sales / time from the first to the last request in nginx's log; the end-to-end
#                  figure from nginx's start to `queued == 0` (which adds nginx's start-up and the
#                  daemon's retry backoff, at most retry_max_s 1 s + 0.25 s) is printed too.
#                  The backlog is stored while this daemon runs, so its sales are not in doubt
#                  (only the few in flight when nginx went away are): the drain is the steady
#                  state, and a platform's in-doubt look-ups are counted apart. RESTART=1 restarts
#                  the daemon before the drain instead: the whole backlog is then from an earlier
#                  run, in doubt, and the contact cache empty (what a reboot with a backlog costs).
#   curl clients   the requests a sale with a cached contact costs on that platform (same method,
#                  path, headers, JSON shape), certificate verified:
#     (b) a shell loop, one `curl` process per sale (CURL_SALES, 300)
#     (c) tests/bench/post_noreuse.c: libcurl, a new easy handle per request (FORBID_REUSE,
#         FRESH_CONNECT, no TLS session cache), sequential (NOREUSE_SALES, 2000)
#     (d) one `curl -K` process, sequential, reusing its connection (REUSE_SALES, 2000)
#     (e) one `curl --parallel --parallel-max 8 --http2 -K`: 8 streams at once, as the daemon's
#         max_in_flight (PARALLEL_SALES, 2000)
#
# Targets (issue "delivery throughput"): (a) >= 20 x (b) and (a) >= 3 x (c), in sales per second;
# Givebutter (issue 10): a sale costs at most 2 requests once its contact is cached, in-doubt
# look-ups aside (a count, not a time).
#
# Usage: bash tests/bench/bench_drain.sh [--platform KIND|all]   (as root on Debian 12)
#   env SALES, EMAILS (distinct customers, 100), CURL_SALES, NOREUSE_SALES, REUSE_SALES,
#   PARALLEL_SALES, RESTART=1, BUILD_DIR (build/bench-host), KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/../.."

PLATFORM=all
while [ $# -gt 0 ]; do
    case $1 in
        --platform) PLATFORM=${2:?--platform needs glu, gleantap, givebutter or all}; shift 2 ;;
        --platform=*) PLATFORM=${1#--platform=}; shift ;;
        -h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_drain.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
SALES=${SALES:-10000}
EMAILS=${EMAILS:-100}
CURL_SALES=${CURL_SALES:-300}
NOREUSE_SALES=${NOREUSE_SALES:-2000}
REUSE_SALES=${REUSE_SALES:-2000}
PARALLEL_SALES=${PARALLEL_SALES:-2000}
RESTART=${RESTART:-0}
BUILD_DIR=${BUILD_DIR:-build/bench-host}
DRAIN_TIMEOUT_S=${DRAIN_TIMEOUT_S:-900}
platform() { python3 tests/bench/drain_platforms.py "$@"; }

# The firmware's kinds (the registry) that this bench knows.
built=$(sed -n 's/^set(TILLSYNC_BACKEND_KINDS \(.*\))/\1/p' firmware/backends/CMakeLists.txt)
kinds=()
for k in $(platform kinds); do
    case " $built " in *" $k "*) [ "$PLATFORM" = all ] || [ "$PLATFORM" = "$k" ] && kinds+=("$k") ;; esac
done
if [ ${#kinds[@]} = 0 ]; then
    echo "bench_drain.sh: --platform $PLATFORM: not among this firmware's kinds ($built)" >&2
    exit 2
fi

# ---- what it needs, from Debian's archive --------------------------------------------------
extra=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || extra+=(nginx-light)
command -v curl >/dev/null 2>&1 || extra+=(curl)
bash toolchain/install-deps.sh "${extra[@]}" >/dev/null
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# ---- build ---------------------------------------------------------------------------------
cmake -S . -B "$BUILD_DIR" -DTILLSYNC_BOARD=host-dev -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target tillsyncd tillsyncctl >/dev/null
DAEMON=$BUILD_DIR/firmware/app/tillsyncd
CTL=$BUILD_DIR/firmware/app/tillsyncctl
mkdir -p build/bench
# shellcheck disable=SC2046
gcc -O2 -Wall -Wextra -o build/bench/post_noreuse tests/bench/post_noreuse.c \
    $(pkg-config --cflags --libs libcurl)

# ---- work directory and clean-up -----------------------------------------------------------
WORK=$(mktemp -d /tmp/tillsync-bench-drain.XXXXXX)
DAEMON_PID=
NGINX_PID=
cleanup() {
    local rc=$?
    for pid in $DAEMON_PID $NGINX_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
        echo "work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
minus() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[1]) - float(sys.argv[2])))' "$1" "$2"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=https://127.0.0.1:$PORT
sh tests/mock/make_test_ca.sh "$WORK/tls" >/dev/null
CA=$WORK/tls/ca.pem
temp_paths=
for m in client_body proxy fastcgi uwsgi scgi; do  # only the modules this nginx has
    flag=--http-${m//_/-}-temp-path
    [ "$m" = client_body ] && flag=--http-client-body-temp-path
    if "$NGINX" -V 2>&1 | grep -q -- "$flag"; then
        temp_paths="$temp_paths    ${m}_temp_path $WORK/nginx/${m}_temp;
"
    fi
done
mkdir -p "$WORK/nginx"
NG_CONF=$WORK/nginx/nginx.conf
NG_LOG=$WORK/nginx/access.log
NG_ERR=$WORK/nginx/error.log

# nginx: a private configuration, foreground, one worker, answering KIND's endpoints.
nginx_conf() {
    cat >"$NG_CONF" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $NG_ERR warn;
events { worker_connections 1024; }
http {
$temp_paths
    log_format bench '\$msec \$connection \$connection_requests \$server_protocol '
                     '\$request_method \$uri \$status \$content_length \$ssl_protocol';
    access_log $NG_LOG bench;
    keepalive_requests 100000;
    keepalive_timeout 300s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $WORK/tls/server.pem;
    ssl_certificate_key $WORK/tls/server.key;
    server {
        listen 127.0.0.1:$PORT ssl http2;
        server_name localhost;
$(platform nginx "$1")
    }
}
EOF
    : >"$NG_LOG"
    "$NGINX" -t -q -p "$WORK/nginx" -e "$NG_ERR" -c "$NG_CONF"
}
start_nginx() {
    "$NGINX" -p "$WORK/nginx" -e "$NG_ERR" -c "$NG_CONF" &
    NGINX_PID=$!
}
stop_nginx() {
    kill -TERM "$NGINX_PID"
    wait "$NGINX_PID" || true
    NGINX_PID=
}
wait_nginx() {  # up when a TLS handshake succeeds (any answer, 404 included)
    for _ in $(seq 100); do
        curl -s -o /dev/null --cacert "$CA" "$URL/_bench_up" && return 0
        sleep 0.05
    done
    echo "nginx did not start; error log:" >&2
    cat "$NG_ERR" >&2
    return 1
}
log_lines() { wc -l <"$NG_LOG"; }

start_daemon() {
    "$DAEMON" --config "$CFG" >>"$D/daemon.log" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 200); do
        "$CTL" --config "$CFG" status --json >/dev/null 2>&1 && return 0
        kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$D/daemon.log" >&2; exit 1; }
        sleep 0.05
    done
    echo "tillsyncd did not answer status" >&2
    exit 1
}
stop_daemon() {
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" || true
    DAEMON_PID=
}
status_field() {  # KEY of backends[0]
    "$CTL" --config "$CFG" status --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["backends"][0][sys.argv[1]])' "$1"
}
queued_now() {  # backends[0].queued, without a Python start-up in the timed loop
    "$CTL" --config "$CFG" status --json | grep -o '"queued":[0-9]*' | head -n1 | cut -d: -f2
}
wait_drained() {
    local deadline=$(( $(date +%s) + DRAIN_TIMEOUT_S ))
    while [ "$(queued_now)" != 0 ]; do
        kill -0 "$DAEMON_PID" 2>/dev/null || { echo "tillsyncd died" >&2; cat "$D/daemon.log" >&2; exit 1; }
        [ "$(date +%s)" -lt "$deadline" ] || { echo "drain timed out: $(queued_now) queued" >&2; exit 1; }
        sleep 0.1
    done
}

# One platform, end to end; its figures go to $D/*.json and its table to stdout.
run_platform() {
    local kind=$1 L0 L1 t0 t1 t_a0 t_a1 delivered0 delivered dead n
    D=$WORK/$kind
    CFG=$D/tillsync.json
    mkdir -p "$D"
    echo "== $kind"
    nginx_conf "$kind"
    cat >"$CFG" <<EOF
{
  "terminal_id": "T042",
  "journal": {"driver": "file", "path": "$D/journal.img",
              "size": 16777216, "erase_size": 65536, "program_size": 16},
  "intake": {"pos_socket": "$D/pos.sock"},
  "control_socket": "$D/ctl.sock",
  "backends": [$(platform backend "$kind" "$D" "$URL" "$CA")]
}
EOF
    local load0; load0=$(loadavg)
    start_nginx
    wait_nginx
    start_daemon

    echo "warm-up: $EMAILS sales, one per customer, delivered as they come..."
    L0=$(($(log_lines) + 1))
    platform store "$D/pos.sock" W "$EMAILS" "$EMAILS"
    wait_drained
    eval "$(platform stats "$kind" "$NG_LOG" "$L0" "$(log_lines)" "$D/warm.json")"
    delivered0=$(status_field delivered)
    stop_nginx

    echo "(a) queueing $SALES sales ($EMAILS customers) through the POS socket, API down..."
    t0=$(now)
    platform store "$D/pos.sock" B "$SALES" "$EMAILS"
    t1=$(now)
    n=$(status_field queued)
    [ "$n" = "$SALES" ] || { echo "expected $SALES queued, status says $n" >&2; exit 1; }
    echo "  stored: $SALES sales in $(minus "$t1" "$t0") s; status: queued $n"
    if [ "$RESTART" = 1 ]; then
        echo "  RESTART=1: the daemon restarts: the backlog is from an earlier run (in doubt)"
        stop_daemon
        start_daemon
        delivered0=$(status_field delivered)
    fi

    echo "(a) starting nginx; the daemon drains the backlog..."
    L0=$(($(log_lines) + 1))
    t_a0=$(now)
    start_nginx
    wait_drained
    t_a1=$(now)
    L1=$(log_lines)
    eval "$(platform stats "$kind" "$NG_LOG" "$L0" "$L1" "$D/drain.json")"
    [ "$record" -ge "$SALES" ] || { echo "nginx logged $record records for $SALES sales" >&2; exit 1; }
    delivered=$(( $(status_field delivered) - delivered0 ))
    dead=$(status_field dead_letter)
    if [ "$delivered" != "$SALES" ] || [ "$dead" != 0 ]; then
        echo "status: delivered $delivered, dead_letter $dead (expected $SALES, 0)" >&2
        exit 1
    fi
    stop_daemon
    wait_nginx

    # The curl clients: the requests of sales whose contact is cached.
    platform curl "$kind" "$URL" "$CA" "$CURL_SALES" "$D/curl-b"
    platform curl "$kind" "$URL" "$CA" "$NOREUSE_SALES" "$D/curl-c"
    platform curl "$kind" "$URL" "$CA" "$REUSE_SALES" "$D/curl-d"
    platform curl "$kind" "$URL" "$CA" "$PARALLEL_SALES" "$D/curl-e"

    echo "(b) curl loop: $CURL_SALES sales, one curl process each..."
    L0=$(($(log_lines) + 1))
    t0=$(now)
    for f in "$D"/curl-b/sale/*.cfg; do
        curl -K "$f"
    done
    t1=$(now)
    eval "$(platform stats "$kind" "$NG_LOG" "$L0" "$(log_lines)" "$D/b.json")"
    local b_s; b_s=$(minus "$t1" "$t0")

    echo "(c) libcurl without connection reuse: $NOREUSE_SALES sales..."
    L0=$(($(log_lines) + 1))
    local c_s
    c_s=$(build/bench/post_noreuse "$CA" "$D/curl-c/requests.tsv" | awk '{print $4}')
    eval "$(platform stats "$kind" "$NG_LOG" "$L0" "$(log_lines)" "$D/c.json")"

    echo "(d) one curl process reusing its connection: $REUSE_SALES sales..."
    L0=$(($(log_lines) + 1))
    t0=$(now)
    curl -K "$D/curl-d/all.cfg"
    t1=$(now)
    eval "$(platform stats "$kind" "$NG_LOG" "$L0" "$(log_lines)" "$D/d.json")"
    local d_s; d_s=$(minus "$t1" "$t0")

    echo "(e) curl --parallel --parallel-max 8 --http2: $PARALLEL_SALES sales..."
    L0=$(($(log_lines) + 1))
    t0=$(now)
    curl --no-progress-meter --parallel --parallel-max 8 --http2 -K "$D/curl-e/all.cfg"
    t1=$(now)
    eval "$(platform stats "$kind" "$NG_LOG" "$L0" "$(log_lines)" "$D/e.json")"
    local e_s; e_s=$(minus "$t1" "$t0")
    stop_nginx

    local curl_bad
    curl_bad=$(python3 -c 'import json, sys
print(sum(sum(json.load(open(f))["not_2xx"].values()) for f in sys.argv[1:]))' "$D"/[bcde].json)
    [ "$curl_bad" = 0 ] || { echo "the curl clients got $curl_bad answers not 2xx" >&2; exit 1; }

    cat >"$D/meta.json" <<EOF
{"sales": $SALES, "emails": $EMAILS, "curl_sales": $CURL_SALES, "noreuse_sales": $NOREUSE_SALES,
 "reuse_sales": $REUSE_SALES, "parallel_sales": $PARALLEL_SALES, "restart": $RESTART,
 "b_s": $b_s, "c_s": $c_s, "d_s": $d_s, "e_s": $e_s,
 "e2e_s": $(minus "$t_a1" "$t_a0"), "nginx_start": $t_a0,
 "delivered": $delivered, "dead_letter": $dead,
 "nginx_version": "$("$NGINX" -v 2>&1 | sed 's/.*\///')",
 "load0": "$load0", "load1": "$(loadavg)"}
EOF
    platform report "$kind" "$D"
}

for kind in "${kinds[@]}"; do
    run_platform "$kind"
    echo
done
if [ ${#kinds[@]} -gt 1 ]; then
    python3 - "$WORK" "${kinds[@]}" <<'EOF'
import json, os, sys
work, kinds = sys.argv[1], sys.argv[2:]
print("== summary: sales/s (requests per sale)")
print("%-11s %10s %10s %10s %11s %10s %11s  %s" % ("platform", "(a) drain", "end2end", "(b) loop",
      "(c) noreuse", "(d) reuse", "(e) h2 par.", "(a) req/sale: cached, all"))
for k in kinds:
    with open(os.path.join(work, k, "summary.json")) as f:
        s = json.load(f)
    print("%-11s %10.1f %10.1f %10.1f %11.1f %10.1f %11.1f  %.3f, %.3f (+%d in-doubt look-ups)"
          % (k, s["a"], s["e2e"], s.get("b", 0), s.get("c", 0), s.get("d", 0), s.get("e", 0),
             s["cached"], s["overall"], s["lookups"]))
EOF
fi
