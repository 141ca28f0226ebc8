#!/usr/bin/env python3
"""compare.py - runs the workload variants side by side and prints nmleak's cost against the baselines.

Variants (tests/bench/workload.cpp, built by the project's CMake as workload_*):
  nmleak-stacks    ExpertAllocMemory & co. with stack capture at the default depth
  nmleak-nostacks  the same binary with NMLEAK_STACK_DEPTH=0 (sizes only)
  mimalloc         mi_malloc / mi_realloc / mi_free
  malloc           glibc malloc / realloc / free
  lsan             glibc malloc under gcc's LeakSanitizer (-fsanitize=leak, stack capture on)
  heaptrack        workload_malloc under `heaptrack` (its data file goes to a temp dir)
  nmleak-heap      workload_malloc with the whole-heap shim preloaded (what `nmleak run` does):
                   glibc's malloc replaced by tracked mimalloc blocks, stacks by the .eh_frame walk

Every round runs every variant once per thread count (rounds are interleaved, with the order
rotated each round, so drift on a shared machine hits all variants alike). Figures are medians
over rounds; ratios are medians of the per-round ratios (each pair measured minutes apart at most).
ns/op is the timed loop's wall time / operations per thread (see workload.cpp), the figure the
targets use; "cpu ns/op" is the loop threads' CPU time / all operations (less sensitive to a busy
machine, blind to heaptrack's separate interpreter process); "wall s" is the whole process, start
to exit, heaptrack's own start-up and shutdown included.

Then: resident memory per live 32-byte block (rss mode), and the cost per block of releasing 1M
blocks (NmCloseExpertKey from the allocating thread, from another thread while it is alive, after
it exited; one mi_free / free per block as the baseline).

Optional --callgrind: instructions per operation (1 thread) from two callgrind runs of different
lengths, so start-up and warm-up cancel out. Noise-free, unlike the timings.
"""
import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MIX_VARIANTS = ["nmleak-stacks", "nmleak-nostacks", "nmleak-heap", "mimalloc", "malloc", "lsan", "heaptrack"]
# With more than one thread the nmleak variants also run with one key shared by all threads.
SHARED_VARIANTS = {"nmleak-stacks": "nmleak-stacks-shared", "nmleak-nostacks": "nmleak-nostacks-shared"}
RSS_VARIANTS = ["nmleak-stacks", "nmleak-nostacks", "nmleak-heap", "mimalloc", "malloc", "lsan"]
CALLGRIND_VARIANTS = ["nmleak-stacks", "nmleak-nostacks", "nmleak-heap", "mimalloc", "malloc"]

# (numerator, denominator, {threads: limit}, what it checks)
MIX_TARGETS = [
    ("nmleak-stacks", "lsan", {1: 0.5, 2: 0.5}, "stacks on vs LeakSanitizer"),
    ("nmleak-stacks-shared", "lsan", {2: 0.5}, "stacks on, shared key, vs LeakSanitizer"),
    ("nmleak-stacks", "heaptrack", {1: 0.2, 2: 0.1}, "stacks on vs heaptrack"),
    ("nmleak-nostacks", "mimalloc", {1: 1.3, 2: 1.3}, "sizes only vs raw mimalloc"),
    ("nmleak-nostacks-shared", "mimalloc", {2: 1.3}, "sizes only, shared key, vs raw mimalloc"),
    ("nmleak-stacks-shared", "nmleak-stacks", {2: 1.15}, "stacks on, shared key vs key per thread"),
    ("nmleak-nostacks-shared", "nmleak-nostacks", {2: 1.15}, "sizes only, shared key vs key per thread"),
    ("nmleak-heap", "lsan", {1: 0.5}, "whole heap vs LeakSanitizer"),
    ("nmleak-heap", "heaptrack", {1: 0.2, 2: 0.1}, "whole heap vs heaptrack"),
]
# (variant, limit): (variant / mimalloc at 2 threads) / (variant / mimalloc at 1 thread)
SCALING_TARGETS = [("nmleak-stacks", 1.1), ("nmleak-nostacks", 1.1)]
RSS_TARGET_BYTES = 56.0
CLOSE_TARGETS_NS = {"own": 1.0, "other": 15.0}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=os.path.join(REPO, "build"),
                   help="CMake build directory holding tests/bench/workload_* (default: %(default)s)")
    p.add_argument("--no-build", action="store_true", help="do not run `cmake --build` first")
    p.add_argument("--workload", default="churn", choices=["churn", "mix"],
                   help="churn: the targets' workload (10,000 slots filled first, free+alloc or "
                        "realloc, 16-256 B / 1-4 KiB / 64 KiB); mix: the older one (default %(default)s)")
    p.add_argument("--runs", type=int, default=5, help="rounds of the mix (default %(default)s)")
    p.add_argument("--ops", type=int, default=1_000_000, help="timed ops per thread (default %(default)s)")
    p.add_argument("--heaptrack-ops", type=int, default=0,
                   help="ops per thread under heaptrack (default: same as --ops)")
    p.add_argument("--slots", type=int, default=0,
                   help="live slots per thread (default: 10000 for churn, 65536 for mix)")
    p.add_argument("--threads", default="1,2", help="thread counts (default %(default)s)")
    p.add_argument("--variants", default=",".join(MIX_VARIANTS), help="mix variants to run")
    p.add_argument("--rss-blocks", type=int, default=1_000_000)
    p.add_argument("--close-blocks", type=int, default=1_000_000)
    p.add_argument("--aux-runs", type=int, default=3, help="runs of each rss / close case (default %(default)s)")
    p.add_argument("--skip-mix", action="store_true")
    p.add_argument("--skip-rss", action="store_true")
    p.add_argument("--skip-close", action="store_true")
    p.add_argument("--callgrind", action="store_true", help="also count instructions per op with callgrind")
    p.add_argument("--markdown", help="also write the tables as markdown to this file")
    p.add_argument("--verbose", action="store_true", help="print every run")
    return p.parse_args()


