#!/usr/bin/env bash
# Runs one workload through several Kafka producers on one broker, alternating, RUNS times
# each, and prints medians and ratios (ringkafka / the other). Every comparison row of PERF.md
# comes from one invocation of this script.
#
#   tools/perf/compare.sh [--broker tansu|kafka|kafka-cluster|external] [--runs N] [--warmup N]
#       [--partitions P] [--replication-factor R] [--clients LIST] [--same-settings LIST|none]
#       [--baseline BIN] -- <ringkafka-perf options>
#
# Example (a 3-node Apache Kafka cluster started and stopped by the script, 6 partitions RF 3,
# 1M x 100 B, acks=all, idempotence on):
#   tools/perf/compare.sh --broker kafka-cluster --runs 3 -- --num-records 1000000 \
#       --record-size 100 --producer-props acks=all enable.idempotence=true linger.ms=5
#
# Clients (--clients, default ringkafka,librdkafka,confluent,java):
#   ringkafka    this library (ringkafka-perf)
#   librdkafka   librdkafka through the rdkafka crate (ringkafka-perf --client librdkafka)
#   confluent    Confluent's native Rust client confluent-kafka 1.0 (--client confluent)
#   java         Java's own producer benchmark, org.apache.kafka.tools.ProducerPerformance
#                (kafka-producer-perf-test) from the Kafka jars scripts/kafka.sh caches
#   ceiling      not a client: the broker's ceiling (ringkafka-perf --client ceiling: the Produce
#                requests encoded once, pipelined, next to no client CPU); the fraction of it each
#                client reaches is printed below the tables. Null keys only.
# --baseline BIN adds a column `baseline`: ringkafka through another build of ringkafka-perf
# (e.g. an older commit's target/release/ringkafka-perf), for before/after comparisons of a
# change on the same broker in the same run.
#
# Two tables:
# 1. The headline: each client at ITS OWN defaults plus the properties given on the command
#    line, as a user comparing them would run them. Defaults differ: librdkafka's batch.size is
#    1 MB where Java's (ringkafka's, confluent-kafka's) is 16 KiB; librdkafka has idempotence off
#    unless asked. Give a property to hold it equal.
# 2. Same settings (--same-settings, default librdkafka): ringkafka's effective configuration
#    (Java's defaults plus the given properties) mapped onto the other client's names
#    (ringkafka-perf --client-defaults ringkafka): what each does with the same batch size,
#    linger, in-flight limit, ... The ringkafka column is the headline's runs.
#
# Brokers (--broker; default external if RINGKAFKA_BOOTSTRAP is set, else tansu):
#   tansu          Tansu 0.6.0 in memory, a fresh broker for every run: Tansu slows down as its
#                  in-memory log and producer state grow (measured: p50 latency up 15-25 % per
#                  1M-record run on one broker), so a shared broker would favour whichever client
#                  ran first. Topics created with tansu's CLI; 3 partitions by default.
#   kafka          Apache Kafka 4.4.0, one KRaft node (scripts/kafka.sh), shared by all runs;
#                  3 partitions.
#   kafka-cluster  Apache Kafka 4.4.0, 3 KRaft nodes on loopback (replication factor 3,
#                  min.insync.replicas=2), shared by all runs; 6 partitions, RF 3, each topic
#                  created with Kafka's TopicCommand and waited for (leaders, full ISR).
#   external       the broker at RINGKAFKA_BOOTSTRAP (topics created with tansu's CLI at
#                  RINGKAFKA_ADMIN if set: tools/perf/tls-broker.sh sets both; then a pause of
#                  RINGKAFKA_TOPIC_SETTLE seconds, default 0, for brokers that confirm a topic
#                  before its partitions have leaders, as Apache Kafka does).
# Every run gets a fresh topic, so no run reads or competes with another's data, and the clients
# take turns going first (the order rotates each round), which keeps a shared broker fair.
# A shared broker first gets --warmup runs of the workload through ringkafka, not counted
# (default 3 for kafka and kafka-cluster, 1 for external): a freshly started Kafka's JVMs spend
# 3-5 CPU-microseconds per record on the first few million records and ~1.4 once warm (JIT;
# measured on the 3-node cluster, 1M x 100 B runs), which would fall on whoever goes first. The
# brokers' own CPU per record is printed for Kafka (broker_us_per_rec).
#
# Clients' differences to keep in mind when reading the numbers (printed with the tables):
# - Partitioning: with null keys (the default) all spread records the same way (sticky per
#   batch). With keys (--keys), confluent-kafka's default hashes keys with CRC-32 and
#   librdkafka's with consistent_random (CRC-32), not Java's murmur2, so keys land elsewhere.
# - java: latency percentiles in whole ms, from each send() call (not corrected for coordinated
#   omission); CPU is the whole JVM's, start-up and JIT included (a few CPU-seconds).
# - java and confluent on Tansu get metadata.cluster.check.enable=false: Java 4.4's client and
#   its translation send the cluster id they expect in ApiVersions v5, and Tansu 0.6.0 closes
#   the connection on it. JAVA_CLIENT_PROPS="k=v ..." sets what those two get instead (e.g. the
#   same for tools/perf/tls-broker.sh's Tansu behind stunnel with --broker external).
#
# Each run's stderr (log lines, errors) is kept in target/compare/; a run that prints no result
# stops the script with that log.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/tansu.sh
. scripts/kafka.sh

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

