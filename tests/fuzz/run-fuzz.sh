#!/usr/bin/env bash
# run-fuzz.sh - builds the snapshot-reader fuzzer with clang (libFuzzer + ASan + UBSan) and runs it
# for a bounded time. CI calls it; any crash, leak, sanitizer report or abort fails the script.
#
# usage: tests/fuzz/run-fuzz.sh [SECONDS]     (default 60; env FUZZ_JOBS, FUZZ_OUT, CLANGXX)
# Output: $FUZZ_OUT (default build-fuzz/ at the top of the tree): fuzz_snapshot_reader, its corpus
# in corpus-snapshot/, findings in artifacts-snapshot/ (reproduce: build-fuzz/fuzz_snapshot_reader
# FILE).
set -euo pipefail

seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${FUZZ_OUT:-$root/build-fuzz}"
cxx="${CLANGXX:-$(command -v clang++ || command -v clang++-14 || true)}"
[ -n "$cxx" ] || { echo "run-fuzz: clang++ not found (apt-get install clang)" >&2; exit 1; }
corpus="$out/corpus-snapshot"
artifacts="$out/artifacts-snapshot"
mkdir -p "$corpus" "$artifacts"

bin="$out/fuzz_snapshot_reader"
echo "run-fuzz: building $bin with $cxx" >&2
"$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined \
    -I"$root/core/include" -I"$root/core/src" \
    "$here/fuzz_snapshot_reader.cpp" \
    "$root/core/src/model/snapshot_codec.cpp" \
    "$root/core/src/model/snapshot_io.cpp" \
    "$root/core/src/model/file_io.cpp" \
    $(pkg-config --cflags --libs libzstd) -o "$bin"

# Seed: the checked-in version-1 snapshot (tests/golden/sample.nmsnap); the corpus grows from it.
cp -f "$root/tests/golden/sample.nmsnap" "$corpus/seed-sample.nmsnap"

echo "run-fuzz: fuzzing for ${seconds}s" >&2
log="$out/fuzz-snapshot.log"
jobs=()
# With -jobs, libFuzzer forks workers that log to fuzz-N.log; one job runs in this process.
if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
set +e
"$bin" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
    -timeout=10 "${jobs[@]}" -artifact_prefix="$artifacts/" -print_final_stats=1 2>&1 |
    tee "$log"
status=${PIPESTATUS[0]}
set -e
runs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)"
echo "run-fuzz: exit status $status, ${runs:-?} executions, corpus $(ls "$corpus" | wc -l) inputs" >&2
if ls "$artifacts"/* >/dev/null 2>&1; then
    echo "run-fuzz: findings in $artifacts:" >&2
    ls -l "$artifacts" >&2
    exit 1
fi
exit "$status"
