#!/usr/bin/env bash
# Start/stop helpers for throw-away Apache Kafka brokers on loopback: one node (the default, for
# the transaction tests and latency comparisons) or a KRaft cluster of N combined
# broker+controller nodes (3 for the replication and failover tests and the cluster benchmarks).
# tools/perf/kafka-broker.sh is the command line over these functions.
#
# Usage, sourced (from the repository root):
#   . scripts/kafka.sh
#   kafka_ensure_installed               # fetch the jars once (Maven Central), check java
#   kafka_start_cluster 3                # or kafka_start_single; exports RINGKAFKA_BOOTSTRAP ...
#   kafka_topic_create t --partitions 6 --replication-factor 3   # waits for leaders + full ISR
#   kafka_kill 2; kafka_restart 2        # kill -9 one node, start it again
#   kafka_stop                           # every node; the data is deleted
#
# No Kafka tarball: the first use fetches org.apache.kafka:kafka_2.13 (the broker),
# org.apache.kafka:kafka-tools (TopicCommand, ProducerPerformance) and their runtime
# dependencies from Maven Central with a generated pom into $KAFKA_CACHE/lib (about 50 MB);
# later uses reuse it. Needs java 17+ and mvn.
#
# State lives in $KAFKA_DIR (default ./target/kafka): cluster.env (ports, node count), and per
# node nodeN/{server.properties,kafka.log,kafka.pid,data}. Every function reads it, so
# separate invocations of the CLI (start, then kill 2, then restart 2, then stop) work on the
# same cluster. One cluster per $KAFKA_DIR; start stops a leftover one first.
#
# The cluster, as a user would run a small production one (defaults otherwise):
# - combined broker+controller nodes, a static controller quorum of all N (controller.quorum.voters);
# - default.replication.factor=min(N,3), min.insync.replicas=2 (N >= 3), the internal topics
#   (offsets, transaction state, share state) with the same replication and min ISR;
# - 6 partitions for topics that producers auto-create (num.partitions), 3 on one node;
# - 10 partitions for the offsets and transaction-state topics instead of 50: they are created
#   lazily on first use, and 50 x 3 replicas on a loaded 2-core machine takes seconds;
# - heaps of KAFKA_HEAP_OPTS (default -Xms512m -Xmx512m per node for a cluster, 1 GiB for one).
#
# Environment: KAFKA_VERSION (4.4.0), KAFKA_CACHE, KAFKA_DIR, KAFKA_HEAP_OPTS,
# KAFKA_START_TIMEOUT_SECS (default 90 for one node, 180 for a cluster: three JVMs starting at
# once on two loaded cores), KAFKA_TOPIC_TIMEOUT_SECS (60), KAFKA_FORMAT_ARGS (more arguments
# for the storage format, e.g. `--feature transaction.version=1` for a cluster on the older
# transaction protocol; the default finalizes version 2).

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_CACHE="${KAFKA_CACHE:-$HOME/.cache/ringkafka/kafka-$KAFKA_VERSION}"
KAFKA_LOG4J_VERSION=2.25.5
# The jars that must be in $KAFKA_CACHE/lib (a cache made before kafka-tools was added lacks one).
KAFKA_REQUIRED_JARS=("kafka_2.13-$KAFKA_VERSION.jar" "kafka-tools-$KAFKA_VERSION.jar" "log4j-slf4j-impl-$KAFKA_LOG4J_VERSION.jar")

kafka_dir() { echo "${KAFKA_DIR:-$PWD/target/kafka}"; }

kafka_log() { echo "==> $*" >&2; }

