#!/bin/bash
# PID 1 of the guest once it runs on the host's root (read-only 9p, tmpfs
# overlay): sets up what LVM needs without udev, mounts the run folder (the
# host's, writable, over 9p) at the same path as on the host, runs the
# scenarios with vitest (vitest.guest.config.ts), writes vitest's exit code to
# RUN/exit-code and powers off. Kernel command line: guest.run=RUN, guest.root=CHECKOUT.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C LC_ALL=C HOME=/root
arg() { sed -n "s/.*guest\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
RUN=$(arg run)
ROOT=$(arg root)
rc=1
finish() {
  echo "guest: vitest exit code $rc, uptime $(cut -d' ' -f1 /proc/uptime) s"
  [ -d "$RUN" ] && echo "$rc" > "$RUN/exit-code"
  sync
  # A plain sysrq power-off would tear the 9p root down under this script: the kernel panics.
  /bin/busybox poweroff -f
}
trap finish EXIT
set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /dev/shm 2>/dev/null || true
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 run "$RUN"
ip link set lo up
hostname guest

# LVM without udev: device nodes made by libdevmapper itself, no waiting for
# udev, no dmeventd, only the scratch disks scanned (and the readme scenario's
# two halves of its disk, one per host), no metadata backups.
export DM_DISABLE_UDEV=1 LVM_SYSTEM_DIR=/run/lvm-conf LVM_SUPPRESS_FD_WARNINGS=1
mkdir -p /run/lock/lvm /run/lvm "$LVM_SYSTEM_DIR"
cat > "$LVM_SYSTEM_DIR/lvm.conf" <<'CONF'
devices { obtain_device_list_from_udev = 0 use_devicesfile = 0 filter = [ "a|^/dev/vd[a-z]+$|", "a|^/dev/mapper/readme-pv[01]$|", "r|.*|" ] }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
backup { backup = 0 archive = 0 }
CONF
set +e

echo "guest: up after $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r), $(lvm version | sed -n 's/^ *LVM version: *//p' | cut -d' ' -f1) lvm2"
export BLOCKFERRY_GUEST_RUN="$RUN"
cd "$ROOT" || exit
mapfile -t args < "$RUN/vitest-args"
# Through a pipe: the console is a terminal, and vitest would redraw its lines on it.
NO_COLOR=1 node node_modules/vitest/vitest.mjs run --config vitest.guest.config.ts "${args[@]}" 2>&1 | cat
rc=${PIPESTATUS[0]}
