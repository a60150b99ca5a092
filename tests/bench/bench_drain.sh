#!/usr/bin/env bash
# shellcheck disable=SC2154 # requests, connections, ...: assigned by eval "$(log_stats ...)"
# bench_drain.sh — delivery throughput: a backlog of queued sales drained to a local TLS server.
#
# Not a test: it prints figures and the verdicts against the targets, and exits 0 whether or not
# the targets are met (non-zero only if the benchmark itself could not run or lost a sale).
#
# The server is Debian's nginx on 127.0.0.1 (TLS, HTTP/2 offered by ALPN, certificate from
# tests/mock/make_test_ca.sh) answering every request `201 {"id":1001}`, so Glu's POST /contacts
# step gets its contact id. Three clients, each measured on its own:
#
#   (a) tillsyncd  SALES sales (default 10,000) are stored through the POS socket while nginx is
#                  down, then nginx is started and the daemon drains the backlog on its own
#                  (POST /contacts + POST /activities per sale). Rate = sales / time from the
#                  first to the last request in nginx's log; the end-to-end figure from nginx's
#                  start to `queued == 0` (which includes the daemon's retry backoff, at most
#                  retry_max_s 1 s + 0.25 s) is printed too.
#   (b) curl loop  a shell loop running one `curl` process per sale (CURL_SALES, default 300):
#                  one POST /activities each, same JSON shape and size, --cacert verification.
#   (c) no reuse   tests/bench/post_noreuse.c (libcurl, a new easy handle per request with
#                  FORBID_REUSE + FRESH_CONNECT, no TLS session cache), sequential, one
#                  POST /activities per sale (NOREUSE_SALES, default 2000).
#
# Targets (issue "delivery throughput"): (a) >= 20 x (b) and (a) >= 3 x (c), in sales per second.
#
# Usage: bash tests/bench/bench_drain.sh     (as root on Debian 12: installs what it needs)
#   env SALES, CURL_SALES, NOREUSE_SALES, EMAILS (distinct customer emails, default 100),
#   BUILD_DIR (default build/bench-host), KEEP=1 to keep the work directory.
set -euo pipefail
cd "$(dirname "$0")/../.."

SALES=${SALES:-10000}
CURL_SALES=${CURL_SALES:-300}
NOREUSE_SALES=${NOREUSE_SALES:-2000}
EMAILS=${EMAILS:-100}
BUILD_DIR=${BUILD_DIR:-build/bench-host}
DRAIN_TIMEOUT_S=${DRAIN_TIMEOUT_S:-900}

# ---- what it needs, from Debian's archive --------------------------------------------------
extra=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || extra+=(nginx-light)
command -v curl >/dev/null 2>&1 || extra+=(curl)
bash toolchain/install-deps.sh "${extra[@]}" >/dev/null
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# ---- build ---------------------------------------------------------------------------------
cmake -S . -B "$BUILD_DIR" -DTILLSYNC_BOARD=host-dev -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target tillsyncd tillsyncctl >/dev/null
DAEMON=$BUILD_DIR/firmware/tillsyncd
CTL=$BUILD_DIR/firmware/tillsyncctl
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
fmt() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[1]) - float(sys.argv[2])))' "$2" "$1"; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=https://127.0.0.1:$PORT
sh tests/mock/make_test_ca.sh "$WORK/tls"
CA=$WORK/tls/ca.pem
printf 'bench-key-5d1e\n' >"$WORK/glu.key"
chmod 600 "$WORK/glu.key"

