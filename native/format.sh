#!/bin/sh
# Formats the C++ sources with clang-format; --check only reports differences.
set -eu
cd "$(dirname "$0")/.."
files=$(find native -name '*.cc' -o -name '*.h' | sort)
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run --Werror $files
else
  clang-format -i $files
fi
