#!/bin/sh
# Prints compiler or linker flags for the system libraries the native core uses
# (used by binding.gyp; CMakeLists.txt does the same check with pkg-config).
# Stops with the Debian/Ubuntu package to install when one is missing.
set -e
mode=${1:---cflags}
check() {
  if ! command -v pkg-config >/dev/null 2>&1; then
    echo "blockferry: pkg-config not found; install it: apt-get install pkg-config" >&2
    exit 1
  fi
  if ! pkg-config --exists "$1 >= $2"; then
    echo "blockferry: $1 >= $2 not found; install it: apt-get install $3" >&2
    exit 1
  fi
}
check liblz4 1.9 liblz4-dev
check libxxhash 0.8.0 libxxhash-dev
pkg-config "$mode" liblz4 libxxhash