# ---- nginx: a private configuration, foreground, everything under $WORK/nginx ---------------
NG=$WORK/nginx
mkdir -p "$NG"
temp_paths=
for m in client_body proxy fastcgi uwsgi scgi; do  # only the modules this nginx has
    flag=--http-${m//_/-}-temp-path
    [ "$m" = client_body ] && flag=--http-client-body-temp-path
    if "$NGINX" -V 2>&1 | grep -q -- "$flag"; then
        temp_paths="$temp_paths    ${m}_temp_path $NG/${m}_temp;
"
    fi
done
cat >"$NG/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 1024; }
http {
$temp_paths
    log_format bench '\$msec \$connection \$connection_requests \$server_protocol '
                     '\$request_method \$uri \$status \$content_length \$ssl_protocol';
    access_log $NG/access.log bench;
    keepalive_requests 100000;
    keepalive_timeout 300s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $WORK/tls/server.pem;
    ssl_certificate_key $WORK/tls/server.key;
    server {
        listen 127.0.0.1:$PORT ssl http2;
        server_name localhost;
        location / {
            default_type application/json;
            return 201 '{"id":1001}';
        }
    }
}
EOF
: >"$NG/access.log"
"$NGINX" -t -q -p "$NG" -e "$NG/error.log" -c "$NG/nginx.conf"

start_nginx() {
    "$NGINX" -p "$NG" -e "$NG/error.log" -c "$NG/nginx.conf" &
    NGINX_PID=$!
}
wait_nginx() {
    local i
    for i in $(seq 100); do
        curl -s -o /dev/null --cacert "$CA" "$URL/" && return 0
        sleep 0.05
    done
    echo "nginx did not start; error log:" >&2
    cat "$NG/error.log" >&2
    return 1
}
log_lines() { wc -l <"$NG/access.log"; }

# Summarises access-log lines FROM..TO (1-based, inclusive) as shell assignments.
log_stats() {
    python3 - "$NG/access.log" "$1" "$2" <<'EOF'
import sys
path, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path) as f:
    rows = [l.split() for l in f.read().splitlines()[lo - 1:hi]]
posts = [r for r in rows if r[4] == "POST"]
acts = [r for r in posts if r[5] == "/activities"]
t = [float(r[0]) for r in posts] or [0.0]
lens = [int(r[7]) for r in acts if r[7].isdigit()]
print("requests=%d" % len(posts))
print("activities=%d" % len(acts))
print("contacts=%d" % sum(1 for r in posts if r[5] == "/contacts"))
print("not201=%d" % sum(1 for r in posts if r[6] != "201"))
print("connections=%d" % len({r[1] for r in posts}))
print("protocols='%s'" % ",".join(sorted({r[3] for r in posts})))
print("tls='%s'" % ",".join(sorted({r[8] for r in posts})))
print("first=%.3f" % min(t))
print("last=%.3f" % max(t))
print("act_len=%d" % (round(sum(lens) / len(lens)) if lens else 0))
EOF
}

# ---- (a) tillsyncd ---------------------------------------------------------------------------
CFG=$WORK/tillsync.json
cat >"$CFG" <<EOF
{
  "terminal_id": "T042",
  "journal": {"driver": "file", "path": "$WORK/journal.img",
              "size": 16777216, "erase_size": 65536, "program_size": 16},
  "intake": {"pos_socket": "$WORK/pos.sock"},
  "control_socket": "$WORK/ctl.sock",
  "backends": [{"name": "glu", "kind": "glu", "base_url": "$URL",
                "api_key_file": "$WORK/glu.key", "ca_file": "$CA", "source": "till",
                "retry_max_s": 1}]
}
EOF
"$DAEMON" --config "$CFG" >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for i in $(seq 200); do
    "$CTL" --config "$CFG" status --json >/dev/null 2>&1 && break
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.log" >&2; exit 1; }
    sleep 0.05
done

status_field() {  # KEY of backends[0]
    "$CTL" --config "$CFG" status --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["backends"][0][sys.argv[1]])' "$1"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD0=$(loadavg)
echo "queueing $SALES sales ($EMAILS distinct customer emails) through the POS socket, API down..."
t_q0=$(now)
python3 - "$WORK/pos.sock" "$SALES" "$EMAILS" <<'EOF'
import sys
sys.path.insert(0, "tests/integration")
from harness import Pos
sock, n, emails = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pos = Pos(sock)
for i in range(n):
    sale = {"event": "sale.completed", "txn": "B%06d" % i,
            "at": "2026-04-%02dT%02d:%02d:%02dZ" % (1 + i % 28, i % 24, i % 60, (i * 7) % 60),
            "total": 100 + (i * 7919) % 19900, "currency": "GBP",
            "customer": {"email": "customer%03d@shop.example" % (i % emails)}}
    r = pos.request(sale)
    if not r.get("ok") or r.get("duplicate"):
        sys.exit("sale %d not stored: %r" % (i, r))
pos.close()
EOF
t_q1=$(now)
queued=$(status_field queued)
[ "$queued" = "$SALES" ] || { echo "expected $SALES queued, status says $queued" >&2; exit 1; }
echo "  stored: $SALES sales in $(fmt "$t_q0" "$t_q1") s; status: queued $queued"

