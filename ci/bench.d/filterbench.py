#!/usr/bin/env python3
"""Helpers for ci/bench's capture-filter rows: big configurations, IPv6 SYNs
with and without a hop-by-hop header, readiness and the filter the kernel
runs for a process.

Standard library only.

Subcommands (see --help of each):
  conf       write a knockd.conf with many doors (3 random TCP ports each, or
             rotating doors sharing one secret)
  frames6    write a pcap of spoofed IPv6 SYNs, optionally behind a hop-by-hop header
  ready      wait (bounded) for a server's "listening on" line; time and peak memory
  filterlen  length of the socket filter the kernel runs for processes' sockets
"""

import argparse
import ctypes
import ipaddress
import os
import random
import socket
import struct
import sys
import time

from knockbench import checksum, mac_bytes, process_sockets

SPOOF_NET6 = ipaddress.IPv6Network("fd00:fb::/64")
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
SO_GET_FILTER = 26


def cmd_conf(args):
    """Every door is a 3-port TCP sequence with tcpflags = syn, its ports drawn
    at random from 1-65535 (seeded: the worst case for the filter, ports all
    over the range). The first door is always 7000,8000,9000, so that a knock
    on it can be checked; its command is --command (%IP% is the knocker).
    With --rotating SECRET_FILE every door rotates instead, with that secret,
    --rotating-step and the other Rotating_* defaults (4 TCP knocks from
    1024-65535, 3 steps accepted)."""
    if not 1 <= args.doors <= 1_000_000:
        sys.exit("conf: --doors must be 1 to 1000000")
    rng = random.Random(args.seed)

    def sequence():
        return ",".join(str(rng.randint(1, 65535)) for _ in range(3))

    if args.one_time:
        os.makedirs(args.one_time, exist_ok=True)
    with open(args.out, "w") as out:
        out.write("[options]\n")
        if args.interface:
            out.write(f"    Interface = {args.interface}\n")
        for i in range(args.doors):
            first = "7000,8000,9000" if i == 0 else sequence()
            out.write(f"\n[door{i}]\n")
            if args.rotating:
                out.write(f"    Rotating_Secret = {os.path.abspath(args.rotating)}\n")
                out.write(f"    Rotating_Step   = {args.rotating_step}\n")
            elif args.one_time:
                path = os.path.join(os.path.abspath(args.one_time), f"door{i}.seq")
                with open(path, "w") as seq:
                    seq.write(first + "\n")
                    for _ in range(2):
                        seq.write(sequence() + "\n")
                out.write(f"    one_time_sequences = {path}\n")
            else:
                out.write(f"    sequence    = {first}\n")
            out.write("    seq_timeout = 5\n")
            out.write("    tcpflags    = syn\n")
            out.write(f"    command     = {args.command}\n")


