#!/bin/sh
# Boots systemd as PID 1 of a throwaway container in the current network
# namespace, for crate::systemd::Systemd. Usage:
#
#   boot-systemd.sh outer DIR NAME
#
# DIR/stage holds files laid over the host's root (the unit under test, the
# knockd binary, its configuration); NAME names the control groups the
# container lives in. The outer phase moves this process into a new control
# group NAME below its own in every hierarchy (listed in DIR/cgroups, for
# the caller to remove), so the container's systemd manages that subtree
# and never the host's; it then re-runs this script as `inner` in new
# cgroup, PID, mount, UTS and IPC namespaces. The inner phase builds the
# root: the host's / as the lower layer of an overlay whose upper layer is a
# tmpfs seeded with DIR/stage (nothing reaches the host's files), fresh
# /proc, /sys (of this network namespace), /dev, /run and /tmp; and execs
# systemd, which starts nothing but knockd-test.target (basic.target).
set -eu
phase=$1 dir=$2 name=$3

if [ "$phase" = outer ]; then
    : >"$dir/cgroups"
    while IFS=: read -r _ controllers path; do
        case $controllers in
            "")
                base=/sys/fs/cgroup/unified
                [ -e /sys/fs/cgroup/cgroup.controllers ] && base=/sys/fs/cgroup
                ;;
            name=*) base=/sys/fs/cgroup/${controllers#name=} ;;
            *) base=/sys/fs/cgroup/$controllers ;;
        esac
        [ -e "$base$path/cgroup.procs" ] || continue
        group=${base}${path%/}/$name
        mkdir "$group"
        # A new cpuset group has no CPUs, so nothing can join it: stay in its parent there.
        if echo $$ 2>/dev/null >"$group/cgroup.procs"; then
            echo "$group" >>"$dir/cgroups"
        else
            rmdir "$group"
        fi
    done </proc/self/cgroup
    exec unshare --cgroup --pid --fork --mount --uts --ipc --propagation private \
        sh "$0" inner "$dir" "$name"
fi

mkdir -p "$dir/mnt"
mount -t tmpfs tmpfs "$dir/mnt"
mkdir "$dir/mnt/upper" "$dir/mnt/work" "$dir/mnt/root"
cp -a "$dir/stage/." "$dir/mnt/upper/"
root=$dir/mnt/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$dir/mnt/upper,workdir=$dir/mnt/work" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount -t tmpfs -o mode=755 tmpfs "$root/dev"
for node in null zero full random urandom tty; do
    touch "$root/dev/$node"
    mount --bind "/dev/$node" "$root/dev/$node"
done
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
cd "$root"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
exec env container=knockd-test /usr/lib/systemd/systemd --unit=knockd-test.target </dev/null