runs=3
warm_runs=
partitions=
rf=
clients=ringkafka,librdkafka,confluent,java
same=librdkafka
broker=
baseline=
[[ -n "${RINGKAFKA_BOOTSTRAP:-}" ]] && broker=external || broker=tansu
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --warmup) warm_runs=$2; shift 2 ;;
        --partitions) partitions=$2; shift 2 ;;
        --replication-factor) rf=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --same-settings) same=$2; shift 2 ;;
        --broker) broker=$2; shift 2 ;;
        --baseline) baseline=$2; shift 2 ;;
        --) shift; break ;;
        *) usage ;;
    esac
done
[[ "$same" == none ]] && same=
perf_args=("$@")
case "$broker" in
    tansu | kafka) : "${partitions:=3}" "${rf:=1}" ;;
    kafka-cluster) : "${partitions:=6}" "${rf:=3}" ;;
    external)
        [[ -n "${RINGKAFKA_BOOTSTRAP:-}" ]] || { echo "error: --broker external needs RINGKAFKA_BOOTSTRAP" >&2; exit 2; }
        : "${partitions:=3}" "${rf:=1}"
        ;;
    *) echo "error: --broker must be tansu, kafka, kafka-cluster or external" >&2; exit 2 ;;
esac

# The runs: a client name, or client@same for the same-settings table.
IFS=, read -r -a entries <<<"$clients"
for c in "${entries[@]}"; do
    case "$c" in ringkafka | librdkafka | confluent | java | ceiling) ;; *) echo "error: unknown client $c" >&2; exit 2 ;; esac
done
if [[ -n "$baseline" ]]; then
    [[ -x "$baseline" ]] || { echo "error: --baseline $baseline is not an executable" >&2; exit 2; }
    baseline=$(realpath "$baseline")
    entries+=(baseline)
fi
if [[ -n "$same" ]]; then
    IFS=, read -r -a same_clients <<<"$same"
    for c in "${same_clients[@]}"; do
        case "$c" in librdkafka | confluent) entries+=("$c@same") ;; *) echo "error: --same-settings takes librdkafka, confluent" >&2; exit 2 ;; esac
    done
fi
[[ " ${entries[*]} " == *" ringkafka "* ]] || entries=(ringkafka "${entries[@]}")

features=()
[[ " ${entries[*]} " == *" librdkafka"* ]] && features+=(librdkafka)
[[ " ${entries[*]} " == *" confluent"* ]] && features+=(confluent)
cargo build --release -p ringkafka-perf --features "${features[*]}" --bin ringkafka-perf >&2
perf=target/release/ringkafka-perf

