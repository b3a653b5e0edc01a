#!/usr/bin/env bash
# Tests everything: formatting, lints, API docs, unit + integration + doc tests, the live ones
# against real brokers that this script installs, starts and stops: Tansu 0.6.0, and Apache
# Kafka 4.4.0 as one node and as a 3-node cluster (scripts/kafka.sh; Java 17 and mvn needed).
#
#   scripts/test.sh
#
# Environment:
#   CI=true               a broker that cannot be installed or started is a failure (it is
#                         locally too: no test is ever skipped for want of a broker).
#   RINGKAFKA_BOOTSTRAP   if set (and CI is not), use that broker instead of starting Tansu;
#                         tests then also need `tansu` to create topics on it.
#   TANSU_BIN             the tansu binary to use (default: PATH, then ~/.cargo/bin/tansu).
#   CARGO_TARGET_DIR      respected; Tansu's log always goes to ./target/tansu-PORT.log, the
#                         Kafka nodes' to ./target/kafka-{single,cluster}/node*/kafka.log.
#
# The tests find the brokers in RINGKAFKA_BOOTSTRAP (Tansu), RINGKAFKA_KAFKA_BOOTSTRAP (one Kafka
# node), RINGKAFKA_KAFKA_TV1_BOOTSTRAP (one Kafka node formatted with transaction.version=1, for
# the transaction tests of the older protocol) and RINGKAFKA_KAFKA_CLUSTER_BOOTSTRAP (the cluster;
# RINGKAFKA_KAFKA_CLUSTER_DIR is the KAFKA_DIR that `tools/perf/kafka-broker.sh kill|restart N`
# act on).
#
# Prerequisites it installs when missing (as root, with apt-get): cmake, a C/C++ compiler and
# make (rdkafka-sys builds librdkafka from source with cmake; zlib is built from the vendored
# libz-sys source when the system has none), stunnel4 and openssl for the TLS tests, chromium
# for the perf tool's report test, Tansu 0.6.0 via `cargo install` (~10 min), and a pinned
# nightly toolchain with Miri via rustup.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tansu.sh
. scripts/kafka.sh

step() { echo "==> $*" >&2; }

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
command -v make >/dev/null 2>&1 || need_apt+=(make)
# librdkafka's cmake build finds libcurl on these machines and then needs its headers.
[[ -f /usr/include/curl/curl.h || -f /usr/include/x86_64-linux-gnu/curl/curl.h ]] || need_apt+=(libcurl4-openssl-dev)
# stunnel4: the TLS terminator in front of Tansu for the security tests (tests/security.rs).
command -v stunnel4 >/dev/null 2>&1 || need_apt+=(stunnel4)
# openssl: the security tests make a self-signed broker certificate with `openssl req -x509`.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# chromium: ringkafka-perf's --report is opened in a headless browser (tools/perf/tests/cli.rs).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if ((${#need_apt[@]})); then
    step "installing ${need_apt[*]} (librdkafka's build, the TLS tests, the perf report's browser test)"
    if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${need_apt[@]}"
fi
for c in fmt clippy; do
    if ! cargo "$c" --version >/dev/null 2>&1; then
        echo "error: cargo $c is missing; install it with: rustup component add ${c/fmt/rustfmt}" >&2
        exit 1
    fi
done

use_external=
if [[ -n "${RINGKAFKA_BOOTSTRAP:-}" && "${CI:-}" != "true" ]]; then
    use_external=1
    step "using the broker at RINGKAFKA_BOOTSTRAP=$RINGKAFKA_BOOTSTRAP (not starting Tansu)"
fi
# Install Tansu before the long build, so that a failure shows up early. The tests need the
# binary even with an external broker: they create their topics with `tansu topic create`.
tansu_ensure_installed
# Apache Kafka 4.4.0 (jars from Maven Central, Java 17): the reference broker for the
# transaction tests (one node) and the replication and failover tests (a 3-node cluster).
kafka_ensure_installed

step "cargo fmt --all -- --check"
cargo fmt --all -- --check
step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
# The API docs as a user sees them (no features; then with the mock cluster): every public item
# documented (`#![deny(missing_docs)]`), no broken links.
step "cargo doc --no-deps -p ringkafka (-D warnings; without features, then --features mock)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p ringkafka
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p ringkafka --features mock
# `unsafe` only in src/io: src/lib.rs denies it for the crate and forbids it module by module;
# a lint level set anywhere else could lift that.
step "no unsafe_code lint level outside src/lib.rs"
if grep -rn --include='*.rs' 'unsafe_code' src | grep -v '^src/lib\.rs:'; then
    echo "error: unsafe_code lint levels belong in src/lib.rs only (unsafe is for src/io)" >&2
    exit 1