def clean_env():
    """The caller's environment minus what would change a variant's behaviour behind our back."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NMLEAK_", "LSAN_", "ASAN_", "MIMALLOC_")) and k != "LD_PRELOAD"}
    return env


class Runner:
    def __init__(self, args):
        self.args = args
        self.bench = os.path.join(os.path.abspath(args.build_dir), "tests", "bench")
        self.tmp = tempfile.mkdtemp(prefix="nmleak-bench-")
        self.base_env = clean_env()

    def command(self, variant, extra):
        env = dict(self.base_env)
        if variant.startswith("nmleak-nostacks"):
            env["NMLEAK_STACK_DEPTH"] = "0"
        if variant.startswith("nmleak") and not variant.endswith("-shared"):
            extra = extra + ["--key-per-thread"]
        exe = {"nmleak-stacks": "workload_nmleak", "nmleak-nostacks": "workload_nmleak",
               "nmleak-stacks-shared": "workload_nmleak", "nmleak-nostacks-shared": "workload_nmleak",
               "mimalloc": "workload_mimalloc", "malloc": "workload_malloc", "lsan": "workload_lsan",
               "heaptrack": "workload_malloc", "nmleak-heap": "workload_malloc"}[variant]
        cmd = [os.path.join(self.bench, exe)] + extra
        if variant == "nmleak-heap":
            env["LD_PRELOAD"] = os.path.join(os.path.abspath(self.args.build_dir), "inject", "preload",
                                             "libnmleak-heap.so")
        if variant == "heaptrack":
            cmd = ["heaptrack", "-o", os.path.join(self.tmp, "heaptrack.%p")] + cmd
        return cmd, env

    def run(self, variant, extra):
        """Runs one variant; returns (key=value dict from its result line, wall seconds)."""
        cmd, env = self.command(variant, extra)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=self.tmp)
        wall = time.perf_counter() - t0
        line = next((l for l in proc.stdout.splitlines() if l.startswith("variant=")), None)
        if proc.returncode != 0 or line is None:
            sys.exit(f"compare.py: {' '.join(cmd)} failed (exit {proc.returncode}):\n"
                     f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        fields = dict(kv.split("=", 1) for kv in line.split())
        if self.args.verbose:
            print(f"  {variant:16s} {' '.join(extra):40s} {line}  wall={wall:.2f}s", flush=True)
        for f in os.listdir(self.tmp):  # heaptrack data files: not needed once the run is over
            os.unlink(os.path.join(self.tmp, f))
        return fields, wall

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(x, digits=1):
    return "n/a" if x != x else f"{x:.{digits}f}"


class Table:
    """A table printed as aligned text and kept as markdown."""

    def __init__(self, title, headers):
        self.title, self.headers, self.rows = title, headers, []

    def add(self, *cells):
        self.rows.append([str(c) for c in cells])

    def text(self):
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
                  for i, h in enumerate(self.headers)]
        out = [self.title]
        out.append("  ".join(h.ljust(w) for h, w in zip(self.headers, widths)))
        out.append("  ".join("-" * w for w in widths))
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in self.rows]
        return "\n".join(out)

    def markdown(self):
        out = [f"**{self.title}**", "", "| " + " | ".join(self.headers) + " |",
               "|" + "|".join("---" for _ in self.headers) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(out)


def run_mix(r, args, threads, variants, tables):
    cases = [(v, t) for t in threads for v in variants]
    cases += [(SHARED_VARIANTS[v], t) for t in threads if t > 1 for v in variants if v in SHARED_VARIANTS]
    ns = {c: [] for c in cases}
    cpu = {c: [] for c in cases}
    wall = {c: [] for c in cases}
    rounds = []  # per round: {(variant, threads): ns/op}
    for i in range(args.runs):
        print(f"mix round {i + 1}/{args.runs}", flush=True)
        k = i % len(cases)
        this_round = {}
        for v, t in cases[k:] + cases[:k]:
            ops = args.heaptrack_ops if (v == "heaptrack" and args.heaptrack_ops) else args.ops
            fields, w = r.run(v, ["--mode", args.workload, "--threads", str(t), "--ops", str(ops),
                                  "--slots", str(args.slots)])
            x = float(fields["ns_per_op"])
            ns[(v, t)].append(x)
            cpu[(v, t)].append(float(fields.get("cpu_ns_per_op", "nan")))
            wall[(v, t)].append(w)
            this_round[(v, t)] = x
        rounds.append(this_round)

    def paired_ratio(a, b, t):
        return median([rd[(a, t)] / rd[(b, t)] for rd in rounds if (a, t) in rd and (b, t) in rd])

    tab = Table(f"Workload: {args.workload}, {args.slots} live slots per thread, "
                f"{args.ops} ops per thread, 16 frames deep, median of {args.runs} runs",
                ["variant", "threads", "ns/op", "min-max", "vs mimalloc", "cpu ns/op", "wall s"])
    for t in threads:
        for v in [c[0] for c in cases if c[1] == t]:
            xs = ns[(v, t)]
            rel = paired_ratio(v, "mimalloc", t) if "mimalloc" in variants else float("nan")
            tab.add(v, t, fmt(median(xs)), f"{fmt(min(xs))}-{fmt(max(xs))}", fmt(rel, 2),
                    fmt(median(cpu[(v, t)])), fmt(median(wall[(v, t)]), 2))
    tables.append(tab)

    tgt = Table("Targets (ratio of ns/op, median of per-round ratios)",
                ["ratio", "threads", "measured", "target", "met"])
    present = {c[0] for c in cases}
    for a, b, limits, what in MIX_TARGETS:
        if a not in present or b not in present:
            continue
        for t in threads:
            if t not in limits or (a, t) not in ns:
                continue
            x = paired_ratio(a, b, t)
            tgt.add(f"{a} / {b} ({what})", t, fmt(x, 3), f"<= {limits[t]}", "yes" if x <= limits[t] else "NO")
    if 1 in threads and 2 in threads and "mimalloc" in present:
        for v, limit in SCALING_TARGETS:
            if v not in present:
                continue
            x = median([(rd[(v, 2)] / rd[("mimalloc", 2)]) / (rd[(v, 1)] / rd[("mimalloc", 1)])
                        for rd in rounds if all(k in rd for k in [(v, 1), (v, 2), ("mimalloc", 1), ("mimalloc", 2)])])
            tgt.add(f"{v}: 2 threads vs 1, each relative to mimalloc", "1-2", fmt(x, 3), f"<= {limit}",
                    "yes" if x <= limit else "NO")
    tables.append(tgt)


def run_rss(r, args, tables):
    tab = Table(f"Resident memory per live 32-byte block ({args.rss_blocks} blocks, "
                f"median of {args.aux_runs})", ["variant", "bytes/block", "target"])
    for v in RSS_VARIANTS:
        xs = [float(r.run(v, ["--mode", "rss", "--blocks", str(args.rss_blocks)])[0]["bytes_per_block"])
              for _ in range(args.aux_runs)]
        x = median(xs)
        target = ""
        if v.startswith("nmleak"):
            target = f"<= {RSS_TARGET_BYTES:g}: {'yes' if x <= RSS_TARGET_BYTES else 'NO'}"
        tab.add(v, fmt(x), target)
    tables.append(tab)


def run_close(r, args, tables):
    tab = Table(f"Releasing {args.close_blocks} live 32-byte blocks (median of {args.aux_runs})",
                ["how", "from", "ns/block", "target"])
    cases = [("nmleak-stacks", "NmCloseExpertKey", f) for f in ("own", "other", "exited")]
    cases += [("mimalloc", "mi_free each", f) for f in ("own", "other")]
    cases += [("malloc", "free each", f) for f in ("own", "other")]
    for v, how, frm in cases:
        xs = [float(r.run(v, ["--mode", "close", "--blocks", str(args.close_blocks),
                              "--close-from", frm])[0]["ns_per_block"]) for _ in range(args.aux_runs)]
        x = median(xs)
        target = ""
        if v.startswith("nmleak") and frm in CLOSE_TARGETS_NS:
            limit = CLOSE_TARGETS_NS[frm]
            target = f"<= {limit:g}: {'yes' if x <= limit else 'NO'}"
        tab.add(how, frm, fmt(x, 2), target)
    tables.append(tab)


def callgrind_instructions(r, variant, ops, slots):
    cmd, env = r.command(variant, ["--mode", r.args.workload, "--threads", "1", "--ops", str(ops),
                                   "--slots", str(slots)])
    if variant == "nmleak-heap":
        # valgrind is a shell script: without this the shim takes itself out of LD_PRELOAD in that
        # shell, and the workload would run untracked.
        env["NMLEAK_FOLLOW_CHILDREN"] = "1"
    out = os.path.join(r.tmp, f"cg.{variant}.{ops}")
    proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    m = None
    if proc.returncode == 0 and os.path.exists(out):
        with open(out) as f:
            m = re.search(r"^(?:summary|totals):\s+(\d+)", f.read(), re.M)
        os.unlink(out)
    if m is None:
        sys.exit(f"compare.py: callgrind run of {variant} failed:\n{proc.stderr[-2000:]}")
    return int(m.group(1))


def run_callgrind(r, args, tables):
    if shutil.which("valgrind") is None:
        print("valgrind not found: skipping --callgrind")
        return
    slots, n1, n2 = 4096, 100_000, 300_000
    tab = Table(f"Instructions per op (callgrind, {r.args.workload}, 1 thread, {slots} slots, ({n2}-{n1}) ops)",
                ["variant", "instructions/op", "vs mimalloc", "target"])
    per_op = {}
    for v in CALLGRIND_VARIANTS:
        print(f"callgrind {v}", flush=True)
        per_op[v] = (callgrind_instructions(r, v, n2, slots) - callgrind_instructions(r, v, n1, slots)) / (n2 - n1)
    limits = {"nmleak-stacks": 2.0, "nmleak-nostacks": 1.3}
    for v in CALLGRIND_VARIANTS:
        x = per_op[v] / per_op["mimalloc"]
        target = f"<= {limits[v]}: {'yes' if x <= limits[v] else 'NO'}" if v in limits else ""
        tab.add(v, fmt(per_op[v]), fmt(x, 2), target)
    tables.append(tab)


def machine_line():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    load = os.getloadavg()
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f}, "
            f"python {platform.python_version()}")


def main():
    args = parse_args()
    if not args.slots:
        args.slots = 10000 if args.workload == "churn" else 65536
    threads = [int(t) for t in args.threads.split(",") if t]
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in MIX_VARIANTS:
            sys.exit(f"compare.py: unknown variant {v}; known: {', '.join(MIX_VARIANTS)}")
    if "heaptrack" in variants and shutil.which("heaptrack") is None:
        print("heaptrack not found: skipping that variant")
        variants.remove("heaptrack")
    if not args.no_build:
        subprocess.run(["cmake", "--build", args.build_dir, "--target", "bench_all", "nmleak_heap", "-j2"], check=True)

    started = time.time()
    print(machine_line(), flush=True)
    r = Runner(args)
    tables = []
    try:
        if not args.skip_mix:
            run_mix(r, args, threads, variants, tables)
        if not args.skip_rss:
            run_rss(r, args, tables)
        if not args.skip_close:
            run_close(r, args, tables)
        if args.callgrind:
            run_callgrind(r, args, tables)
    finally:
        r.cleanup()
    footer = f"{machine_line()}; {time.time() - started:.0f} s"
    print()
    for t in tables:
        print(t.text())
        print()
    print(footer)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n\n".join(t.markdown() for t in tables))
            f.write(f"\n\n_{footer}_\n")


if __name__ == "__main__":
    main()