# Fetches the jars into $KAFKA_CACHE/lib unless they are all there, and checks for java 17+.
kafka_ensure_installed() {
    command -v java >/dev/null 2>&1 || { echo "error: java is missing (apt-get install openjdk-17-jre-headless)" >&2; return 1; }
    local major
    major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    if [[ -z "$major" || "$major" -lt 17 ]]; then
        echo "error: Kafka $KAFKA_VERSION needs java 17+, found: $(java -version 2>&1 | head -1)" >&2
        return 1
    fi
    local jar missing=0
    for jar in "${KAFKA_REQUIRED_JARS[@]}"; do
        [[ -f "$KAFKA_CACHE/lib/$jar" ]] || missing=1
    done
    ((missing)) || return 0
    command -v mvn >/dev/null 2>&1 || { echo "error: mvn is missing (apt-get install maven)" >&2; return 1; }
    kafka_log "fetching Apache Kafka $KAFKA_VERSION (broker and tools) from Maven Central into $KAFKA_CACHE/lib"
    mkdir -p "$KAFKA_CACHE"
    # Kafka's pom puts slf4j-api 1.7 and log4j-core on the runtime path but no binding between
    # them (the distribution adds log4j-slf4j-impl itself), so the broker would log nothing.
    # kafka-tools depends on connect-runtime (for the Connect tools, with Jetty and Jersey: 45
    # jars); TopicCommand and ProducerPerformance need none of it.
    cat >"$KAFKA_CACHE/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ringkafka</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$KAFKA_LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
    local tmp="$KAFKA_CACHE/lib.new.$$"
    rm -rf "$tmp"
    if ! (cd "$KAFKA_CACHE" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >&2); then
        rm -rf "$tmp"
        echo "error: fetching Kafka's jars with mvn failed (see above)" >&2
        return 1
    fi
    # Brokers started earlier (by another checkout) may be running from lib/ and load classes
    # from its jars lazily: when the old set is a subset of the new one, only add the new jars
    # instead of replacing the directory under them.
    local old subset=1
    if [[ -d "$KAFKA_CACHE/lib" ]]; then
        for old in "$KAFKA_CACHE/lib"/*.jar; do
            [[ -e "$old" ]] || continue
            [[ -f "$tmp/$(basename "$old")" ]] || subset=0
        done
    fi
    if ((subset)) && [[ -d "$KAFKA_CACHE/lib" ]]; then
        cp -n "$tmp"/*.jar "$KAFKA_CACHE/lib/"
        rm -rf "$tmp"
    else
        rm -rf "${KAFKA_CACHE:?}/lib"
        mv "$tmp" "$KAFKA_CACHE/lib"
    fi
    touch "$KAFKA_CACHE/lib/.complete"
    for jar in "${KAFKA_REQUIRED_JARS[@]}"; do
        [[ -f "$KAFKA_CACHE/lib/$jar" ]] || { echo "error: $jar still missing from $KAFKA_CACHE/lib" >&2; return 1; }
    done
}

# Prints N distinct free TCP ports on 127.0.0.1 (all bound at once, so they differ).
kafka_free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# JVM flags (one per line, for mapfile): the given ones (heap, GC), then our log4j2 config and
# the cached class path.
kafka_jvm_flags() {
    local flags dir
    dir=$(kafka_dir)
    read -r -a flags <<<"$1"
    printf '%s\n' "${flags[@]}" -Djava.awt.headless=true \
        "-Dlog4j2.configurationFile=$dir/log4j2.properties" "-Dkafka.logs.dir=$dir" -cp "$KAFKA_CACHE/lib/*"
}

# A broker's flags after its heap (and the perf test's): KAFKA_JVM_PERFORMANCE_OPTS of kafka-run-class.sh.
KAFKA_JVM_PERFORMANCE_OPTS="-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
-XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15"
# A command-line tool's: it runs for a second or two, so start-up is what counts.
KAFKA_TOOL_JVM_OPTS="-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto"

# Runs a Kafka tool's main class in the foreground (warnings only), e.g.
#   kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server ... --list
kafka_tool() {
    local flags
    kafka_write_log4j
    mapfile -t flags < <(kafka_jvm_flags "$KAFKA_TOOL_JVM_OPTS")
    java "${flags[@]}" "$@"
}

kafka_write_log4j() {
    local f
    f="$(kafka_dir)/log4j2.properties"
    [[ -f "$f" ]] && return 0
    mkdir -p "$(kafka_dir)"
    # Warnings and errors only, plus the one line that says a broker is up.
    cat >"$f" <<'EOF'
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=out
logger.raftserver.name=kafka.server.KafkaRaftServer
logger.raftserver.level=INFO
EOF
}

# Loads cluster.env (KAFKA_NODES, KAFKA_PORTS, KAFKA_CONTROLLER_PORTS) of the running cluster.
kafka_load_state() {
    local f
    f="$(kafka_dir)/cluster.env"
    [[ -f "$f" ]] || { echo "error: no Kafka cluster started here ($f is missing)" >&2; return 1; }
    # shellcheck disable=SC1090
    . "$f"
}

# The bootstrap list of the running cluster: 127.0.0.1:P1,127.0.0.1:P2,...
kafka_bootstrap() {
    kafka_load_state || return 1
    local p out=()
    for p in $KAFKA_PORTS; do out+=("127.0.0.1:$p"); done
    (IFS=,; echo "${out[*]}")
}

# The pid of node N if it is running (and is our broker), else nothing and status 1.
kafka_node_pid() {
    local n=$1 dir pid
    dir="$(kafka_dir)/node$n"
    [[ -f "$dir/kafka.pid" ]] || return 1
    pid=$(cat "$dir/kafka.pid")
    # Only the pid we started, and only while it is still that broker (pids get reused).
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $dir/server.properties"; then
        echo "$pid"
        return 0
    fi
    return 1
}

# Writes node N's server.properties.
kafka_write_node_config() {
    local n=$1 nodes=$2 port=$3 controller=$4 voters=$5 dir rf isr parts
    dir="$(kafka_dir)/node$n"
    mkdir -p "$dir"
    rf=$((nodes < 3 ? nodes : 3))
    isr=$((rf < 2 ? 1 : 2))
    parts=$((nodes == 1 ? 3 : 6))
    cat >"$dir/server.properties" <<EOF
node.id=$n
process.roles=broker,controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.quorum.voters=$voters
log.dirs=$dir/data
num.partitions=$parts
auto.create.topics.enable=true
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
EOF
}

# Starts node N's JVM in the background (its storage already formatted); records the pid.
kafka_spawn_node() {
    local n=$1 dir flags heap
    dir="$(kafka_dir)/node$n"
    heap=${KAFKA_HEAP_OPTS:-$([[ $KAFKA_NODES -eq 1 ]] && echo "-Xms1g -Xmx1g" || echo "-Xms512m -Xmx512m")}
    mapfile -t flags < <(kafka_jvm_flags "$heap $KAFKA_JVM_PERFORMANCE_OPTS")
    # exec: $! is then the JVM's own pid, so kill signals the JVM and not a shell around it.
    (exec java "${flags[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 </dev/null) &
    echo $! >"$dir/kafka.pid"
}

# Waits until every node in "$@" (node ids) has logged "Kafka Server started" after line
# $KAFKA_LOG_MARK_<n> of its log (0 for a fresh log). A node that exits, or the deadline,
# fails with the logs of the nodes concerned.
kafka_wait_started() {
    local timeout=$1
    shift
    local deadline=$((SECONDS + timeout)) n dir mark pending
    while :; do
        pending=()
        for n in "$@"; do
            dir="$(kafka_dir)/node$n"
            mark="KAFKA_LOG_MARK_$n"
            if ! tail -n +"$((${!mark:-0} + 1))" "$dir/kafka.log" 2>/dev/null | grep -q 'Kafka Server started'; then
                if ! kafka_node_pid "$n" >/dev/null; then
                    echo "error: Kafka node $n exited during start-up; its log ($dir/kafka.log):" >&2
                    tail -n 60 "$dir/kafka.log" >&2
                    return 1
                fi
                pending+=("$n")
            fi
        done
        ((${#pending[@]} == 0)) && return 0
        if ((SECONDS >= deadline)); then
            for n in "${pending[@]}"; do
                dir="$(kafka_dir)/node$n"
                echo "error: Kafka node $n did not start within ${timeout}s; the end of its log ($dir/kafka.log):" >&2
                tail -n 60 "$dir/kafka.log" >&2
            done
            return 1
        fi
        sleep 0.2
    done
}

# Starts a fresh cluster of N nodes (default 3) with new storage. Exports RINGKAFKA_BOOTSTRAP
# (every node), RINGKAFKA_ADMIN (node 1, for tools that take one address), KAFKA_NODES.
kafka_start_cluster() {
    local nodes=${1:-3} dir ports controllers voter_list=() voters i cluster_id pids=() rc=0
    [[ "$nodes" =~ ^[1-9][0-9]?$ ]] || { echo "error: node count must be 1..99, got '$nodes'" >&2; return 2; }
    dir=$(kafka_dir)
    kafka_stop 2>/dev/null || true
    rm -rf "${dir:?}"
    mkdir -p "$dir"
    kafka_write_log4j
    read -r -a ports <<<"$(kafka_free_ports $((2 * nodes)))"
    ((${#ports[@]} == 2 * nodes)) || { echo "error: could not find $((2 * nodes)) free ports on 127.0.0.1" >&2; return 1; }
    controllers=("${ports[@]:nodes}")
    ports=("${ports[@]:0:nodes}")
    for ((i = 1; i <= nodes; i++)); do voter_list+=("$i@127.0.0.1:${controllers[i - 1]}"); done
    voters=$(IFS=,; echo "${voter_list[*]}")
    cat >"$dir/cluster.env" <<EOF
KAFKA_NODES=$nodes
KAFKA_PORTS="${ports[*]}"
KAFKA_CONTROLLER_PORTS="${controllers[*]}"
EOF
    KAFKA_NODES=$nodes
    # A random cluster id: 16 bytes, URL-safe base64 without padding, as Kafka's Uuid wants.
    # It may start with '-' (1 in 64): it goes as --cluster-id=ID, or the format tool takes it
    # for an option and the start fails.
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    for ((i = 1; i <= nodes; i++)); do
        kafka_write_node_config "$i" "$nodes" "${ports[i - 1]}" "${controllers[i - 1]}" "$voters"
        # Static quorum (controller.quorum.voters): format needs only the cluster id.
        # shellcheck disable=SC2086 # KAFKA_FORMAT_ARGS: words on purpose
        kafka_tool kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$dir/node$i/server.properties" \
            ${KAFKA_FORMAT_ARGS:-} >"$dir/node$i/format.log" 2>&1 &
        pids+=($!)
    done
    for ((i = 1; i <= nodes; i++)); do
        if ! wait "${pids[i - 1]}"; then
            echo "error: formatting node $i's storage failed:" >&2
            cat "$dir/node$i/format.log" >&2
            rc=1
        fi
    done
    ((rc == 0)) || return 1
    for ((i = 1; i <= nodes; i++)); do
        unset "KAFKA_LOG_MARK_$i"
        kafka_spawn_node "$i"
    done
    local timeout=${KAFKA_START_TIMEOUT_SECS:-$((nodes == 1 ? 90 : 180))}
    if ! kafka_wait_started "$timeout" $(seq 1 "$nodes"); then
        kafka_stop
        return 1
    fi
    RINGKAFKA_BOOTSTRAP=$(kafka_bootstrap)
    RINGKAFKA_ADMIN="127.0.0.1:${ports[0]}"
    export RINGKAFKA_BOOTSTRAP RINGKAFKA_ADMIN KAFKA_NODES
    kafka_log "Apache Kafka $KAFKA_VERSION: $nodes node(s) on $RINGKAFKA_BOOTSTRAP, logs $dir/node*/kafka.log"
}

