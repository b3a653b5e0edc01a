#!/usr/bin/env bash
# Start/stop helpers for a throw-away Tansu broker (Kafka-compatible), used by scripts/test.sh.
#
# Usage, sourced:   . scripts/tansu.sh; tansu_ensure_installed; tansu_start; ...; tansu_stop
# Usage, directly:  scripts/tansu.sh start   # prints RINGKAFKA_BOOTSTRAP=..., leaves it running
#                   scripts/tansu.sh stop    # stops the broker started by `start`
#
# Tansu 0.6.0 facts this relies on (checked by hand, see docs/tansu.md):
# - `tansu --version` prints `tansu 0.6.0`. `tansu` with no subcommand is `tansu broker`.
# - Every broker flag also reads an env var (LISTENER_URL, ADVERTISED_LISTENER_URL,
#   STORAGE_ENGINE, CLUSTER_ID, ...). We pass every one we care about explicitly so a stray
#   variable in the caller's environment cannot redirect the broker.
# - URLs must carry the scheme: `--broker 127.0.0.1:9092` is rejected ("relative URL without a
#   base"); it must be `tcp://127.0.0.1:9092`.
# - --cluster-id is optional (default `tansu_cluster`); the node id it reports is 111.
# - With memory://tansu/ it is ready in a few milliseconds; nothing persists across restarts.
# - Topics are never auto-created; `tansu topic create` exits 1 if the topic exists.

TANSU_VERSION=0.6.0
# dynostore gives memory:// storage; libsql gives sqlite:// storage that survives a restart
# (the kill -9 test) and holds SCRAM users (the SASL tests).
TANSU_FEATURES=dynostore,libsql
# A root of our own, keyed by version and features, so an older or differently built tansu on
# PATH is never mistaken for this one. Outside the repo: a fresh clone reuses it.
TANSU_ROOT="${TANSU_ROOT:-$HOME/.local/share/ringkafka/tansu-$TANSU_VERSION-${TANSU_FEATURES//,/-}}"

# Finds the tansu binary: $TANSU_BIN, then PATH, then ~/.cargo/bin/tansu. Prints the path.
tansu_find() {
    if [[ -n "${TANSU_BIN:-}" && -x "${TANSU_BIN}" ]]; then
        echo "$TANSU_BIN"
    elif command -v tansu >/dev/null 2>&1; then
        command -v tansu
    elif [[ -x "$HOME/.cargo/bin/tansu" ]]; then
        echo "$HOME/.cargo/bin/tansu"
    else
        return 1
    fi
}

# Installs Tansu $TANSU_VERSION with cargo unless that exact version is already there (~10 min on
# 2 cores). Exports TANSU_BIN.
tansu_ensure_installed() {
    local bin="$TANSU_ROOT/bin/tansu"
    if [[ -n "${TANSU_BIN:-}" && "$("$TANSU_BIN" --version 2>/dev/null)" == "tansu $TANSU_VERSION" ]]; then
        return 0
    fi
    if [[ "$("$bin" --version 2>/dev/null)" != "tansu $TANSU_VERSION" ]]; then
        echo "==> installing tansu $TANSU_VERSION ($TANSU_FEATURES) into $TANSU_ROOT (cargo install, ~10 minutes)" >&2
        # Own target dir: the install must not contend for the project's build lock, and a rerun
        # after a failure reuses what was built.
        CARGO_TARGET_DIR="${TANSU_BUILD_DIR:-$HOME/.cache/ringkafka/tansu-build}" \
            cargo install tansu --version "$TANSU_VERSION" --locked --features "$TANSU_FEATURES" \
            --root "$TANSU_ROOT" --force >&2
    fi
    if [[ "$("$bin" --version 2>/dev/null)" != "tansu $TANSU_VERSION" ]]; then
        echo "error: tansu $TANSU_VERSION still not found at $bin after cargo install" >&2
        return 1
    fi
    export TANSU_BIN="$bin"
}

# Prints a free TCP port on 127.0.0.1 (bind port 0 and let the kernel choose).
tansu_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    # No python3: probe random high ports until one refuses connections.
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    return 1
}

# Starts a broker on a free loopback port; waits until it answers a Kafka Metadata request
# (`tansu topic list`). Sets and exports TANSU_PID, TANSU_PORT, TANSU_LOG, RINGKAFKA_BOOTSTRAP.
# On failure prints the broker's log and returns non-zero.
tansu_start() {
    local bin timeout="${TANSU_START_TIMEOUT_SECS:-30}"
    bin=$(tansu_find) || { echo "error: tansu not found (set TANSU_BIN or run tansu_ensure_installed)" >&2; return 1; }
    mkdir -p target
    TANSU_PORT=$(tansu_free_port) || { echo "error: no free port" >&2; return 1; }
    TANSU_LOG="$PWD/target/tansu-$TANSU_PORT.log"
    local url="tcp://127.0.0.1:$TANSU_PORT"
    # RUST_LOG (if the caller set one) is passed through; tansu logs to stdout/stderr.
    "$bin" broker \
        --cluster-id ringkafka-test \
        --listener-url "$url" \
        --advertised-listener-url "$url" \
        --storage-engine memory://tansu/ \
        >"$TANSU_LOG" 2>&1 </dev/null &
    TANSU_PID=$!
    export TANSU_PID TANSU_PORT TANSU_LOG TANSU_BIN="$bin"

    local deadline=$((SECONDS + timeout))
    until "$bin" topic list --broker "$url" >/dev/null 2>&1; do
        if ! kill -0 "$TANSU_PID" 2>/dev/null; then
            echo "error: tansu exited during start-up; its log ($TANSU_LOG):" >&2
            cat "$TANSU_LOG" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "error: tansu did not answer Kafka requests on $url within ${timeout}s; its log ($TANSU_LOG):" >&2
            cat "$TANSU_LOG" >&2
            tansu_stop
            return 1
        fi
        sleep 0.1
    done
    export RINGKAFKA_BOOTSTRAP="127.0.0.1:$TANSU_PORT"
    echo "==> tansu $("$bin" --version | cut -d' ' -f2) pid $TANSU_PID on $RINGKAFKA_BOOTSTRAP, log $TANSU_LOG" >&2
}

# Stops the broker started by tansu_start (only that pid). Safe to call twice.
tansu_stop() {
    if [[ -n "${TANSU_PID:-}" ]] && kill -0 "$TANSU_PID" 2>/dev/null; then
        kill "$TANSU_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$TANSU_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$TANSU_PID" 2>/dev/null || true
        wait "$TANSU_PID" 2>/dev/null || true
    fi
    TANSU_PID=
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    cd "$(dirname "$0")/.."
    case "${1:-}" in
        start)
            tansu_ensure_installed
            tansu_start
            echo "$TANSU_PID" >target/tansu.pid
            echo "export RINGKAFKA_BOOTSTRAP=$RINGKAFKA_BOOTSTRAP TANSU_BIN=$TANSU_BIN"
            ;;
        stop)
            if [[ -f target/tansu.pid ]]; then
                TANSU_PID=$(cat target/tansu.pid)
                # Not our child here, so poll instead of wait.
                kill "$TANSU_PID" 2>/dev/null || true
                rm -f target/tansu.pid
            fi
            ;;
        *)
            echo "usage: $0 start|stop" >&2
            exit 2
            ;;
    esac
fi
