#!/usr/bin/env bash
# Instructions per record, counted by valgrind's callgrind (stable on a busy machine: no
# timing): `send()` on the caller's thread, and the sender's work per record beyond the user's
# callback. Runs benches/instructions.rs (a whole producer on one thread, no ring; see there)
# once per send style, and prints one line each, with its allocations and frees per record.
#
#   tools/perf/instr.sh [--records N] [--record-size BYTES] [--burst N] [--api forget|callback|future]...
#
# Default: 100000 records of 100 bytes, bursts of 1000, all three send styles. With
# INSTR_KEEP=DIR the callgrind files stay in DIR, for `callgrind_annotate --inclusive=yes`, with
# per-instruction counts for tools/perf/cg-asm.py (a function's instructions per record, each
# with its source line).
set -euo pipefail
cd "$(dirname "$0")/../.."

records=100000
apis=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --api) apis+=("$2"); shift 2 ;;
    --records) records="$2"; shift 2 ;;
    --record-size|--burst|--partitions) extra+=("$1" "$2"); shift 2 ;;
    *) echo "instr.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#apis[@]} -gt 0 ] || apis=(forget callback future)

command -v valgrind >/dev/null || { echo "instr.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
bin=$(cargo bench --features internals --bench instructions --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*instructions-[^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "instr.sh: could not build benches/instructions.rs" >&2; exit 1; }

dir=${INSTR_KEEP:-$(mktemp -d)}
mkdir -p "$dir"
# Inclusive Ir of a function in a callgrind file (0 if it never ran).
inclusive() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    awk -v f="$2" '$0 ~ ("[ :]" f " ") || $0 ~ ("[ :]" f "$") { gsub(",", "", $1); if ($1 + 0 > max) max = $1 + 0 } END { print max + 0 }'
}
printf '%-9s %9s %14s %14s %12s  %s\n' api records "send() Ir/rec" "sender Ir/rec" "callback" "allocations per record"
for api in "${apis[@]}"; do
  out="$dir/callgrind.$api"
  line=$(valgrind --tool=callgrind --callgrind-out-file="$out" ${INSTR_KEEP:+--dump-instr=yes} \
      --toggle-collect='instructions::measured_send' --toggle-collect='instructions::measured_turn' \
      "$bin" --api "$api" --records "$records" "${extra[@]}" 2>/dev/null)
  send=$(inclusive "$out" 'instructions::measured_send')
  turn=$(inclusive "$out" 'instructions::measured_turn')
  cb=$(inclusive "$out" 'instructions::user_callback')
  awk -v api="$api" -v n="$records" -v s="$send" -v t="$turn" -v c="$cb" -v l="$line" 'BEGIN {
    sub(/.*per record, /, "", l);
    printf "%-9s %9d %14.1f %14.1f %12.1f  %s\n", api, n, s / n, (t - c) / n, c / n, l }'
done
[ -n "${INSTR_KEEP:-}" ] || rm -rf "$dir"