# One node: the transaction tests and the latency comparisons.
kafka_start_single() { kafka_start_cluster 1; }

# Stops node N: SIGTERM (a controlled shutdown: its leaderships move first), SIGKILL after 30 s.
kafka_shutdown_node() {
    local n=$1 pid
    pid=$(kafka_node_pid "$n") || return 0
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT_SECS:-30}))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$(kafka_dir)/node$n/kafka.pid"
}

# kill -9 of node N (no controlled shutdown: its partitions' leadership moves only once the
# controller fences it, after broker.session.timeout.ms, 9 s by default).
kafka_kill() {
    local n=$1 pid
    kafka_load_state || return 1
    pid=$(kafka_node_pid "$n") || { echo "error: Kafka node $n is not running" >&2; return 1; }
    kill -9 "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$(kafka_dir)/node$n/kafka.pid"
    kafka_log "killed Kafka node $n (pid $pid)"
}

# Starts node N again on its old ports and storage (stopping it first if it still runs) and
# waits until it is up.
kafka_restart() {
    local n=$1
    kafka_load_state || return 1
    [[ -f "$(kafka_dir)/node$n/server.properties" ]] || { echo "error: no Kafka node $n here" >&2; return 1; }
    kafka_shutdown_node "$n"
    # Only a "started" line after this one counts.
    printf -v "KAFKA_LOG_MARK_$n" '%s' "$(wc -l <"$(kafka_dir)/node$n/kafka.log")"
    kafka_spawn_node "$n"
    kafka_wait_started "${KAFKA_START_TIMEOUT_SECS:-120}" "$n" || return 1
    kafka_log "restarted Kafka node $n (pid $(kafka_node_pid "$n"))"
}

