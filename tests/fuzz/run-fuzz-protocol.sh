#!/usr/bin/env bash
# run-fuzz-protocol.sh - builds the live-protocol fuzzer (fuzz_protocol.cpp) with clang (libFuzzer +
# ASan + UBSan) and runs it for a bounded time. Any crash, leak, sanitizer report or abort fails.
#
# usage: tests/fuzz/run-fuzz-protocol.sh [SECONDS]   (default 60; env FUZZ_JOBS, FUZZ_OUT, CLANGXX)
# Output: $FUZZ_OUT (default build-fuzz/ at the top of the tree): fuzz_protocol, its corpus in
# corpus-protocol/, findings in artifacts-protocol/ (reproduce: build-fuzz/fuzz_protocol FILE).
set -euo pipefail

seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${FUZZ_OUT:-$root/build-fuzz}"
cxx="${CLANGXX:-$(command -v clang++ || command -v clang++-14 || true)}"
[ -n "$cxx" ] || { echo "run-fuzz-protocol: clang++ not found (apt-get install clang)" >&2; exit 1; }
corpus="$out/corpus-protocol"
artifacts="$out/artifacts-protocol"
mkdir -p "$corpus" "$artifacts"

bin="$out/fuzz_protocol"
echo "run-fuzz-protocol: building $bin with $cxx" >&2
# The decoders are compiled into the target (instrumented), without the tracker: wire.cpp and
# live_view.cpp need only the snapshot codec and zstd.
"$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined \
    -I"$root/core/include" -I"$root/core/src" \
    "$here/fuzz_protocol.cpp" \
    "$root/core/src/proto/wire.cpp" \
    "$root/core/src/proto/live_view.cpp" \
    "$root/core/src/model/snapshot_codec.cpp" \
    "$root/core/src/model/snapshot_io.cpp" \
    "$root/core/src/model/file_io.cpp" \
    $(pkg-config --cflags --libs libzstd) -o "$bin"

# Seeds: valid conversations, so mutations start past the magic and the length checks.
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
frame() { # TYPE_LO SEQ PAYLOAD_FILE
    le32 "$(stat -c %s "$3")"; printf "\\x$1\\x00\\x00\\x00"; le32 "$2"; cat "$3"
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
{ printf 'NMLKPROT'; le32 1; le32 3; le32 3; printf 'gui'; } > "$tmp/client_hello"
{ le32 1; } > "$tmp/snap_cmd"
{ le32 7; le32 0; } > "$tmp/terminate"
{ le32 3; le32 16; le32 100; le32 0; } > "$tmp/options"
: > "$tmp/empty"
{ printf 'NMLKPROT'; le32 1; le32 4242; le32 1000; le32 200; le32 32; le32 0; le32 0; le32 3; printf 'cmd'; le32 0; le32 1; printf '1'; } > "$tmp/hello"
{ printf '\x00'; frame 02 0 "$tmp/client_hello"; frame 20 1 "$tmp/snap_cmd"; frame 21 2 "$tmp/terminate"
  frame 22 3 "$tmp/options"; frame 24 4 "$tmp/empty"; frame 23 5 "$tmp/empty"; } > "$corpus/seed-commands"
{ printf '\x3e'; frame 01 0 "$tmp/hello"; frame 10 0 "$root/tests/golden/sample.nmsnap"
  frame 11 1 "$root/tests/golden/sample.nmsnap"; } > "$corpus/seed-agent-stream"
if command -v zstd >/dev/null; then # the bare payload of the sample snapshot, for the merge mode
    { printf '\x01'; tail -c +41 "$root/tests/golden/sample.nmsnap" | zstd -dc 2>/dev/null || true; } > "$corpus/seed-payload"
fi

echo "run-fuzz-protocol: fuzzing for ${seconds}s" >&2
log="$out/fuzz-protocol.log"
jobs=()
if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
set +e
# With -jobs, libFuzzer writes fuzz-N.log into the working directory: keep them in $out.
cd "$out"
"$bin" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 "${jobs[@]}" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
runs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)"
echo "run-fuzz-protocol: exit status $status, ${runs:-?} executions, corpus $(ls "$corpus" | wc -l) inputs" >&2
if ls "$artifacts"/* >/dev/null 2>&1; then
    echo "run-fuzz-protocol: findings in $artifacts:" >&2
    ls -l "$artifacts" >&2
    exit 1
fi
exit "$status"
