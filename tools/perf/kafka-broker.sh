#!/usr/bin/env bash
# Throw-away Apache Kafka brokers on loopback (KRaft, broker and controller in each JVM): one
# node by default, or a cluster (--nodes 3: replication factor 3, min.insync.replicas=2). The
# command line over scripts/kafka.sh, which says what the cluster is made of. Prints the
# environment for tools/perf/compare.sh and the tests.
#
#   eval "$(tools/perf/kafka-broker.sh start [--nodes 3])"
#   tools/perf/kafka-broker.sh topic create NAME [--partitions 6] [--replication-factor 3] [--config k=v]
#   tools/perf/kafka-broker.sh topic describe NAME     # any TopicCommand action: topic --list, ...
#   tools/perf/kafka-broker.sh kill N                  # kill -9 node N (failover tests)
#   tools/perf/kafka-broker.sh restart N               # start node N again (same ports and data)
#   tools/perf/kafka-broker.sh shutdown N              # controlled shutdown of node N
#   tools/perf/kafka-broker.sh elect-leaders [TOPIC [PARTITION]]  # preferred-leader election
#   tools/perf/kafka-broker.sh reassign FILE           # kafka-reassign-partitions --execute, waited for
#   tools/perf/kafka-broker.sh status
#   tools/perf/kafka-broker.sh stop                    # every node; the data is deleted
#
# compare.sh starts and stops brokers itself with --broker kafka|kafka-cluster.
#
# No Kafka tarball is downloaded: the first start fetches the broker and Kafka's tools from
# Maven Central into ~/.cache/ringkafka/kafka-$KAFKA_VERSION/lib. Needs java 17+ and mvn. Each
# start formats fresh storage under target/kafka, so nothing persists. Environment: see
# scripts/kafka.sh (KAFKA_HEAP_OPTS, KAFKA_START_TIMEOUT_SECS, ...).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/kafka.sh

usage() {
    echo "usage: $0 start [--nodes N] | stop | status | kill N | restart N | shutdown N | elect-leaders [TOPIC [PARTITION]] |" >&2
    echo "       reassign FILE |" >&2
    echo "       topic create NAME [--partitions P] [--replication-factor R] [--config k=v]... |" >&2
    echo "       topic <TopicCommand action> [args]   (e.g. topic describe NAME, topic --list)" >&2
    exit 2
}

node_arg() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] || usage
    kafka_load_state
    ((1 <= $1 && $1 <= KAFKA_NODES)) || { echo "error: no node $1 (the cluster has $KAFKA_NODES)" >&2; exit 2; }
}

case "${1:-}" in
    start)
        nodes=1
        shift
        while [[ $# -gt 0 ]]; do
            case "$1" in
                --nodes) nodes=${2:-}; shift 2 || usage ;;
                *) usage ;;
            esac
        done
        kafka_ensure_installed
        kafka_start_cluster "$nodes"
        echo "export RINGKAFKA_BOOTSTRAP=$RINGKAFKA_BOOTSTRAP RINGKAFKA_ADMIN=$RINGKAFKA_ADMIN"
        ;;
    stop)
        kafka_stop
        ;;
    status)
        kafka_load_state
        echo "bootstrap: $(kafka_bootstrap)"
        for ((n = 1; n <= KAFKA_NODES; n++)); do
            if pid=$(kafka_node_pid "$n"); then state="running, pid $pid"; else state="stopped"; fi
            echo "node $n: 127.0.0.1:$(echo "$KAFKA_PORTS" | cut -d' ' -f"$n") $state"
        done
        ;;
    kill)
        node_arg "${2:-}"
        kafka_kill "$2"
        ;;
    restart)
        node_arg "${2:-}"
        kafka_restart "$2"
        ;;
    shutdown)
        node_arg "${2:-}"
        kafka_shutdown_node "$2"
        kafka_log "Kafka node $2 shut down"
        ;;
    elect-leaders)
        kafka_elect_preferred "${2:-}" "${3:-}"
        ;;
    reassign)
        [[ -n "${2:-}" ]] || usage
        kafka_reassign "$2"
        ;;
    topic)
        shift
        case "${1:-}" in
            create)
                [[ -n "${2:-}" ]] || usage
                shift
                kafka_topic_create "$@"
                ;;
            describe | delete | alter)
                [[ -n "${2:-}" ]] || usage
                kafka_topics "--$1" --topic "$2" "${@:3}"
                ;;
            "") usage ;;
            *) kafka_topics "$@" ;;
        esac
        ;;
    *)
        usage
        ;;
esac