def syn6_frame(dst_mac, src_mac, src, dst, src_port, dst_port, seq, hop_by_hop):
    """An Ethernet/IPv6 TCP SYN with a valid checksum, behind an 8-byte
    hop-by-hop header (one PadN option) if asked."""
    tcp = struct.pack("!HHIIBBHHH", src_port, dst_port, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!IxxxB", len(tcp), socket.IPPROTO_TCP)
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ext = b""
    first = socket.IPPROTO_TCP
    if hop_by_hop:
        ext = bytes([socket.IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0])
        first = 0
    ip = struct.pack("!IHBB16s16s", 6 << 28, len(ext) + len(tcp), first, 64, src, dst)
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + b"\x86\xdd" + ip + ext + tcp


def cmd_frames6(args):
    dst = ipaddress.IPv6Address(args.dst_ip).packed
    base = int(SPOOF_NET6.network_address)
    with open(args.out, "wb") as out:
        out.write(PCAP_HEADER)
        for i in range(args.count):
            src = (base + 1 + i).to_bytes(16, "big")
            frame = syn6_frame(args.dst_mac, args.src_mac, src, dst, 1024 + i % 60000,
                               args.port, i, args.hop_by_hop)
            out.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)))
            out.write(frame)


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cmd_ready(args):
    """Prints `ready MS HWM_KB`, or `timeout|died|memory MS HWM_KB`: waits for
    the "listening on" line in --log, at most --timeout seconds, while the
    process lives and its resident memory stays under --max-rss-kb (else the
    process is killed: a bounded wait). MS counts from --since (ns, the
    server's start) and HWM is the peak resident memory (VmHWM)."""
    deadline = time.monotonic() + args.timeout
    hwm = 0
    verdict = "timeout"
    while time.monotonic() < deadline:
        peak = status_kb(args.pid, "VmHWM")
        if peak is None:
            verdict = "died"
            break
        hwm = max(hwm, peak)
        try:
            with open(args.log, errors="replace") as log:
                if "listening on" in log.read():
                    verdict = "ready"
                    break
        except OSError:
            pass
        if hwm > args.max_rss_kb:
            verdict = "memory"
            break
        time.sleep(0.005)
    elapsed = (time.time_ns() - args.since) // 1_000_000
    if verdict == "ready":
        hwm = max(hwm, status_kb(args.pid, "VmHWM") or 0)
    print(verdict, elapsed, hwm)


def cmd_filterlen(args):
    """Prints the longest socket filter attached to the processes' sockets, in
    instructions (0: none, so libpcap filters every packet in user space), as
    SO_GET_FILTER reports it on a copy of each descriptor (pidfd_getfd)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.getsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                ctypes.POINTER(ctypes.c_uint32)]
    longest = None
    for pid in args.pid:
        for fd in process_sockets(pid, "filterlen"):
            length = ctypes.c_uint32(0)
            if libc.getsockopt(fd, socket.SOL_SOCKET, SO_GET_FILTER, None, ctypes.byref(length)) == 0:
                longest = max(longest or 0, length.value)
    print("n/a" if longest is None else longest)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="subcommand", required=True)

    conf = sub.add_parser("conf", help="write a knockd.conf with many doors")
    conf.add_argument("--doors", type=int, required=True)
    conf.add_argument("--out", required=True)
    conf.add_argument("--seed", type=int, default=1)
    conf.add_argument("--interface", default=None, help="Interface = value for [options]")
    conf.add_argument("--one-time", metavar="DIR", default=None,
                      help="One_Time_Sequences doors, their files (3 sequences each) in DIR")
    conf.add_argument("--command", default="/bin/true %IP%")
    conf.add_argument("--rotating", metavar="SECRET_FILE", default=None,
                      help="rotating doors, all with this Rotating_Secret")
    conf.add_argument("--rotating-step", type=int, default=30, help="their Rotating_Step")

    frames6 = sub.add_parser("frames6", help="write a pcap of spoofed IPv6 SYNs")
    frames6.add_argument("--out", required=True)
    frames6.add_argument("--dst-mac", required=True)
    frames6.add_argument("--src-mac", required=True)
    frames6.add_argument("--dst-ip", required=True)
    frames6.add_argument("--port", type=int, required=True)
    frames6.add_argument("--count", type=int, required=True)
    frames6.add_argument("--hop-by-hop", action="store_true")

    ready = sub.add_parser("ready", help="wait for a server's listening line")
    ready.add_argument("--pid", type=int, required=True)
    ready.add_argument("--log", required=True)
    ready.add_argument("--since", type=int, required=True, help="start time, ns since the epoch")
    ready.add_argument("--timeout", type=float, required=True)
    ready.add_argument("--max-rss-kb", type=int, required=True)

    filterlen = sub.add_parser("filterlen", help="socket filter length of processes")
    filterlen.add_argument("--pid", type=int, nargs="+", required=True)

    args = parser.parse_args()
    {"conf": cmd_conf, "frames6": cmd_frames6, "ready": cmd_ready,
     "filterlen": cmd_filterlen}[args.subcommand](args)


if __name__ == "__main__":
    main()
