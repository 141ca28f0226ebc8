#!/usr/bin/env python3
"""attach_bench.py - figures of `nmleak attach` on an unmodified process: the time attach takes
(end to end, and how long the borrowed thread was away), and the cost of one malloc+free pair
before, during and after the attach, in interleaved rounds.

    python3 attach_bench.py BUILD_DIR [--rounds 5] [--threads 1]
"""
import argparse, re, statistics, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--threads", type=int, default=1)
args = ap.parse_args()
nmleak = f"{args.build}/inject/nmleak"
prog = f"{args.build}/tests/bench/attach_overhead"

p = subprocess.Popen([prog, str(args.threads)], stdout=subprocess.PIPE, text=True)
pid = p.stdout.readline().split()[1]

def windows(n):
    out = []
    while len(out) < n:
        line = p.stdout.readline()
        if line.startswith("window"):
            out.append(float(line.split()[1]))
    return out

plain, attached, after, total_ms, stopped_ms, detach_ms = [], [], [], [], [], []
for r in range(args.rounds):
    windows(1)  # settle
    plain += windows(5)
    t0 = time.monotonic()
    a = subprocess.run([nmleak, "attach", pid], capture_output=True, text=True)
    total_ms.append((time.monotonic() - t0) * 1000)
    if a.returncode:
        sys.exit(a.stderr)
    m = re.search(r"was stopped ([0-9.]+) ms", a.stdout)
    stopped_ms.append(float(m.group(1)))
    windows(1)  # the window the attach happened in
    attached += windows(5)
    t0 = time.monotonic()
    d = subprocess.run([nmleak, "detach", pid], capture_output=True, text=True)
    detach_ms.append((time.monotonic() - t0) * 1000)
    if d.returncode:
        sys.exit(d.stderr)
    windows(1)
    after += windows(5)
p.kill()

med = statistics.median
print(f"rounds: {args.rounds}, threads: {args.threads}; windows of 200 ms, median ns per malloc+free pair and thread")
print(f"  before the attach  {med(plain):7.1f} ns")
print(f"  attached           {med(attached):7.1f} ns  ({med(attached) / med(plain):.2f}x)")
print(f"  after the detach   {med(after):7.1f} ns  ({med(after) / med(plain):.2f}x)")
print(f"attach, end to end:          median {med(total_ms):6.1f} ms (min {min(total_ms):.1f}, max {max(total_ms):.1f})")
print(f"borrowed thread stopped:     median {med(stopped_ms):6.1f} ms (min {min(stopped_ms):.1f}, max {max(stopped_ms):.1f})")
print(f"detach, end to end:          median {med(detach_ms):6.1f} ms")
