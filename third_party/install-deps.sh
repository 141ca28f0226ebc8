#!/usr/bin/env bash
# install-deps.sh - installs the Debian 12 packages nmleak needs; idempotent, quiet when all is there.
#   third_party/install-deps.sh          build + demo
#   third_party/install-deps.sh --test   also what the tests and benchmarks use
set -euo pipefail

want=(build-essential cmake ninja-build pkg-config
      libmimalloc-dev libunwind-dev libdw-dev libelf-dev libpcap-dev libzstd-dev zlib1g-dev
      nlohmann-json3-dev libcli11-dev
      libimgui-dev libglfw3-dev libstb-dev libgl-dev)
if [[ "${1:-}" == "--test" ]]; then
  want+=(libgtest-dev libgmock-dev libbenchmark-dev xvfb xauth clang libclang-rt-14-dev
         heaptrack valgrind gdb util-linux
         libc6-dbg debuginfod
         golang-go chromium)
  # A Rust program from Debian (its runtime asks for the main thread's stack before its first malloc).
  want+=(ripgrep)
  # Node.js (for the SARIF validator) may come from another packaging that bundles npm.
  command -v npm >/dev/null || want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
