#!/usr/bin/env bash
# What a leader move costs the producer: ringkafka-leader-move sends at a steady rate over a
# fresh topic's partitions while this script moves leaders mid-run, and prints, per run and
# per partition that changed leader: the time from the old leader's first refusal
# (NOT_LEADER_OR_FOLLOWER) to the first batch the new leader acknowledged ("refusal->ack", the
# producer's reaction, what KIP-951 shortens), and the longest gap between two acknowledgements
# after the move began ("gap": the broker's side of the move included). Compare builds (before
# and after KIP-951) with --bin. Needs a running cluster (tools/perf/kafka-broker.sh start
# --nodes 3, same KAFKA_DIR).
#
#   tools/perf/leader-move.sh [--move elect|shutdown] [--runs N] [--rate R] [--bin PATH] [-- producer props]
#
#   elect     the topic's replica lists are rotated first (kafka-reassign-partitions: no leader
#             moves yet), then a preferred-leader election moves every partition's leader at once
#   shutdown  a controlled shutdown of the node leading partition 0 (its leaderships move to
#             the other nodes), restarted after the run
# Default: --move elect --runs 3 --rate 6000, target/release/ringkafka-leader-move.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/kafka.sh

move=elect runs=3 rate=6000 bin=target/release/ringkafka-leader-move
while [[ $# -gt 0 ]]; do
    case "$1" in
        --move) move=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --) shift; break ;;
        *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
[[ "$move" == elect || "$move" == shutdown ]] || { echo "error: --move elect|shutdown" >&2; exit 2; }
[[ -x "$bin" ]] || { echo "error: $bin missing (cargo build --release -p ringkafka-perf --bin ringkafka-leader-move)" >&2; exit 2; }
bootstrap=$(kafka_bootstrap)
props=("$@")
logs=target/leader-move
mkdir -p "$logs"

# The topic's partitions as "partition leader replica,replica,..." lines.
describe() {
    kafka_topics --describe --topic "$1" 2>/dev/null |
        sed -n 's/.*Partition: \([0-9]*\)[[:space:]]*Leader: \([0-9-]*\)[[:space:]]*Replicas: \([0-9,]*\).*/\1 \2 \3/p'
}

for ((i = 1; i <= runs; i++)); do
    topic="leader-move-$move-$i-$$"
    kafka_topic_create "$topic" --partitions 6 --replication-factor 3
    before=$(describe "$topic")
    if [[ "$move" == elect ]]; then
        json="$logs/$topic.json"
        python3 - "$topic" "$before" >"$json" <<'PY'
import json, sys
parts = []
for line in sys.argv[2].splitlines():
    p, _, replicas = line.split()
    r = replicas.split(",")
    parts.append({"topic": sys.argv[1], "partition": int(p), "replicas": [int(x) for x in r[1:] + r[:1]]})
print(json.dumps({"version": 1, "partitions": parts}))
PY
        kafka_reassign "$json"
    fi
    log="$logs/$topic.log"
    # 40 s: the move's command (a JVM) may take 10 s and more to start on a loaded machine.
    "$bin" --bootstrap-server "$bootstrap" --topic "$topic" --rate "$rate" --seconds 40 \
        ${props[@]+--producer-props "${props[@]}"} >"$log" 2>&1 &
    pid=$!
    sleep 8
    moved_at=$(date +%s%3N)
    case "$move" in
        elect) kafka_elect_preferred "$topic" >/dev/null ;;
        shutdown)
            node=$(awk '$1 == 0 {print $2}' <<<"$before")
            kafka_shutdown_node "$node"
            ;;
    esac
    done_at=$(date +%s%3N)
    wait "$pid" || { echo "error: run $i failed; its log ($log):" >&2; tail -20 "$log" >&2; exit 1; }
    [[ "$move" == shutdown ]] && kafka_restart "$node" 2>/dev/null
    after=$(describe "$topic")
    python3 - "$i" "$move" "$moved_at" "$done_at" "$log" "$before" "$after" <<'PY'
import json, re, sys
run, move, moved_at, done_at, log, before, after = sys.argv[1:]
lead = lambda text: {int(l.split()[0]): l.split()[1] for l in text.splitlines() if l.strip()}
b, a = lead(before), lead(after)
moved = sorted(p for p in b if a.get(p) != b[p])
gaps = {}
for line in open(log):
    m = re.match(r"gap partition=(\d+) start_ms=(\d+) end_ms=(\d+) gap_ms=([\d.]+)", line)
    # A gap that ends after the move command started.
    if m and int(m.group(3)) >= int(moved_at):
        p = int(m.group(1))
        gaps[p] = max(gaps.get(p, 0.0), float(m.group(4)))
react = {}
for line in open(log):
    m = re.match(r"moved partition=(\d+) refused_ms=(\d+) acked_ms=(\d+) ms=([\d.]+)", line)
    if m and int(m.group(2)) >= int(moved_at):
        react.setdefault(int(m.group(1)), float(m.group(4)))
summary = json.loads([l for l in open(log) if l.startswith("{")][-1])
fmt = lambda d, p: f"{d[p]:.0f}" if p in d else "-"
per = ", ".join(f"p{p} {b[p]}->{a[p]}: {fmt(react, p)}/{fmt(gaps, p)}" for p in moved)
vals = [react[p] for p in moved if p in react]
med = sorted(vals)[len(vals) // 2] if vals else float("nan")
print(f"run {run} ({move}, command {int(done_at) - int(moved_at)} ms): refusal->ack median {med:.0f} ms; "
      f"per partition refusal->ack/gap ms: {per}; retries {summary['retries']}, failed {summary['failed']}")
PY
    kafka_topics --delete --topic "$topic" >/dev/null 2>&1 || true
done
