#!/usr/bin/env bash
# Starts a throw-away single-node Apache Kafka broker (KRaft, broker and controller in one JVM) on
# loopback, as a second reference broker: Tansu is our usual one, and this shows what latency the
# clients get against Kafka's own broker. Prints the environment for tools/perf/compare.sh.
#
#   eval "$(tools/perf/kafka-broker.sh start)"
#   tools/perf/compare.sh --runs 3 -- --num-records 1000000 --record-size 100 \
#       --producer-props acks=all enable.idempotence=true linger.ms=5
#   tools/perf/kafka-broker.sh stop
#
# No Kafka tarball is downloaded: the first start fetches org.apache.kafka:kafka_2.13 and its
# runtime dependencies from Maven Central with a generated pom into
# ~/.cache/ringkafka/kafka-$KAFKA_VERSION/lib (about 45 MB), later starts reuse it. Needs java
# (17+) and mvn. Each start formats fresh storage under target/perf-kafka, so nothing persists.
#
# compare.sh creates its topics with `tansu topic create`, which speaks CreateTopics and works
# against this broker unchanged. num.partitions=3 also makes topics that a producer's Metadata
# request auto-creates have 3 partitions, like compare.sh's default. Unlike Tansu, Kafka answers
# CreateTopics before the new partitions have a leader on the broker, so a producer started at
# once spends its first 100-300 ms on metadata retries: in short paced runs that is the p99.
#
# Environment: KAFKA_VERSION (default 4.4.0), KAFKA_HEAP_OPTS (default -Xms1g -Xmx1g),
# KAFKA_START_TIMEOUT_SECS (default 60).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/tansu.sh # tansu_free_port; tansu itself is only needed by compare.sh for topic creation
dir=$PWD/target/perf-kafka
version=${KAFKA_VERSION:-4.4.0}
cache=$HOME/.cache/ringkafka/kafka-$version
log4j=2.25.5

# Fetches kafka_2.13 and what it needs at run time into $cache/lib, unless already there.
fetch() {
    [[ -f "$cache/lib/.complete" ]] && return 0
    echo "==> fetching Apache Kafka $version from Maven Central into $cache/lib" >&2
    command -v mvn >/dev/null || { echo "error: mvn is missing" >&2; return 1; }
    mkdir -p "$cache"
    # Kafka's pom puts slf4j-api 1.7 and log4j-core on the runtime path but no binding between
    # them (the distribution adds log4j-slf4j-impl itself), so the broker would log nothing.
    cat >"$cache/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ringkafka</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$log4j</version>
    </dependency>
  </dependencies>
</project>
EOF
    rm -rf "${cache:?}/lib"
    (cd "$cache" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=lib >&2)
    touch "$cache/lib/.complete"
}

# Runs a Kafka main class with the cached class path, quiet log4j2 config and the JVM flags of
# Kafka's own kafka-server-start.sh / kafka-run-class.sh. It execs: call it in a subshell or
# with &, so that $! is the JVM's own pid and `stop` signals the JVM, not a shell around it.
kafka_java() {
    local heap
    read -r -a heap <<<"${KAFKA_HEAP_OPTS:--Xms1g -Xmx1g}"
    exec java "${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dkafka.logs.dir="$dir" \
        -cp "$cache/lib/*" "$@"
}

stop() {
    [[ -f "$dir/kafka.pid" ]] || return 0
    local pid
    pid=$(cat "$dir/kafka.pid")
    # Only the pid we started, and only if it is still our broker (the pid may have been reused).
    if kill -0 "$pid" 2>/dev/null && grep -q kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 150); do # a controlled shutdown takes a few seconds
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/kafka.pid"
    rm -rf "$dir/data"
}

case "${1:-}" in
    start)
        command -v java >/dev/null || { echo "error: java is missing" >&2; exit 1; }
        fetch
        stop # a broker left over from an earlier start
        mkdir -p "$dir"
        port=$(tansu_free_port)
        controller=$(tansu_free_port)
        while [[ "$controller" == "$port" ]]; do controller=$(tansu_free_port); done
        cat >"$dir/server.properties" <<EOF
node.id=1
process.roles=broker,controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.quorum.bootstrap.servers=127.0.0.1:$controller
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
        # Warnings and errors only, plus the one line that says the broker is up.
        cat >"$dir/log4j2.properties" <<'EOF'
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=out
logger.raftserver.name=kafka.server.KafkaRaftServer
logger.raftserver.level=INFO
EOF
        # A random cluster id: 16 bytes, URL-safe base64 without padding, as Kafka's Uuid wants.
        cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        (kafka_java kafka.tools.StorageTool format --standalone -t "$cluster_id" \
            -c "$dir/server.properties" >"$dir/format.log" 2>&1) ||
            { echo "error: formatting the storage failed:" >&2; cat "$dir/format.log" >&2; exit 1; }
        kafka_java kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$dir/kafka.pid"
        deadline=$((SECONDS + ${KAFKA_START_TIMEOUT_SECS:-60}))
        until grep -q 'Kafka Server started' "$dir/kafka.log"; do
            if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
                echo "error: Kafka did not start on 127.0.0.1:$port; its log ($dir/kafka.log):" >&2
                cat "$dir/kafka.log" >&2
                stop
                exit 1
            fi
            sleep 0.2
        done
        echo "==> Apache Kafka $version pid $pid on 127.0.0.1:$port, log $dir/kafka.log" >&2
        # compare.sh creates topics with tansu's CLI at RINGKAFKA_ADMIN: set it too, so one left
        # over from tls-broker.sh in the same shell cannot point elsewhere.
        echo "export RINGKAFKA_BOOTSTRAP=127.0.0.1:$port RINGKAFKA_ADMIN=127.0.0.1:$port"
        ;;
    stop)
        stop
        ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
