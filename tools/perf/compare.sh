#!/usr/bin/env bash
# Runs the same workload through ringkafka and librdkafka, alternating, RUNS times each, on one
# broker, and prints the median of each client and the ratios (ringkafka / librdkafka). Every
# row of PERF.md comes from one invocation of this script.
#
#   tools/perf/compare.sh [--runs N] [--partitions P] -- <ringkafka-perf options>
#
# Example (Tansu started by the script, 3 partitions, 1M x 100 B, acks=all, idempotence on):
#   tools/perf/compare.sh --runs 3 -- --num-records 1000000 --record-size 100 \
#       --producer-props acks=all enable.idempotence=true linger.ms=5
#
# With RINGKAFKA_BOOTSTRAP set, that broker is used (topics are still created with tansu, at
# RINGKAFKA_ADMIN if set: tools/perf/tls-broker.sh sets both, the TLS port for the clients and
# the plaintext one for tansu's CLI; tools/perf/kafka-broker.sh sets both to an Apache Kafka
# broker, where tansu's CLI creates topics just as well).
# Each run gets a fresh topic, so no run reads or competes with another's data. When the
# script starts Tansu itself, each run also gets a fresh broker: Tansu slows down as its
# in-memory log and producer state grow (measured: p50 latency up 15-25 % per 1M-record run on
# one broker), so a shared broker would favour whichever client ran first. The two clients
# also take turns going first (round 1 ringkafka first, round 2 librdkafka first, ...), which
# is what keeps a shared broker (RINGKAFKA_BOOTSTRAP) fair.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/tansu.sh

runs=3
partitions=3
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --partitions) partitions=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: $0 [--runs N] [--partitions P] -- <ringkafka-perf options>" >&2; exit 2 ;;
    esac
done

cargo build --release -p ringkafka-perf --features librdkafka --bin ringkafka-perf >&2
perf=target/release/ringkafka-perf

tansu_ensure_installed
own_broker=false
if [[ -z "${RINGKAFKA_BOOTSTRAP:-}" ]]; then
    own_broker=true
    trap tansu_stop EXIT
fi

out=$(mktemp)
for ((i = 1; i <= runs; i++)); do
    order="ringkafka librdkafka"
    ((i % 2 == 0)) && order="librdkafka ringkafka"
    for client in $order; do
        if $own_broker; then
            tansu_stop
            tansu_start >&2
        fi
        topic="cmp-$client-$i-$$"
        "$TANSU_BIN" topic create --broker "tcp://${RINGKAFKA_ADMIN:-$RINGKAFKA_BOOTSTRAP}" --partitions "$partitions" "$topic" >/dev/null
        # Apache Kafka confirms a topic before its partitions have a leader; a run that started
        # at once would measure the first retries (RINGKAFKA_TOPIC_SETTLE=1 with kafka-broker.sh).
        sleep "${RINGKAFKA_TOPIC_SETTLE:-0}"
        line=$("$perf" --client "$client" --bootstrap-server "$RINGKAFKA_BOOTSTRAP" --topic "$topic" --json "$@" 2>/dev/null | tail -1)
        echo "$client $line" | tee -a "$out" >&2
    done
done

python3 - "$out" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    client, js = line.split(" ", 1)
    rows.setdefault(client, []).append(json.loads(js))
keys = ["rec_per_s", "mb_per_s", "cpu_us_per_rec", "lat_us_p50", "lat_us_p99", "lat_us_p999", "err"]
def med(client, k):
    vals = []
    for r in rows[client]:
        if k == "cpu_us_per_rec":
            vals.append(r["cpu_s"] * 1e6 / max(r["ok"], 1))
        else:
            vals.append(r[k])
    return statistics.median(vals)
print(f"{'metric':<16}{'ringkafka':>14}{'librdkafka':>14}{'ratio':>10}")
for k in keys:
    a, b = med("ringkafka", k), med("librdkafka", k)
    ratio = f"{a / b:.2f}" if b else "-"
    print(f"{k:<16}{a:>14.1f}{b:>14.1f}{ratio:>10}")
print(f"(medians of {len(rows['ringkafka'])} runs each, the clients taking turns to go first)")
EOF
rm -f "$out"