echo "starting nginx on $URL; the daemon drains the backlog..."
L0=$(($(log_lines) + 1))
t_a0=$(now)
start_nginx
deadline=$(( $(date +%s) + DRAIN_TIMEOUT_S ))
queued_now() {  # backends[0].queued, without a Python start-up in the timed loop
    "$CTL" --config "$CFG" status --json | grep -o '"queued":[0-9]*' | head -n1 | cut -d: -f2
}
while [ "$(queued_now)" != 0 ]; do
    kill -0 "$DAEMON_PID" 2>/dev/null || { echo "tillsyncd died" >&2; cat "$WORK/daemon.log" >&2; exit 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { echo "drain timed out: $(queued_now) queued" >&2; exit 1; }
    sleep 0.1
done
t_a1=$(now)
L1=$(log_lines)
eval "$(log_stats "$L0" "$L1")"
a_req=$requests a_act=$activities a_con=$contacts a_conn=$connections a_proto=$protocols
a_len=$act_len a_bad=$not201 a_tls=$tls
a_drain=$(python3 -c "print('%.3f' % ($last - $first))")
a_wait=$(python3 -c "print('%.3f' % ($first - $t_a0))")
a_e2e=$(fmt "$t_a0" "$t_a1")
[ "$a_act" -ge "$SALES" ] || { echo "nginx logged $a_act POST /activities for $SALES sales" >&2; exit 1; }
delivered=$(status_field delivered)
dead=$(status_field dead_letter)
if [ "$delivered" != "$SALES" ] || [ "$dead" != 0 ]; then
    echo "status: delivered $delivered, dead_letter $dead (expected $SALES, 0)" >&2
    exit 1
fi
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
DAEMON_PID=
wait_nginx

# ---- (b) a shell loop, one curl process per sale --------------------------------------------
echo "(b) curl loop: $CURL_SALES sales, one curl process each..."
L0=$(($(log_lines) + 1))
t_b0=$(now)
for ((i = 0; i < CURL_SALES; i++)); do
    body=$(printf '{"contact":1001,"type":"Purchase","source":"till","happenedAt":"2026-04-07T10:%02d:%02dZ","spend":%d,"currencyCode":"GBP","externalReference":"T042:C%06d"}' \
           $(( (i / 60) % 60 )) $(( i % 60 )) $(( 100 + (i * 7919) % 19900 )) "$i")
    curl -sS --fail -o /dev/null --cacert "$CA" -H 'Content-Type: application/json' \
         -H 'Accept: application/json' -H 'x-api-key: bench-key-5d1e' \
         --data-binary "$body" "$URL/activities"
done
t_b1=$(now)
L1=$(log_lines)
eval "$(log_stats "$L0" "$L1")"
b_req=$requests b_conn=$connections b_proto=$protocols b_len=$act_len b_bad=$not201 b_tls=$tls
b_el=$(fmt "$t_b0" "$t_b1")

# ---- (c) libcurl, no connection reuse -------------------------------------------------------
echo "(c) libcurl without connection reuse: $NOREUSE_SALES sales..."
L0=$(($(log_lines) + 1))
out=$(build/bench/post_noreuse "$URL/activities" "$CA" "$WORK/glu.key" "$NOREUSE_SALES")
L1=$(log_lines)
eval "$(log_stats "$L0" "$L1")"
c_req=$requests c_conn=$connections c_proto=$protocols c_len=$act_len c_bad=$not201 c_tls=$tls
c_el=$(echo "$out" | awk '{print $4}')

LOAD1=$(loadavg)

# ---- report ---------------------------------------------------------------------------------
python3 - <<EOF
sales, cs, ns = $SALES, $CURL_SALES, $NOREUSE_SALES
a, a_e2e = sales / $a_drain, sales / $a_e2e
b, c = cs / $b_el, ns / $c_el
print()
print("delivery throughput: 127.0.0.1 nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), %s (test CA, verified), "
      "answering 201 {\"id\":1001}" % ",".join(sorted({"$a_tls", "$b_tls", "$c_tls"})))
print("%-28s %7s %9s %9s %9s %6s %9s %9s" % ("client", "sales", "seconds", "sales/s", "req/sale",
                                              "conns", "protocol", "act.body"))
rows = [("(a) tillsyncd (drain)", sales, $a_drain, a, $a_req / sales, $a_conn, "$a_proto", $a_len),
        ("(b) curl loop", cs, $b_el, b, $b_req / cs, $b_conn, "$b_proto", $b_len),
        ("(c) libcurl, no reuse", ns, $c_el, c, $c_req / ns, $c_conn, "$c_proto", $c_len)]
for r in rows:
    print("%-28s %7d %9.3f %9.1f %9.2f %6d %9s %8dB" % r)
print("(a) end to end: %.3f s from nginx's start to queued == 0 = %.1f sales/s "
      "(first request %.3f s after nginx's start: its start-up and the daemon's retry backoff)"
      % ($a_e2e, a_e2e, $a_wait))
print("(a) requests: %d POST /contacts + %d POST /activities, %d not 201; status: delivered %s, "
      "dead_letter %s" % ($a_con, $a_act, $a_bad, "$delivered", "$dead"))
print("(b), (c): %d and %d answers not 201" % ($b_bad, $c_bad))
print("load average at start: $LOAD0; at end: $LOAD1 (2 cores: other work skews every figure)")
ok = lambda x: "PASS" if x else "MISSED"
print("target (a) >= 20 x (b): %.1fx  %s   (end to end: %.1fx)" % (a / b, ok(a >= 20 * b), a_e2e / b))
print("target (a) >=  3 x (c): %.2fx  %s   (end to end: %.2fx)" % (a / c, ok(a >= 3 * c), a_e2e / c))
EOF