# Stops every node of the cluster (SIGTERM to all, so that no node waits for a controller quorum
# that the others already left; SIGKILL after 30 s) and deletes the data. Safe to call twice.
kafka_stop() {
    local dir n pid pids=()
    dir=$(kafka_dir)
    [[ -f "$dir/cluster.env" ]] || return 0
    kafka_load_state || return 0
    for ((n = 1; n <= KAFKA_NODES; n++)); do
        if pid=$(kafka_node_pid "$n"); then
            kill "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    local deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT_SECS:-30}))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    for ((n = 1; n <= KAFKA_NODES; n++)); do
        rm -f "$dir/node$n/kafka.pid"
        rm -rf "$dir/node$n/data"
    done
    rm -f "$dir/cluster.env"
}

# Prints the CPU time the cluster's running nodes have used so far, in clock ticks (utime +
# stime of each JVM, from /proc; `getconf CLK_TCK` per second): the difference around a run is
# what the brokers spent on it, whatever else the machine runs.
kafka_cpu_ticks() {
    local n pid total=0 fields
    kafka_load_state || return 1
    for ((n = 1; n <= KAFKA_NODES; n++)); do
        pid=$(kafka_node_pid "$n") || continue
        # Fields 14 and 15 (utime, stime); the command name (field 2) has no spaces: java.
        read -r -a fields <"/proc/$pid/stat" || continue
        total=$((total + fields[13] + fields[14]))
    done
    echo "$total"
}

