#!/usr/bin/env python3
"""Instructions per record, instruction by instruction, for one function of an instr.sh run.

    INSTR_KEEP=/tmp/cg tools/perf/instr.sh --api callback      # keeps callgrind.callback, with
                                                               # per-instruction counts
    tools/perf/cg-asm.py /tmp/cg/callgrind.callback 'sender::take_messages' 100000 [--lines]

Joins callgrind's per-instruction counts (--dump-instr=yes) for the functions whose name
contains the given text with `objdump -d` of the profiled binary, and prints each executed
instruction with its count divided by the record count, its source file:line (what was inlined
there), and for calls the callee's inclusive count. With --lines, sums per source line instead.
Inlining makes line attribution approximate; the instructions are exact.
"""
import collections
import re
import subprocess
import sys


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    by_line = "--lines" in sys.argv
    path, want = args[0], args[1]
    div = float(args[2]) if len(args) > 2 else 1.0
    names, binary = {}, None
    cost = collections.defaultdict(collections.Counter)
    calls = collections.defaultdict(collections.Counter)
    callee = collections.defaultdict(dict)
    loc = {}
    fn = fn_file = cur_file = cfn = None
    last_addr = last_line = 0
    pending_call = False

    def name(kind, rest):
        m = re.match(r"\((\d+)\)(?: (.*))?", rest)
        if not m:
            return rest
        if m.group(2) is not None:
            names[(kind, m.group(1))] = m.group(2)
        return names.get((kind, m.group(1)), "?")

    def pos(tok, last):
        if tok == "*":
            return last
        if tok[0] in "+-":
            v = int(tok[1:], 0)
            return last + v if tok[0] == "+" else last - v
        return int(tok, 0)

    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("cmd:") and binary is None:
            binary = line.split()[1]
        elif line.startswith("fn="):
            fn, cur_file = name("fn", line[3:]), fn_file
        elif line.startswith("fl="):
            fn_file = cur_file = name("fl", line[3:])
        elif line.startswith(("fi=", "fe=")):
            cur_file = name("fl", line[3:])
        elif line.startswith(("cfi=", "cfl=")):
            name("fl", line[4:])
        elif line.startswith("cfn="):
            cfn = name("fn", line[4:])
        elif line.startswith("calls="):
            pending_call = True
        elif line and line[0] in "0123456789+-*":
            parts = line.split()
            a = last_addr = pos(parts[0], last_addr)
            ln = last_line = pos(parts[1], last_line) if len(parts) > 1 else last_line
            ir = int(parts[2]) if len(parts) > 2 else 0
            loc[a] = (cur_file or "?", ln)
            if pending_call:
                calls[fn][a] += ir
                callee[fn][a] = cfn
                pending_call = False
            else:
                cost[fn][a] += ir
    for f in sorted(set(cost) | set(calls)):
        if want not in f:
            continue
        c, cl = cost[f], calls[f]
        print(f"==== {f}: self {sum(c.values()) / div:.1f}, calls {sum(cl.values()) / div:.1f}")
        if by_line:
            per = collections.Counter()
            for a, ir in c.items():
                per[loc[a]] += ir
            for (fl, ln), ir in per.most_common():
                if ir / div >= 0.5:
                    print(f"{ir / div:8.1f}  {'/'.join(fl.split('/')[-3:])}:{ln}")
            continue
        addrs = sorted(set(c) | set(cl))
        out = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", "-M", "intel", f"--start-address={addrs[0]:#x}",
             f"--stop-address={addrs[-1] + 16:#x}", binary],
            capture_output=True, text=True).stdout
        for l in out.splitlines():
            m = re.match(r"\s*([0-9a-f]+):\s*(.*)", l)
            if not m:
                continue
            a = int(m.group(1), 16)
            if a not in c and a not in cl:
                continue
            fl, ln = loc.get(a, ("?", 0))
            s = f"{c[a] / div:8.2f}  {a:x}: {re.sub(r'<[^>]*>', '', m.group(2))[:56]:56} {fl.split('/')[-1]}:{ln}"
            if a in cl:
                s += f"  ==> {cl[a] / div:.1f} {callee[f].get(a, '')[:80]}"
            print(s)


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
