#!/usr/bin/env bash
# Proves the README's Install section on fresh systems: builds the .deb
# (scripts/package-deb.sh), then for Debian 12 (bookworm) and 13 (trixie), in a
# fresh debootstrap chroot with no compiler and no -dev package, runs the
# commands of the README's install-proof block word for word, then
# scripts/install-check.sh (--version, local syncs, a delta, a TLS copy through
# `serve`, status, the man page and completion). As root:
#   scripts/install-proof.sh [--no-build] [SUITE...]     (default: bookworm trixie)
# Each suite's minbase system is debootstrapped once and cached as a tarball in
# /var/cache/blockferry-install-proof (delete it to start over); every run
# unpacks a fresh copy, and removes it, and everything it mounted, at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
mirror=http://deb.debian.org/debian
cache=/var/cache/blockferry-install-proof
build=yes
if [ "${1:-}" = "--no-build" ]; then build=no; shift; fi
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(bookworm trixie)
[ "$(id -u)" = 0 ] || { echo "install-proof: run as root (debootstrap, chroot, mount)" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null

if [ $build = yes ]; then deb=$(scripts/package-deb.sh | tail -1); else deb=$(ls -t build/deb/blockferry_*.deb | head -1); fi
echo "package: $deb"

# The README's block between the install-proof markers, without the ``` lines.
commands=$(sed -n '/<!-- install-proof:begin -->/,/<!-- install-proof:end -->/p' README.md | grep -v -e '^<!--' -e '^```')
[ -n "$commands" ] || { echo "install-proof: no install-proof block in README.md" >&2; exit 1; }

base() { # the cached minbase tarball of suite $1
  local tarball="$cache/$1-minbase.tar" tmp
  if [ ! -f "$tarball" ]; then
    mkdir -p "$cache"
    tmp=$(mktemp -d /var/tmp/blockferry-base.XXXXXX)
    debootstrap --variant=minbase "$1" "$tmp/root" "$mirror" >"$tmp/log" 2>&1 || { tail -20 "$tmp/log" >&2; rm -rf "$tmp"; return 1; }
    tar -C "$tmp/root" --numeric-owner -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$tmp"
  fi
  echo "$tarball"
}

root="" mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" || umount -l "${mounts[i]}"; done
  mounts=()
  # Only once nothing is mounted below it, and never crossing into another filesystem.
  if [ -n "$root" ] && ! grep -q " ${root%/root}" /proc/mounts; then rm -rf --one-file-system "${root%/root}"; fi
  root=""
}
trap cleanup EXIT

prove() { # suite
  local suite=$1 tarball start
  start=$(date +%s)
  tarball=$(base "$suite")
  root=$(mktemp -d /var/tmp/blockferry-proof-"$suite".XXXXXX)/root
  mkdir "$root"
  tar -C "$root" --numeric-owner -xf "$tarball"
  for m in proc sys dev dev/pts; do
    case $m in
      proc) mount -t proc proc "$root/proc" ;;
      sys) mount -t sysfs sysfs "$root/sys" ;;
      *) mount --bind "/$m" "$root/$m" ;;
    esac
    mounts+=("$root/$m")
  done
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  cp "$deb" scripts/install-check.sh "$root/root/"
  printf '%s\n' "$commands" >"$root/root/readme-install.sh"
  echo "=== $suite: $(cat "$root/etc/debian_version"), unpacked in $(($(date +%s) - start)) s; the README's commands:"
  sed 's/^/    /' "$root/root/readme-install.sh"
  # As an administrator would: root, in the directory holding the .deb, answering y to apt.
  local log="${root%/root}/install.log" status=0
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb \
    bash -c 'cd /root && set -ex && . ./readme-install.sh' >"$log" 2>&1 < <(yes) || status=$?
  grep -v -e '^Get:' -e '^Selecting' -e '^Preparing' -e '^Unpacking' -e '^Setting up' -e '^Processing' -e '^(Reading database' "$log" || true
  [ $status = 0 ] || { echo "=== $suite: the README's commands failed (exit $status)"; return 1; }
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 bash /root/install-check.sh
  echo "=== $suite: passed in $(($(date +%s) - start)) s"
  cleanup
}

for suite in "${suites[@]}"; do prove "$suite"; done
echo "install-proof: passed on ${suites[*]}"