# Java's ProducerPerformance takes most of ringkafka-perf's options under the same names; this
# translates the rest (or refuses what it has no equivalent for). Prints the arguments NUL-separated.
java_args() {
    python3 - "$@" <<'EOF'
import sys
a = []
for x in sys.argv[1:]:
    if x.startswith("--") and "=" in x:
        a += x.split("=", 1)
    else:
        a.append(x)
out, props, i = [], [], 0
keys, dist = "0", None
def val():
    global i
    if i + 1 >= len(a):
        sys.exit(f"java: {a[i]} needs a value")
    i += 1
    return a[i]
while i < len(a):
    f = a[i]
    if f in ("--num-records", "--record-size", "--throughput", "--warmup-records", "--payload-file", "--payload-delimiter",
             "--transactional-id", "--transaction-duration-ms"):
        out += [f, val()]
    elif f == "--producer.config":
        out += ["--command-config", val()]
    elif f == "--producer-props":
        while i + 1 < len(a) and not a[i + 1].startswith("--"):
            i += 1
            props.append(a[i])
    elif f in ("--keys", "--record-key-range"):
        keys = val()
    elif f == "--key-distribution":
        d = val()
        # Java 4.4's names: range (round-robin, our sequential) and random (our uniform).
        dist = {"sequential": "range", "range": "range", "uniform": "random", "random": "random", "none": "none"}.get(d)
        if dist is None:
            sys.exit(f"java: ProducerPerformance has no --key-distribution {d}; leave java out (--clients)")
    elif f in ("--reporting-interval", "--random-seed"):
        out += [f, val()]
    elif f == "--print-metrics":
        out.append(f)
    elif f == "--progress":
        val()
    elif f == "--threads":
        if val() != "1":
            sys.exit("java: ProducerPerformance sends from one thread; drop --threads or leave java out (--clients)")
    elif f == "--payload":
        if val() != "random":
            sys.exit("java: ProducerPerformance has no --payload seq; leave java out (--clients)")
    elif f in ("--json", "--quiet", "-q"):
        pass
    elif f in ("--partitions", "--log-level"):
        val()
    else:
        sys.exit(f"java: cannot pass {f} to ProducerPerformance")
    i += 1
if keys != "0" and dist != "none":
    # ringkafka-perf's key-{n % K} (or uniform) over K keys: Java's integer keys in [0, K)
    out += ["--key-distribution", dist or "range", "--record-key-range", keys]
if "--throughput" not in out:
    out += ["--throughput", "-1"]
if props:
    out += ["--command-property"] + props
sys.stdout.write("\0".join(out))
EOF
}

# ProducerPerformance's summary lines as one JSON line in ringkafka-perf's keys.
java_json() {
    python3 - "$@" <<'EOF'
import json, re, sys
log, timef, n, warm = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lines = [l for l in open(log) if re.search(r"99\.9th", l)]
if not lines:
    sys.exit(1)
def parse(l):
    m = re.search(r"(\d+) (?:steady state )?records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+|NaN) ms avg latency, "
                  r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th", l)
    return m and [float(x) for x in m.groups()]
total = parse(lines[0])
summary = parse(lines[-1])  # the steady state's with --warmup-records, as ringkafka-perf --json
u, s = map(float, open(timef).read().split()[-2:])
ok = int(summary[0])
print(json.dumps({"records": n - warm if len(lines) > 1 else n, "ok": ok, "err": n - int(total[0]),
                  "secs": ok / summary[1] if summary[1] else None, "rec_per_s": summary[1],
                  "mb_per_s": summary[2], "lat_us_p50": summary[5] * 1000, "lat_us_p95": summary[6] * 1000,
                  "lat_us_p99": summary[7] * 1000, "lat_us_p999": summary[8] * 1000,
                  "lat_us_max": summary[4] * 1000, "cpu_s": round(u + s, 3)}, separators=(",", ":")))
EOF
}

# Java 4.4's client (and confluent-kafka, its translation) sends its expected cluster id in
# ApiVersions v5, and Tansu 0.6.0 drops the connection on it: the check is off on Tansu.
if [[ -n "${JAVA_CLIENT_PROPS+set}" ]]; then
    read -r -a java_client_props <<<"$JAVA_CLIENT_PROPS"
elif [[ "$broker" == tansu ]]; then
    java_client_props=(metadata.cluster.check.enable=false)
else
    java_client_props=()
fi

need_java=false
[[ " ${entries[*]} " == *" java "* ]] && need_java=true
if $need_java; then
    mapfile -d '' jargs < <(java_args "${perf_args[@]}") || exit 2
    [[ ${#jargs[@]} -gt 0 ]] || exit 2
fi
if $need_java || [[ "$broker" == kafka* ]]; then
    kafka_ensure_installed
fi
[[ "$broker" == tansu || "$broker" == external ]] && tansu_ensure_installed

case "$broker" in
    tansu) trap tansu_stop EXIT ;;
    kafka)
        trap kafka_stop EXIT
        kafka_start_single
        ;;
    kafka-cluster)
        trap kafka_stop EXIT
        kafka_start_cluster 3
        ;;
esac

# The value of the perf option --$1 (given as `--$1=V` or `--$1 V`), or 0.
perf_arg() {
    python3 -c 'import sys
name="--"+sys.argv[1]
a=sys.argv[2:]
for i,x in enumerate(a):
    if x.startswith(name+"="): print(x.split("=",1)[1]); break
    if x==name and i+1<len(a): print(a[i+1]); break
else: print(0)' "$1" "${perf_args[@]}"
}
num_records=$(perf_arg num-records)
warmup=$(perf_arg warmup-records)

logs=target/compare
mkdir -p "$logs"
out=$(mktemp)
# Tansu is started afresh for every run: nothing to warm up.
case "$broker" in
    tansu) : "${warm_runs:=0}" ;;
    kafka | kafka-cluster) : "${warm_runs:=3}" ;;
    *) : "${warm_runs:=1}" ;;
