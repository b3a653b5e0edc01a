#!/usr/bin/env bash
# Starts a throw-away Tansu behind stunnel (TLS) for TLS throughput comparisons, and prints the
# environment for tools/perf/compare.sh. Tansu's own TLS options do not work in 0.6.0, so stunnel
# terminates TLS and forwards plaintext; Tansu advertises the TLS port.
#
#   eval "$(tools/perf/tls-broker.sh start)"
#   tools/perf/compare.sh --clients ringkafka,librdkafka --runs 3 -- --num-records 1000000 --record-size 100 \
#       --producer-props acks=all enable.idempotence=true linger.ms=5 \
#       security.protocol=SSL ssl.ca.location=$RINGKAFKA_TLS_CA
#   tools/perf/tls-broker.sh stop
# (confluent-kafka is built without TLS here, and Java's tool would need the CA as a truststore:
# both are left out.)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/tansu.sh
dir=target/perf-tls

case "${1:-}" in
    start)
        tansu_ensure_installed
        command -v stunnel4 >/dev/null || { echo "stunnel4 is missing (apt-get install stunnel4)" >&2; exit 1; }
        mkdir -p "$dir"
        # A CA and a server certificate for 127.0.0.1, valid for two days.
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ringkafka-perf-ca \
            -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
            -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
        openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
            -days 2 -out "$dir/server.pem" -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost') 2>/dev/null
        plain=$(tansu_free_port)
        tls=$(tansu_free_port)
        "$TANSU_BIN" broker --cluster-id ringkafka-perf --listener-url "tcp://127.0.0.1:$plain" \
            --advertised-listener-url "tcp://127.0.0.1:$tls" --storage-engine memory://tansu/ \
            >"$dir/tansu.log" 2>&1 </dev/null &
        echo $! >"$dir/tansu.pid"
        printf 'foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\n' \
            "$tls" "$plain" "$PWD/$dir/server.pem" "$PWD/$dir/server.key" >"$dir/stunnel.conf"
        stunnel4 "$dir/stunnel.conf" >"$dir/stunnel.log" 2>&1 </dev/null &
        echo $! >"$dir/stunnel.pid"
        for _ in $(seq 100); do
            "$TANSU_BIN" topic list --broker "tcp://127.0.0.1:$plain" >/dev/null 2>&1 && break
            sleep 0.1
        done
        echo "export RINGKAFKA_BOOTSTRAP=127.0.0.1:$tls RINGKAFKA_ADMIN=127.0.0.1:$plain" \
            "RINGKAFKA_TLS_CA=$PWD/$dir/ca.pem TANSU_BIN=$TANSU_BIN"
        ;;
    stop)
        for p in stunnel tansu; do
            [[ -f "$dir/$p.pid" ]] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
            rm -f "$dir/$p.pid"
        done
        ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