# Runs Kafka's TopicCommand against the running cluster: kafka_topics --list, ...
kafka_topics() {
    local bootstrap
    bootstrap=$(kafka_bootstrap) || return 1
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" "$@"
}

# Creates a topic with Kafka's TopicCommand and waits until every partition has a leader and
# its full replica set in sync (Kafka confirms a topic before that). Options: --partitions P
# (default 6 on a cluster, 3 on one node), --replication-factor R (default min(nodes, 3)),
# --config k=v (repeatable).
kafka_topic_create() {
    local topic=$1
    shift
    kafka_load_state || return 1
    local partitions=$((KAFKA_NODES == 1 ? 3 : 6)) rf=$((KAFKA_NODES < 3 ? KAFKA_NODES : 3)) configs=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --partitions) partitions=$2; shift 2 ;;
            --replication-factor) rf=$2; shift 2 ;;
            --config) configs+=(--config "$2"); shift 2 ;;
            *) echo "error: kafka_topic_create: unknown option $1" >&2; return 2 ;;
        esac
    done
    local out
    if ! out=$(kafka_topics --create --topic "$topic" --partitions "$partitions" \
        --replication-factor "$rf" "${configs[@]}" 2>&1); then
        echo "error: creating topic $topic failed:" >&2
        echo "$out" >&2
        return 1
    fi
    kafka_topic_wait "$topic" "$partitions"
}

# Waits until each of the topic's P partitions has a leader and ISR = replicas (TopicCommand
# --describe; one JVM start takes longer than the metadata takes to reach every broker). Fails
# after KAFKA_TOPIC_TIMEOUT_SECS with the last description.
kafka_topic_wait() {
    local topic=$1 partitions=$2 desc
    local deadline=$((SECONDS + ${KAFKA_TOPIC_TIMEOUT_SECS:-60}))
    while :; do
        if desc=$(kafka_topics --describe --topic "$topic" 2>&1) && python3 -c '
import re, sys
want = int(sys.argv[1])
ok = 0
for line in sys.stdin:
    m = re.search(r"Partition: (\d+)\s+Leader: (-?\d+|none)\s+Replicas: ([\d,]+)\s+Isr: ([\d,]*)", line)
    if not m:
        continue
    leader, replicas, isr = m.group(2), set(m.group(3).split(",")), set(filter(None, m.group(4).split(",")))
    if leader not in ("-1", "none") and leader in isr and isr == replicas:
        ok += 1
sys.exit(0 if ok == want else 1)
' "$partitions" <<<"$desc"; then
            return 0
        fi
        if ((SECONDS >= deadline)); then
            echo "error: topic $topic: not every partition has a leader and a full ISR after ${KAFKA_TOPIC_TIMEOUT_SECS:-60}s; last seen:" >&2
            echo "$desc" >&2
            return 1
        fi
        sleep 0.5
    done
}

