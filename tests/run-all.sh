#!/usr/bin/env bash
# run-all.sh - builds nmleak and runs every test: the full suite (GUI tests under Xvfb), the core
# tests under ASan+UBSan and under TSan, and the fuzzers for a bounded time.
#   tests/run-all.sh            everything
#   NM_QUICK=1 tests/run-all.sh the main build and suite only
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${NM_JOBS:-2}
status=0

step() { printf '\n==== %s\n' "$*"; }

step "build (RelWithDebInfo)"
# Explicit ON: a build/ configured by the demo command (tests off) is switched back on here.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNMLEAK_BUILD_TESTS=ON \
  -DNMLEAK_BUILD_BENCH=ON -DNMLEAK_BUILD_GUI=ON >/dev/null
cmake --build build -j"$jobs"

step "test suite"
# One display for the whole run: GUI tests open real windows on it.
xvfb-run -a -s "-screen 0 1600x1000x24" \
  ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600 || status=1

if [[ -z "${NM_QUICK:-}" ]]; then
  for san in address thread; do
    step "core tests under ${san} sanitizer"
    cmake -S . -B "build-${san}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNMLEAK_SANITIZE="$san" \
      -DNMLEAK_BUILD_TESTS=ON -DNMLEAK_BUILD_BENCH=OFF -DNMLEAK_BUILD_GUI=OFF >/dev/null
    # Only what `ctest -L core` runs (the unit tests and what they need), not the whole tree.
    cmake --build "build-${san}" -j"$jobs" --target core_tests
    # The stress test runs fewer operations: sanitizers cost 5-15x.
    NM_STRESS_OPS=150000 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
      ctest --test-dir "build-${san}" -L core --output-on-failure -j"$jobs" --timeout 900 || status=1
  done
  step "fuzzers (bounded): snapshot reader, agent protocol"
  tests/fuzz/run-fuzz.sh snapshot "${NM_FUZZ_SECONDS:-60}" || status=1
  tests/fuzz/run-fuzz.sh protocol "${NM_FUZZ_SECONDS:-60}" || status=1
fi

exit $status
