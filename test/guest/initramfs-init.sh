#!/bin/busybox sh
# /init of the guest's initramfs (busybox): loads the modules the tier needs
# (listed in /modules.list, dependencies first), mounts the host's root
# read-only over 9p under a tmpfs overlay, and switch_roots into it to run the
# script named by guest.init= on the kernel command line. Any failure powers
# the guest off, so the host sees it at once instead of at its timeout.
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "guest initramfs: $*"; poweroff -f; }
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "/lib/modules/$m" || fail "insmod $m failed"; done < /modules.list
mkdir -p /ro /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=1048576 hostroot /ro || fail "9p mount of the host root failed"
mount -t tmpfs -o size=75% tmpfs /rw || fail "tmpfs failed"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay failed"
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
init=$(sed -n 's/.*guest\.init=\([^ ]*\).*/\1/p' /newroot/proc/cmdline)
[ -n "$init" ] || fail "no guest.init= on the kernel command line"
exec switch_root /newroot "$init"
