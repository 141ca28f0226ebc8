#!/usr/bin/env bash
# run-fuzz.sh - builds one libFuzzer target with clang (libFuzzer + ASan + UBSan) and runs it for a
# bounded time. CI calls it for each target; any crash, leak, sanitizer report or abort fails it.
#
# usage: tests/fuzz/run-fuzz.sh snapshot|protocol [SECONDS]  (default 60; env FUZZ_JOBS, FUZZ_OUT, CLANGXX)
#   snapshot  the snapshot-file reader (fuzz_snapshot_reader.cpp)
#   protocol  the agent protocol decoders and the live view (fuzz_protocol.cpp)
# Output: $FUZZ_OUT (default build-fuzz/ at the top of the tree): the fuzzer binary, its corpus in
# corpus-TARGET/, findings in artifacts-TARGET/ (reproduce: build-fuzz/BINARY FILE).
set -euo pipefail

target="${1:-}"
seconds="${2:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${FUZZ_OUT:-$root/build-fuzz}"
cxx="${CLANGXX:-$(command -v clang++ || command -v clang++-14 || true)}"
[ -n "$cxx" ] || { echo "run-fuzz: clang++ not found (apt-get install clang)" >&2; exit 1; }

# The code under test is compiled into the target (instrumented), without the tracker: it needs
# only the snapshot codec and zstd.
sources=("$root/core/src/model/snapshot_codec.cpp" "$root/core/src/model/snapshot_io.cpp"
         "$root/core/src/model/file_io.cpp")
case "$target" in
    snapshot) bin="$out/fuzz_snapshot_reader"; sources+=("$here/fuzz_snapshot_reader.cpp") ;;
    protocol) bin="$out/fuzz_protocol"
              sources+=("$here/fuzz_protocol.cpp" "$root/core/src/proto/wire.cpp" "$root/core/src/proto/live_view.cpp") ;;
    *) echo "usage: $0 snapshot|protocol [SECONDS]" >&2; exit 1 ;;
esac
corpus="$out/corpus-$target"
artifacts="$out/artifacts-$target"
mkdir -p "$corpus" "$artifacts"

echo "run-fuzz: building $bin with $cxx" >&2
"$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I"$root/core/include" -I"$root/core/src" \
    "${sources[@]}" $(pkg-config --cflags --libs libzstd) -o "$bin"

# Seeds. Snapshot: the checked-in version-1 file (tests/golden/sample.nmsnap). Protocol: valid
# conversations, so mutations start past the magic and the length checks. Both: bomb_seeds.py.
seed_protocol() {
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
}
case "$target" in
    snapshot) cp -f "$root/tests/golden/sample.nmsnap" "$corpus/seed-sample.nmsnap" ;;
    protocol) seed_protocol ;;
esac
# Both targets: decompression bombs and lying counts (a few KiB of zstd claiming hundreds of MiB).
if command -v python3 >/dev/null; then
    python3 "$here/bomb_seeds.py" "$target" "$corpus"
else
    echo "run-fuzz: python3 not found: no bomb-shaped seeds" >&2
fi

echo "run-fuzz: fuzzing $target for ${seconds}s" >&2
log="$out/fuzz-$target.log"
jobs=()
if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
# With -jobs, libFuzzer writes fuzz-N.log into the working directory: keep them in $out.
cd "$out"
set +e
"$bin" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 "${jobs[@]}" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
runs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)"
echo "run-fuzz: $target: exit status $status, ${runs:-?} executions, corpus $(ls "$corpus" | wc -l) inputs" >&2
if ls "$artifacts"/* >/dev/null 2>&1; then
    echo "run-fuzz: findings in $artifacts:" >&2
    ls -l "$artifacts" >&2
    exit 1
fi
exit "$status"
