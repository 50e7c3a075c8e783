#!/usr/bin/env bash
# Run by scripts/install-proof.sh inside a fresh chroot, after the README's
# install commands: checks that the installed blockferry works there, without a
# compiler: --version, a local copy and a delta (cmp), a copy over TLS through
# `serve` on loopback, `status`, the man page and the bash completion.
set -euo pipefail
step() { printf -- '--- %s\n' "$*"; }
cd "$(mktemp -d /root/check.XXXXXX)"

step "no compiler, no -dev package"
for c in cc gcc g++ c++ clang make cmake; do ! command -v "$c" >/dev/null || { echo "found $c"; exit 1; }; done
! dpkg-query -W -f '${Package}\n' | grep -- '-dev$'
echo "none"

step "blockferry --version"
command -v blockferry
blockferry --version | tee version.txt
grep -q '^addon loaded from /usr/lib/blockferry/' version.txt

step "a local copy of an image, then a delta"
head -c 24M /dev/urandom >a.img
blockferry sync --quiet --create a.img b.img
cmp a.img b.img && echo "b.img equals a.img"
head -c 1M /dev/urandom | dd of=a.img bs=1M seek=5 conv=notrunc status=none
blockferry sync --json --quiet a.img b.img >delta.json
cmp a.img b.img && echo "after the delta, b.img equals a.img"
grep -o -e '"mode":"[a-z]*"' -e '"wire":[0-9]*' delta.json

step "blockferry status"
blockferry status b.img

step "a copy over TLS through serve on loopback"
mkdir keys-rx keys-tx
rx=$(blockferry keygen --key-dir keys-rx | grep -o 'sha256:[0-9a-zA-Z+/=_-]*' | head -1)
tx=$(blockferry keygen --key-dir keys-tx | grep -o 'sha256:[0-9a-zA-Z+/=_-]*' | head -1)
echo "receiver $rx, source $tx"
blockferry serve --listen 127.0.0.1:7300 --key-dir keys-rx --target pool="$PWD/c.img" --create --allow "$tx=pool" 2>serve.log &
serve=$!
trap 'kill "$serve" 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening serve.log 2>/dev/null && break; sleep 0.2; done
blockferry sync --quiet --key-dir keys-tx --trust-new-host a.img tcp://127.0.0.1:7300/pool
cmp a.img c.img && echo "c.img (written by serve) equals a.img"
grep -q "$rx" keys-tx/known_hosts && echo "receiver key pinned"
kill "$serve" && wait "$serve" || true
trap - EXIT
blockferry status c.img

step "man page and bash completion"
ls -l /usr/share/man/man1/blockferry.1.gz /usr/share/bash-completion/completions/blockferry
zcat /usr/share/man/man1/blockferry.1.gz | grep -c '^\.SS'
bash -c '. /usr/share/bash-completion/completions/blockferry; COMP_WORDS=(blockferry sync --dry); COMP_CWORD=2; _blockferry; echo "${COMPREPLY[@]}"'
ls /usr/lib/systemd/system/blockferry-*

step "all checks passed"
