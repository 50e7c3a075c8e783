#!/usr/bin/env bash
# Builds the Debian package: blockferry_VERSION_ARCH.deb in build/deb/ (its
# path is the last line printed). The addon is compiled here, once: it is a
# Node-API addon, so the same file loads in every Node.js that has its N-API
# level, and it links the runtime libraries liblz4-1 and libxxhash0, so a
# server needs neither a compiler nor -dev packages.
#   scripts/package-deb.sh [--no-build]   (--no-build: package the tree as built)
# Layout: /usr/lib/blockferry/{dist,package.json,LICENSE,build/Release/blockferry.node,
# node_modules (runtime dependencies only)}, /usr/bin/blockferry, the contrib/
# systemd units in /usr/lib/systemd/system (not enabled), the man page, bash
# completion, README and the example job in /usr/share/doc/blockferry.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--no-build" ]; then
  npm ci --no-audit --no-fund >&2 # compiles the addon (install) and dist/ with the man page (prepare)
fi
for f in dist/cli/blockferry.cjs build/Release/blockferry.node dist/share/man/man1/blockferry.1 dist/share/bash-completion/blockferry; do
  [ -f "$f" ] || { echo "package-deb: $f is missing: run npm ci" >&2; exit 1; }
done

version=$(node -p 'require("./package.json").version')
# package.json's engines (">=18.20") is the Node.js the package depends on.
node_min=$(node -p 'require("./package.json").engines.node.replace(/^>=\s*/, "")')
[[ $node_min =~ ^[0-9.]+$ ]] || { echo "package-deb: engines.node must read >=VERSION, not $node_min" >&2; exit 1; }
arch=$(dpkg --print-architecture)
out=build/deb
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
lib="$root/usr/lib/blockferry"
doc="$root/usr/share/doc/blockferry"
mkdir -p "$lib/build/Release" "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/usr/share/man/man1" \
  "$root/usr/share/bash-completion/completions" "$doc/examples" "$root/DEBIAN" "$out"

cp -r dist package.json LICENSE "$lib/"
rm -rf "$lib/dist/share"
cp build/Release/blockferry.node "$lib/build/Release/"
chmod 755 "$lib/dist/cli/blockferry.cjs"
ln -s ../lib/blockferry/dist/cli/blockferry.cjs "$root/usr/bin/blockferry"
node scripts/runtime-modules.mjs | while read -r m; do
  mkdir -p "$lib/node_modules/$(dirname "$m")"
  cp -r "node_modules/$m" "$lib/node_modules/$m"
done
cp contrib/systemd/*.service contrib/systemd/*.timer "$root/usr/lib/systemd/system/"
gzip -9n <dist/share/man/man1/blockferry.1 >"$root/usr/share/man/man1/blockferry.1.gz"
cp dist/share/bash-completion/blockferry "$root/usr/share/bash-completion/completions/"
cp README.md "$doc/"
cp contrib/nightly.toml "$doc/examples/"
cp contrib/README.md "$doc/examples/README.contrib.md"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: blockferry"
  echo
  echo "Files: *"
  echo "License: MIT"
  sed 's/^$/./; s/^/ /' LICENSE
} >"$doc/copyright"
find "$root" -type d -exec chmod 755 {} +
find "$root" -type f -exec chmod go-w {} +

# The C and C++ runtime the addon needs, at least as new as where it was built.
glibc=$(objdump -T build/Release/blockferry.node | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: blockferry
Version: $version
Architecture: $arch
Maintainer: blockferry developers <blockferry@localhost>
Section: admin
Priority: optional
Installed-Size: $(du -sk "$root/usr" | cut -f1)
Depends: nodejs (>= $node_min), liblz4-1 (>= 1.9.0), libxxhash0 (>= 0.8.0), libc6 (>= $glibc), libstdc++6 (>= 12)
Homepage: https://github.com/blockferry/blockferry
Description: replicate a block device or disk image to a second host
 blockferry copies a block device (an LVM snapshot, a disk, or a disk-image
 file) to a second machine and keeps that copy current: a full seed copy,
 then only the blocks whose digest changed, verified end to end, over mutual
 TLS with pinned keys or ssh. Includes systemd units (not enabled) for a
 nightly job, a receiver and a morning status check.
CONTROL
deb="$out/blockferry_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