esac
for ((w = 1; w <= warm_runs; w++)); do
    topic="cmp-warmup-$w-$$"
    case "$broker" in
        kafka | kafka-cluster) kafka_topic_create "$topic" --partitions "$partitions" --replication-factor "$rf" ;;
        external)
            "$TANSU_BIN" topic create --broker "tcp://${RINGKAFKA_ADMIN:-$RINGKAFKA_BOOTSTRAP}" --partitions "$partitions" "$topic" >/dev/null
            sleep "${RINGKAFKA_TOPIC_SETTLE:-0}"
            ;;
    esac
    echo "warm-up $w (not counted)" >&2
    "$perf" --bootstrap-server "$RINGKAFKA_BOOTSTRAP" --topic "$topic" --json "${perf_args[@]}" \
        >"$logs/warmup-$w.log" 2>&1 || { echo "error: the warm-up run failed ($logs/warmup-$w.log)" >&2; exit 1; }
done
for ((i = 1; i <= runs; i++)); do
    # Round i starts with entry (i-1) mod n: every client goes first in turn.
    n=${#entries[@]}
    order=()
    for ((j = 0; j < n; j++)); do order+=("${entries[(i - 1 + j) % n]}"); done
    for entry in "${order[@]}"; do
        client=${entry%@same}
        topic="cmp-${client}-$i-$$"
        [[ "$entry" == *@same ]] && topic="cmp-${client}-same-$i-$$"
        case "$broker" in
            tansu)
                tansu_stop
                tansu_start >&2
                "$TANSU_BIN" topic create --broker "tcp://$RINGKAFKA_BOOTSTRAP" --partitions "$partitions" "$topic" >/dev/null
                ;;
            kafka | kafka-cluster)
                kafka_topic_create "$topic" --partitions "$partitions" --replication-factor "$rf"
                ;;
            external)
                "$TANSU_BIN" topic create --broker "tcp://${RINGKAFKA_ADMIN:-$RINGKAFKA_BOOTSTRAP}" --partitions "$partitions" "$topic" >/dev/null
                # Apache Kafka confirms a topic before its partitions have a leader; --broker
                # kafka waits for them, an external one gets RINGKAFKA_TOPIC_SETTLE seconds.
                sleep "${RINGKAFKA_TOPIC_SETTLE:-0}"
                ;;
        esac
        log="$logs/$i-${entry/@/-}.log"
        # The brokers' own CPU during the run (Kafka only): with them on the same cores, client
        # and broker CPU per record together bound the throughput.
        broker_ticks=
        [[ "$broker" == kafka* ]] && broker_ticks=$(kafka_cpu_ticks)
        line=
        case "$entry" in
            java)
                timef=$(mktemp)
                /usr/bin/time -f '%U %S' -o "$timef" bash -c '. scripts/kafka.sh; kafka_producer_perf "$@"' _ \
                    --topic "$topic" --bootstrap-server "$RINGKAFKA_BOOTSTRAP" "${jargs[@]}" \
                    ${java_client_props[@]+--command-property "${java_client_props[@]}"} >"$log" 2>&1 || true
                line=$(java_json "$log" "$timef" "$num_records" "$warmup") || line=
                rm -f "$timef"
                ;;
            baseline)
                "$baseline" --bootstrap-server "$RINGKAFKA_BOOTSTRAP" --topic "$topic" --json "${perf_args[@]}" \
                    >"$log.out" 2>"$log" || true
                line=$(grep '^{' "$log.out" | tail -1) || line=
                cat "$log.out" >>"$log"
                rm -f "$log.out"
                ;;
            *)
                args=(--client "$client" --bootstrap-server "$RINGKAFKA_BOOTSTRAP" --topic "$topic" --json)
                [[ "$entry" == *@same ]] && args+=(--client-defaults ringkafka)
                args+=("${perf_args[@]}")
                if [[ "$client" == confluent ]] && ((${#java_client_props[@]})); then
                    args+=(--producer-props "${java_client_props[@]}")
                fi
                "$perf" "${args[@]}" >"$log.out" 2>"$log" || true
                line=$(grep '^{' "$log.out" | tail -1) || line=
                cat "$log.out" >>"$log"
                rm -f "$log.out"
                ;;
        esac
        if [[ -n "$line" && -n "$broker_ticks" ]]; then
            broker_ticks=$(($(kafka_cpu_ticks) - broker_ticks))
            line="${line%\}},\"broker_cpu_s\":$(python3 -c "print(round($broker_ticks / $(getconf CLK_TCK), 3))")}"
        fi
        if [[ -z "$line" ]]; then
            echo "error: $entry (round $i) printed no result; its output ($log):" >&2
            tail -n 40 "$log" >&2
            exit 1
        fi
        warnings=$(grep -c ' WARN \| ERROR ' "$log" || true)
        note=
        ((warnings > 0)) && note=" ($warnings warning/error lines in $log)"
        echo "$entry $line$note" >&2
        echo "$entry $line" >>"$out"
    done
done

python3 - "$out" "$runs" "$broker" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    entry, js = line.split(" ", 1)
    rows.setdefault(entry, []).append(json.loads(js))
runs, broker = sys.argv[2], sys.argv[3]
keys = ["rec_per_s", "mb_per_s", "cpu_us_per_rec", "lat_us_p50", "lat_us_p99", "lat_us_p999", "err"]
if any("broker_cpu_s" in r for rs in rows.values() for r in rs):
    keys.insert(3, "broker_us_per_rec")

def med(entry, k):
    vals = []
    for r in rows[entry]:
        if k in ("cpu_us_per_rec", "broker_us_per_rec"):
            field = "cpu_s" if k == "cpu_us_per_rec" else "broker_cpu_s"
            if r.get(field) is None:
                continue
            vals.append(r[field] * 1e6 / max(r["ok"], 1))
        else:
            vals.append(r[k])
    return statistics.median(vals) if vals else float("nan")

def table(title, cols, names):
    others = [c for c in cols if c != "ringkafka"]
    print(f"\n{title}")
    head = f"{'metric':<16}" + "".join(f"{n:>14}" for n in names) + "".join(f"{'rk/' + names[cols.index(o)]:>16}" for o in others)
    print(head)
    for k in keys:
        vals = [med(c, k) for c in cols]
        fmt = ">14.2f" if k in ("cpu_us_per_rec", "broker_us_per_rec") else ">14.1f"
        s = f"{k:<16}" + "".join(format(v, fmt) for v in vals)
        for o in others:
            b = med(o, k)
            s += f"{vals[0] / b:>16.2f}" if b and b == b else f"{'-':>16}"
        print(s)

own = [c for c in ["ringkafka", "baseline", "librdkafka", "confluent", "java"] if c in rows]
ceiling = med("ceiling", "rec_per_s") if "ceiling" in rows else None
table(f"== Each client at its own defaults plus the given properties (broker: {broker}; medians of {runs} runs) ==",
      own, own)
same = [c for c in ["librdkafka@same", "confluent@same"] if c in rows]
if same:
    table("== Same settings: ringkafka's effective configuration mapped onto the other client "
          "(--client-defaults ringkafka; ringkafka column = the runs above) ==",
          ["ringkafka"] + same, ["ringkafka"] + [c.replace("@same", "") for c in same])
if ceiling:
    print(f"\n== Fraction of the broker's ceiling ({ceiling:.0f} records/s, --client ceiling, median) ==")
    for c in own:
        print(f"{c:<16}{med(c, 'rec_per_s') / ceiling:>14.2f}")
print("\nrk/X = ringkafka / X (above 1 is ringkafka's more: good for rec_per_s, bad for cpu and latency).")
if "broker_us_per_rec" in keys:
    print("broker_us_per_rec: the Kafka nodes' own CPU during the run, per record (their JVMs' utime+stime).")
notes = []
if "confluent" in rows or "confluent@same" in rows:
    notes.append("confluent-kafka's default partitioner hashes keys with CRC-32, not murmur2 "
                 "(with --client-defaults ringkafka it gets Murmur2RandomPartitioner); null keys spread alike.")
if "librdkafka" in rows:
    notes.append("librdkafka at its defaults partitions keys with consistent_random (CRC-32), not murmur2.")
if "java" in rows:
    notes.append("java = ProducerPerformance: latency in whole ms from send(), not corrected for coordinated "
                 "omission; its CPU includes JVM start-up and JIT.")
for n in notes:
    print("note: " + n)
EOF
rm -f "$out"