# Moves leadership back to the preferred replica (the first in the replica list) with Kafka's
# LeaderElectionCommand: a leader change without a broker going down. Arguments: TOPIC
# PARTITION, TOPIC (all its partitions), or none (every partition of every topic).
kafka_elect_preferred() {
    local bootstrap scope=(--all-topic-partitions) desc json
    bootstrap=$(kafka_bootstrap) || return 1
    if [[ -n "${2:-}" ]]; then
        scope=(--topic "$1" --partition "$2")
    elif [[ -n "${1:-}" ]]; then
        # The command takes one partition or a JSON file of them.
        desc=$(kafka_topics --describe --topic "$1" 2>/dev/null) || { echo "error: no topic $1" >&2; return 1; }
        json="$(kafka_dir)/elect-$1.json"
        python3 -c '
import json, re, sys
ps = sorted({int(m) for m in re.findall(r"Partition: (\d+)", sys.stdin.read())})
print(json.dumps({"partitions": [{"topic": sys.argv[1], "partition": p} for p in ps]}))' "$1" <<<"$desc" >"$json"
        scope=(--path-to-json-file "$json")
    fi
    kafka_tool org.apache.kafka.tools.LeaderElectionCommand --bootstrap-server "$bootstrap" \
        --election-type PREFERRED "${scope[@]}"
}

# Moves partitions to the replica lists of a reassignment JSON file (Kafka's format:
# {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3,1]},...]}) with
# ReassignPartitionsCommand (kafka-reassign-partitions), and waits until it is complete. The
# leaders stay where they are: a new first replica becomes the leader on the next
# preferred-leader election (kafka_elect_preferred).
kafka_reassign() {
    local file=$1 bootstrap out
    bootstrap=$(kafka_bootstrap) || return 1
    [[ -f "$file" ]] || { echo "error: no reassignment file $file" >&2; return 1; }
    if ! out=$(kafka_tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand \
        --bootstrap-server "$bootstrap" --reassignment-json-file "$file" --execute 2>&1); then
        echo "error: the reassignment failed:" >&2
        echo "$out" >&2
        return 1
    fi
    local deadline=$((SECONDS + ${KAFKA_TOPIC_TIMEOUT_SECS:-60}))
    while :; do
        out=$(kafka_tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand \
            --bootstrap-server "$bootstrap" --reassignment-json-file "$file" --verify 2>&1) || true
        grep -q 'still in progress' <<<"$out" || break
        if ((SECONDS >= deadline)); then
            echo "error: the reassignment is not complete after ${KAFKA_TOPIC_TIMEOUT_SECS:-60}s:" >&2
            echo "$out" >&2
            return 1
        fi
        sleep 0.5
    done
    if ! grep -q 'is complete' <<<"$out"; then
        echo "error: the reassignment did not complete:" >&2
        echo "$out" >&2
        return 1
    fi
}

# Runs Java's own producer benchmark (kafka-producer-perf-test) from the cached jars, with the
# JVM flags kafka-producer-perf-test.sh gives it (-Xmx512M and kafka-run-class.sh's), e.g.
#   kafka_producer_perf --topic t --num-records 1000000 --record-size 100 --throughput -1 \
#       --bootstrap-server "$RINGKAFKA_BOOTSTRAP" --command-property acks=all linger.ms=5
kafka_producer_perf() {
    local flags
    kafka_write_log4j
    mapfile -t flags < <(kafka_jvm_flags "-Xmx512M $KAFKA_JVM_PERFORMANCE_OPTS")
    java "${flags[@]}" org.apache.kafka.tools.ProducerPerformance "$@"
}
