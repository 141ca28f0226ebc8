#!/usr/bin/env python3
"""real_programs.py - wall time of Debian programs (built without frame pointers, many allocations,
many libraries) plain, under `nmleak run` (whole heap, report at exit) and under heaptrack.

Rounds are interleaved (plain, nmleak, heaptrack, order rotated each round); figures are medians
over rounds, and "added" is the median of per-round (tracked - plain). The last column is nmleak's
added time over heaptrack's (the issue's target: <= 0.25).

usage: real_programs.py [--build-dir build] [--rounds 5]
"""
import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

PROGRAMS = {
    "python3 (json+sqlite3+decimal)": [
        "/usr/bin/python3", "-c",
        "import json,sqlite3,decimal\n"
        "c=sqlite3.connect(':memory:'); c.execute('create table t(x, y)')\n"
        "c.executemany('insert into t values(?, ?)', [(i, str(i) * 3) for i in range(100000)])\n"
        "print(c.execute('select sum(x), count(distinct y) from t').fetchone(),"
        " len(json.dumps([str(decimal.Decimal(i) / 7) for i in range(100000)])))"],
    "perl (hash and string churn)": [
        "/usr/bin/perl", "-e",
        "my %h; for my $i (1..300000) { $h{$i % 5003} .= 'x' x ($i % 50); delete $h{($i * 7) % 5003} if $i % 3 == 0 }"
        " print scalar(keys %h), \"\\n\""],
}


def run(argv, env=None):
    t0 = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.monotonic() - t0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    nmleak = os.path.join(a.build_dir, "inject", "nmleak")
    heaptrack = shutil.which("heaptrack")
    tmp = tempfile.mkdtemp(prefix="nmleak-real-")
    print(f"vm: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg()[:2])}")
    print(f"{'program':32} {'plain s':>8} {'nmleak s':>9} {'heaptrack s':>12} {'nmleak +s':>10} {'heaptrack +s':>13} {'ratio':>6}")
    for name, prog in PROGRAMS.items():
        if not os.path.exists(prog[0]):
            continue
        variants = {
            "plain": lambda: run(prog),
            "nmleak": lambda: run([nmleak, "run", "-q", "--report", os.path.join(tmp, "r.txt"), "--"] + prog),
            "heaptrack": lambda: run([heaptrack, "-o", os.path.join(tmp, "ht")] + prog),
        }
        times = {k: [] for k in variants}
        order = list(variants)
        for r in range(a.rounds):
            for k in order[r % 3:] + order[:r % 3]:
                times[k].append(variants[k]())
        med = {k: statistics.median(v) for k, v in times.items()}
        add_n = statistics.median(n - p for n, p in zip(times["nmleak"], times["plain"]))
        add_h = statistics.median(h - p for h, p in zip(times["heaptrack"], times["plain"]))
        print(f"{name:32} {med['plain']:8.2f} {med['nmleak']:9.2f} {med['heaptrack']:12.2f} {add_n:10.2f} "
              f"{add_h:13.2f} {add_n / add_h if add_h > 0 else float('nan'):6.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
