#!/usr/bin/env bash
# A complete blockferry run on generated image files, over loopback, as any
# user: a receiver on 127.0.0.1, a copy with progress, the JSON summary, an
# interrupted copy that resumes, and a check that the copy is identical.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/cli/blockferry.cjs ] || npm run build --silent
bf() { node dist/cli/blockferry.cjs "$@"; }
# The source's commands (sync) use the source key; the first pins the receiver's key.
bfs() { node dist/cli/blockferry.cjs "$@" --key-dir "$dir/source-key"; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/blockferry-demo.XXXXXX")
receiver=""
cleanup() {
  [ -n "$receiver" ] && kill "$receiver" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

echo "== a 512 MiB source image: 192 MiB of random data, 64 MiB of zeros, the rest a hole"
head -c 192M /dev/urandom > "$dir/source.img"
head -c 64M /dev/zero >> "$dir/source.img"
truncate -s 512M "$dir/source.img"

echo "== keys: one for the receiver, one for the source (both on this host here)"
export BLOCKFERRY_CACHE_DIR="$dir/cache"
bf keygen --key-dir "$dir/receiver-key" --name demo-receiver
source_key=$(bf keygen --key-dir "$dir/source-key" --name demo-source)
echo "source key: $source_key"

echo "== a receiver on loopback (TLS) that lets the source key write one target, named 'demo'"
node dist/cli/blockferry.cjs serve --listen 127.0.0.1:0 --key-dir "$dir/receiver-key" --allow "$source_key=demo" \
  --target "demo=$dir/copy.img" --create 2> "$dir/serve.log" &
receiver=$!  # node's own pid, so that the cleanup stops it
for _ in $(seq 100); do grep -q "listening on" "$dir/serve.log" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir/serve.log")
dest="tcp://127.0.0.1:$port/demo"

echo "== sync, limited to 100 MB/s so that the progress shows (kill -USR1 <pid> prints a status line too)"
BLOCKFERRY_STATUS_SECONDS=1 bfs sync --trust-new-host --bwlimit 100M --json "$dir/source.img" "$dest" > "$dir/summary.json"
echo "== the JSON summary (stdout of sync --json)"
cat "$dir/summary.json"

echo "== an interrupted copy: killed after a second, then run again; it resumes"
node dist/cli/blockferry.cjs sync --key-dir "$dir/source-key" --full --bwlimit 100M --quiet "$dir/source.img" "$dest" &
copy=$!  # node's own pid: a shell function would put a subshell in between
sleep 1.2
kill -9 "$copy" 2>/dev/null || true
wait "$copy" 2>/dev/null || true
sed -n 's/.*"complete": \(.*\),/   state file says complete: \1/p' "$dir/copy.img.blockferry-state.json"
BLOCKFERRY_STATUS_SECONDS=0.5 bfs sync "$dir/source.img" "$dest"

cmp "$dir/source.img" "$dir/copy.img" && echo "== the copy is identical to the source"
echo "== the receiver's log"
cat "$dir/serve.log"
