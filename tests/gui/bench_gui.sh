#!/bin/sh
# bench_gui.sh - the nmleak-gui benchmark (not a test): 1M live blocks over 10k stacks, offline and live.
#
#   tests/gui/bench_gui.sh BUILD_DIR [WIDTHxHEIGHT]
#
# Prints the time from start to the first full frame (snapshot read + views built + first frame
# drawn), and per view the p50/p95/max frame time (and the part spent building the UI) under
# Xvfb with Mesa's software OpenGL. Needs xvfb-run; runs on whatever cores it gets, so run it on a
# quiet machine.
set -eu
build=${1:?usage: bench_gui.sh BUILD_DIR [WIDTHxHEIGHT]}
size=${2:-1600x1000}
w=${size%x*}
h=${size#*x}
gui=$build/gui/nmleak-gui
make=$build/tests/gui/make_gui_snapshot
nmleak=$build/inject/nmleak
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${target:-}" ] && kill "$target" 2>/dev/null; true' EXIT

echo "== writing a 1M-block snapshot (10k stacks, 4 keys)"
"$make" "$tmp/big.nmsnap" --blocks 1000000 --stacks 10000 --keys 4
ls -l "$tmp/big.nmsnap" | awk '{print "   " $5 " bytes"}'

echo "== offline: nmleak-gui --open ($size)"
xvfb-run -a "$gui" --open "$tmp/big.nmsnap" --width "$w" --height "$h" --stats --bench-frames 200 --view bottom-up

echo "== offline: the flame graph with the mouse on a frame (hover outline and tooltip every frame)"
xvfb-run -a "$gui" --open "$tmp/big.nmsnap" --width "$w" --height "$h" --bench-frames 200 --view flame \
    --mouse $((w / 2)),$((h / 2)) | grep -E '^view flame'

echo "== live: nmleak-gui --connect to a running 1M-block target"
"$nmleak" run -q -- "$make" - --blocks 1000000 --stacks 10000 --keys 4 --live 120 > "$tmp/target.out" &
target=$!
i=0
while ! grep -q ready "$tmp/target.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 300 ] && { echo "the target did not start"; exit 1; }
    sleep 0.1
done
pid=$(awk '/ready/ {print $2}' "$tmp/target.out")
xvfb-run -a "$gui" --connect "$pid" --width "$w" --height "$h" --stats --bench-frames 100 --view bottom-up
