#!/bin/sh
# Builds and runs the native core's tests without Node, optionally under
# AddressSanitizer and UBSan:  sh native/test/run.sh [--sanitize]
set -eu
cd "$(dirname "$0")/../.."
dir=build-native
flag=OFF
if [ "${1:-}" = "--sanitize" ]; then dir=build-native-asan; flag=ON; fi
cmake -S . -B "$dir" -DBLOCKFERRY_SANITIZE=$flag -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$dir" --parallel 2 >/dev/null
"$dir/core_test"