fi
# Miri runs the application->sender queue's tests (src/io/queue.rs, the hand-off every record
# takes) under its data-race and weak-memory checks, on 32 schedules. It found a double drop
# there that x86's strong ordering hides. A pinned nightly with miri, installed when missing.
MIRI_TOOLCHAIN=nightly-2026-05-20
if ! cargo "+$MIRI_TOOLCHAIN" miri --version >/dev/null 2>&1; then
    step "installing $MIRI_TOOLCHAIN with miri (for the queue's Miri tests)"
    rustup toolchain install "$MIRI_TOOLCHAIN" --profile minimal --component miri,rust-src
fi
step "cargo +$MIRI_TOOLCHAIN miri test --lib io::queue (32 seeds)"
MIRIFLAGS="-Zmiri-many-seeds=0..32" cargo "+$MIRI_TOOLCHAIN" miri test --lib io::queue
# And a DeliveryFuture's hand-off (src/delivery.rs: an atomic state word, park/unpark, wakers).
step "cargo +$MIRI_TOOLCHAIN miri test --lib delivery::tests (8 seeds)"
MIRIFLAGS="-Zmiri-many-seeds=0..8" cargo "+$MIRI_TOOLCHAIN" miri test --lib delivery::tests
# Build every test before starting the broker so it does not idle through the compile.
step "cargo test --workspace --all-targets --no-run"
cargo test --workspace --all-targets --no-run

KAFKA_SINGLE_DIR=$PWD/target/kafka-single
KAFKA_TV1_DIR=$PWD/target/kafka-tv1
KAFKA_CLUSTER_DIR=$PWD/target/kafka-cluster
stop_brokers() {
    [[ -n "$use_external" ]] || tansu_stop
    KAFKA_DIR=$KAFKA_SINGLE_DIR kafka_stop
    KAFKA_DIR=$KAFKA_TV1_DIR kafka_stop
    KAFKA_DIR=$KAFKA_CLUSTER_DIR kafka_stop
}
trap stop_brokers EXIT
trap 'exit 130' INT TERM
# Both Kafkas start at once (their JVMs take ~40 s on two busy cores), Tansu meanwhile.
step "starting Apache Kafka: one node, and a 3-node cluster (replication factor 3, min.insync.replicas=2)"
(KAFKA_DIR=$KAFKA_SINGLE_DIR kafka_start_single) &
single_pid=$!
# Transaction version 1 (AddPartitionsToTxn, no epoch bump per transaction) needs a cluster
# formatted for it: Kafka 4.4 finalizes version 2 by default.
(KAFKA_DIR=$KAFKA_TV1_DIR KAFKA_HEAP_OPTS="-Xms512m -Xmx512m" \
    KAFKA_FORMAT_ARGS="--feature transaction.version=1" kafka_start_single) &
tv1_pid=$!
(KAFKA_DIR=$KAFKA_CLUSTER_DIR kafka_start_cluster 3) &
cluster_pid=$!
if [[ -z "$use_external" ]]; then
    tansu_start
fi
wait "$single_pid" || { echo "error: the single-node Kafka did not start" >&2; exit 1; }
wait "$tv1_pid" || { echo "error: the single-node Kafka with transaction.version=1 did not start" >&2; exit 1; }
wait "$cluster_pid" || { echo "error: the 3-node Kafka cluster did not start" >&2; exit 1; }
export RINGKAFKA_BOOTSTRAP
# The tests' view of the brokers (tests/support): Tansu at RINGKAFKA_BOOTSTRAP, the single Kafka
# node, and the cluster with the directory its control functions (kill, restart) act on.
RINGKAFKA_KAFKA_BOOTSTRAP=$(KAFKA_DIR=$KAFKA_SINGLE_DIR kafka_bootstrap)
RINGKAFKA_KAFKA_TV1_BOOTSTRAP=$(KAFKA_DIR=$KAFKA_TV1_DIR kafka_bootstrap)
RINGKAFKA_KAFKA_CLUSTER_BOOTSTRAP=$(KAFKA_DIR=$KAFKA_CLUSTER_DIR kafka_bootstrap)
RINGKAFKA_KAFKA_CLUSTER_DIR=$KAFKA_CLUSTER_DIR
export RINGKAFKA_KAFKA_BOOTSTRAP RINGKAFKA_KAFKA_TV1_BOOTSTRAP RINGKAFKA_KAFKA_CLUSTER_BOOTSTRAP \
    RINGKAFKA_KAFKA_CLUSTER_DIR

step "cargo test --workspace --all-targets"
cargo test --workspace --all-targets
step "cargo test --doc"
cargo test --doc
# LZ4HC (compression.lz4.level other than 9) is behind the lz4hc feature: its own tests.
step "cargo test --features lz4hc (compression unit tests, live codec test)"
cargo test -p ringkafka --features lz4hc --lib protocol::compression
cargo test -p ringkafka --features lz4hc --test compression
step "all tests passed"
