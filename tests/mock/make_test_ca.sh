#!/bin/sh
# make_test_ca.sh OUTDIR — TLS material for tests against the mocks in tests/mock/ (*_mock.py).
#
#   ca.pem ca.key                   test CA that clients trust (ca_file)
#   server.pem server.key           server certificate for 127.0.0.1 and localhost, signed by ca
#   wrong-ca.pem wrong-ca.key       an unrelated CA
#   wrong-server.pem wrong-server.key   same names, signed by wrong-ca: a client trusting ca.pem
#                                   must refuse it, and only for the chain (names do match)
#   expired-server.pem .key         signed by ca, names match, valid from 3 days ago until
#                                   yesterday: refused for its dates alone
#   other-name-server.pem .key      signed by ca, valid, but only for elsewhere.example: refused
#                                   for its name alone
#
# EC P-256 keys (fast; also what mbedTLS builds support), 30 days' validity (a certificate that
# expires within a week is a warning in test-connection). Idempotent: files that
# exist and stay valid for at least another hour are kept, so a running mock keeps its identity;
# otherwise everything is made afresh and moved into place together. Silent unless it fails.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
mkdir -p "$out"

files="ca.pem ca.key server.pem server.key
       wrong-ca.pem wrong-ca.key wrong-server.pem wrong-server.key
       expired-server.pem expired-server.key other-name-server.pem other-name-server.key"

is_fresh() {
    for f in $files; do [ -s "$out/$f" ] || return 1; done
    for c in ca server wrong-ca wrong-server other-name-server; do  # valid another hour at least
        openssl x509 -in "$out/$c.pem" -noout -checkend 3600 >/dev/null 2>&1 || return 1
    done
    openssl verify -CAfile "$out/ca.pem" "$out/server.pem" >/dev/null 2>&1 &&
        openssl verify -CAfile "$out/wrong-ca.pem" "$out/wrong-server.pem" >/dev/null 2>&1
}
is_fresh && exit 0

work=$(mktemp -d "$out/.make_test_ca.XXXXXX")
trap 'rm -rf "$work"' EXIT
umask 077  # the keys

# Runs openssl quietly; shows its output only if it fails.
q() {
    if ! openssl "$@" >"$work/log" 2>&1; then
        echo "make_test_ca.sh: openssl $1 failed:" >&2
        cat "$work/log" >&2
        exit 1
    fi
}

make_ca() {  # NAME COMMON-NAME
    q genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$1.key"
    q req -x509 -new -key "$work/$1.key" -sha256 -days 30 -subj "/O=tillsync tests/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$work/$1.pem"
}

make_server() {  # NAME CA-NAME [NAMES [CN]]
    q genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$1.key"
    q req -new -key "$work/$1.key" -subj "/O=tillsync tests/CN=${4:-localhost}" -out "$work/$1.csr"
    # Strict verifiers (OpenSSL 3 with X509_STRICT, mbedTLS) want these extensions present.
    cat >"$work/$1.ext" <<EOF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = ${3:-IP:127.0.0.1,DNS:localhost}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    q x509 -req -in "$work/$1.csr" -CA "$work/$2.pem" -CAkey "$work/$2.key" \
        -set_serial "0x$(openssl rand -hex 8)" -sha256 -days 30 \
        -extfile "$work/$1.ext" -out "$work/$1.pem"
}

# A server certificate whose validity lies in the past: x509 -req cannot date one back, a
# minimal "openssl ca" can (GNU date computes the dates).
make_expired_server() {  # NAME CA-NAME
    make_server "$1" "$2"  # its key, request and extensions
    : >"$work/index.txt"
    openssl rand -hex 8 >"$work/serial"
    cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = test_ca
[test_ca]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
policy = any
unique_subject = no
[any]
commonName = supplied
organizationName = optional
EOF
    q ca -batch -config "$work/ca.cnf" -cert "$work/$2.pem" -keyfile "$work/$2.key" \
        -in "$work/$1.csr" -md sha256 -notext -extfile "$work/$1.ext" \
        -startdate "$(date -u -d '-3 days' +%Y%m%d%H%M%SZ)" \
        -enddate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)" -out "$work/$1.pem"
}

make_ca ca "tillsync test CA"
make_server server ca
make_ca wrong-ca "unrelated test CA"
make_server wrong-server wrong-ca
make_expired_server expired-server ca
make_server other-name-server ca DNS:elsewhere.example elsewhere.example

chmod 644 "$work"/*.pem
for f in $files; do mv -f "$work/$f" "$out/$f"; done
