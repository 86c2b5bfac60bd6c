#!/usr/bin/env python3
"""Helpers for ci/bench: builds the flood frames, sends real knocks, measures
the spawn floor and turns captures and command output into figures.

Standard library only. Every frame is an Ethernet/IPv4/TCP SYN with valid IP
and TCP checksums, addressed to the server's MAC and IP; spoofed sources come
only from 198.19.0.0/16, real knockers from the bench network given by ci/bench.

Subcommands (see --help of each):
  frames    write a pcap of spoofed SYNs for tcpreplay
  knock     send whole knock sequences from distinct sources, randomised gaps
  floor     time `/bin/sh -c 'date +%s%N'` from a parent, the spawn floor
  success   count which knockers' commands ran
  latency   last knock packet's capture time -> command's timestamp
  ring      processes' packet-socket counters: received past the filter, dropped
  cpu       CPU time of processes, all threads, in nanoseconds
  watcher   the watcher process of a knockd started with privilege separation
  opentime  knock, then time the first connection the firewall lets through
"""

import argparse
import ctypes
import ipaddress
import json
import os
import random
import re
import select
import socket
import struct
import subprocess
import sys
import time

SPOOF_NET = ipaddress.IPv4Network("198.19.0.0/16")
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def mac_bytes(text):
    return bytes(int(part, 16) for part in text.split(":"))


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn_frame(dst_mac, src_mac, src_ip, dst_ip, src_port, dst_port, seq):
    """One Ethernet frame holding a TCP SYN with valid checksums."""
    src = ipaddress.IPv4Address(src_ip).packed
    dst = ipaddress.IPv4Address(dst_ip).packed
    tcp = struct.pack("!HHIIBBHHH", src_port, dst_port, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), seq & 0xFFFF, 0x4000, 64,
                     socket.IPPROTO_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + b"\x08\x00" + ip + tcp


def flood_port(index, ports, mix):
    """The sequence port spoofed source `index` always knocks.

    With `mix`, one source in 16 knocks the second port and one the third,
    the rest the first. A source never changes port, so no spoofed source
    can ever complete the sequence and open the door.
    """
    if mix and index % 16 == 14:
        return ports[1]
    if mix and index % 16 == 15:
        return ports[2]
    return ports[0]


def cmd_frames(args):
    ports = [int(p) for p in args.ports.split(",")]
    hosts = SPOOF_NET.num_addresses
    if not 1 <= args.first < hosts - 1 or args.count < 1 or args.first + args.count > hosts - 1:
        sys.exit("frames: sources must stay inside 198.19.0.1-198.19.255.254")
    rng = random.Random(args.first)
    with open(args.out, "wb") as out:
        out.write(PCAP_HEADER)
        for n in range(args.count):
            index = args.first + n
            src = SPOOF_NET.network_address + index
            port = args.port if args.port else flood_port(index, ports, args.mix)
            frame = syn_frame(args.dst_mac, args.src_mac, src, args.dst_ip,
                              rng.randrange(1024, 65536), port, rng.getrandbits(32))
            out.write(struct.pack("<IIII", n // 1_000_000, n % 1_000_000, len(frame), len(frame)))
            out.write(frame)


def cmd_knock(args):
    """Sends `count` knocks, knock k from `first` + k, with uniformly random gaps."""
    ports = [int(p) for p in args.ports.split(",")]
    first = ipaddress.IPv4Address(args.first)
    rng = random.Random()
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((args.interface, 0))
    deadline = time.monotonic() + args.count * args.max_gap + 5
    sent = 0
    for k in range(args.count):
        if time.monotonic() > deadline:
            break
        src = first + k
        sport = rng.randrange(1024, 65536)
        for i, port in enumerate(ports):
            if i:
                time.sleep(args.inner_gap)
            sock.send(syn_frame(args.dst_mac, args.src_mac, src, args.dst_ip, sport + i, port,
                                rng.getrandbits(32)))
        sent += 1
        time.sleep(rng.uniform(args.min_gap, args.max_gap))
    print(sent)


def quantile(values, q):
    """Nearest-rank quantile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(min(rank, len(ordered))) - 1]


def cmd_floor(args):
    """Spawn floor: parent's clock before fork -> `date` inside `sh -c` reads its clock."""
    samples = []
    for _ in range(args.count):
        before = time.time_ns()
        out = subprocess.run(["/bin/sh", "-c", "date +%s%N"], capture_output=True, text=True,
                             timeout=5, check=True).stdout
        samples.append((int(out.strip()) - before) / 1e6)
        time.sleep(0.02)
    print(json.dumps({"median_ms": quantile(samples, 0.5), "p99_ms": quantile(samples, 0.99)}))


def read_hits(path):
    """Command output lines `IP nanoseconds`, first per IP."""
    hits = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1].isdigit():
                    hits.setdefault(parts[0], int(parts[1]))
    except FileNotFoundError:
        pass
    return hits


def cmd_success(args):
    first = ipaddress.IPv4Address(args.first)
    hits = read_hits(args.hits)
    print(sum(1 for k in range(args.count) if str(first + k) in hits))


def cmd_latency(args):
    """Matches each knocker's last knock packet in tcpdump's `-tt` nanosecond
    output with the timestamp its command wrote; with several --capture and
    --hits (one pair per server run, in the same order), pools the runs."""
    if len(args.capture) != len(args.hits):
        sys.exit("latency: one --hits per --capture")
    pattern = re.compile(r"^(\d+)\.(\d{9}) IP (\d+\.\d+\.\d+\.\d+)\.\d+ > [\d.]+\.(\d+):")
    knocks = 0
    samples = []
    for capture, hits_path in zip(args.capture, args.hits):
        last_packet = {}
        with open(capture) as f:
            for line in f:
                m = pattern.match(line)
                if m and int(m.group(4)) == args.last_port:
                    last_packet[m.group(3)] = int(m.group(1)) * 1_000_000_000 + int(m.group(2))
        hits = read_hits(hits_path)
        knocks += len(last_packet)
        samples += [(hits[ip] - ts) / 1e6 for ip, ts in last_packet.items() if ip in hits]
    result = {"knocks": knocks, "opened": len(samples)}
    if samples:
        result.update(median_ms=quantile(samples, 0.5), p99_ms=quantile(samples, 0.99),
                      max_ms=max(samples), samples_ms=sorted(round(s, 3) for s in samples))
    print(json.dumps(result))


def accepted_within(src, dst_ip, port, wait):
    """Whether a TCP connection from `src` to `dst_ip`:`port` completes
    within `wait` seconds (a SYN the firewall drops gets no answer)."""
    with socket.socket() as s:
        s.setblocking(False)
        s.bind((src, 0))
        s.connect_ex((dst_ip, port))
        _, writable, _ = select.select([], [s], [], wait)
        return bool(writable) and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


def cmd_opentime(args):
    """Knock k comes from `first` + k (an address of the client): the
    door's sequence as raw SYNs, then connection attempts from that address
    to `port`, each given `poll` seconds, until one is accepted: the time
    from the last knock packet sent to that connection is the knock's."""
    ports = [int(p) for p in args.ports.split(",")]
    first = ipaddress.IPv4Address(args.first)
    rng = random.Random()
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    raw.bind((args.interface, 0))
    samples = []
    for k in range(args.count):
        src = str(first + k)
        sport = rng.randrange(1024, 65000)
        for i, port in enumerate(ports):
            if i:
                time.sleep(args.inner_gap)
            raw.send(syn_frame(args.dst_mac, args.src_mac, src, args.dst_ip, sport + i, port,
                               rng.getrandbits(32)))
        sent = time.monotonic()
        while time.monotonic() - sent < args.timeout:
            if accepted_within(src, args.dst_ip, args.port, args.poll):
                samples.append((time.monotonic() - sent) * 1000)
                break
        time.sleep(rng.uniform(args.min_gap, args.max_gap))
    result = {"knocks": args.count, "opened": len(samples)}
    if samples:
        result.update(median_ms=quantile(samples, 0.5), p99_ms=quantile(samples, 0.99),
                      max_ms=max(samples))
    print(json.dumps(result))


SYS_PIDFD_OPEN = 434
SYS_PIDFD_GETFD = 438
SOL_PACKET = 263
PACKET_STATISTICS = 6


def process_sockets(pid, what):
    """Yields a copy of each socket descriptor of process `pid`, taken with
    pidfd_getfd and closed when the caller moves on; `what` names the caller
    in the error when the process cannot be reached."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    if pidfd < 0:
        sys.exit(f"{what}: pidfd_open({pid}): {os.strerror(ctypes.get_errno())}")
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except OSError:
                continue
            fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                continue
            try:
                yield fd
            finally:
                os.close(fd)
    finally:
        os.close(pidfd)


def cmd_ring(args):
    """Prints `received dropped`: what the processes' packet sockets took in
    past their filters, and what their full rings lost, since the last read.

    The kernel keeps ring drops only in the socket's PACKET_STATISTICS
    (sk_drops and so `ss` stay at 0), readable only through the socket itself:
    the descriptor is copied out of the process with pidfd_getfd. Reading
    resets the counters, so a phase reads them once, at its end, and a socket
    that several of the processes hold is read once.
    """
    received = dropped = 0
    found = False
    seen = set()
    for pid in args.pid:
        for fd in process_sockets(pid, "ring"):
            inode = os.fstat(fd).st_ino
            if inode in seen:
                continue
            seen.add(inode)
            sock = socket.socket(fileno=fd)
            try:
                # struct tpacket_stats (TPACKET_V1/V2) or tpacket_stats_v3 (which
                # adds a freeze count): packets (drops included), drops.
                stats = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
                packets, drops = struct.unpack_from("II", stats)
            except (OSError, struct.error):
                continue
            finally:
                sock.detach()  # process_sockets closes the descriptor
            received += packets - drops
            dropped += drops
            found = True
    print(f"{received} {dropped}" if found else "n/a n/a")


def cmd_cpu(args):
    """Reads the processes' CPU-time clocks (the scheduler's ns-resolution
    runtime of all their threads) and prints the sum. /proc/PID/stat counts
    only 10 ms ticks, and /proc/PID/schedstat is missing from kernels without
    CONFIG_SCHED_INFO."""
    total = 0
    for pid in args.pid:
        clock = ((~pid) << 3) | 2  # MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
        total += time.clock_gettime_ns(clock)
    print(total)


def executable(pid):
    """The program `pid` runs; None once it has exited."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def children(pid):
    """The direct children of `pid`, over all its threads."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(child) for child in f.read().split()]
        except OSError:
            pass
    return found


def cmd_watcher(args):
    """Prints the watcher of knockd `--pid` (knockd(8), PRIVILEGE SEPARATION):
    its child that runs knockd's own program (a command's child runs it too,
    between its fork and its exec, for an instant; none runs at start). knockd
    forks it right after "listening on", so this waits for it, at most
    --timeout seconds; prints nothing without one (--no-privsep, 0.8)."""
    program = executable(args.pid)
    deadline = time.monotonic() + args.timeout
    while program is not None:
        for child in children(args.pid):
            if executable(child) == program:
                print(child)
                return
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    frames = sub.add_parser("frames", help="write a pcap of spoofed SYNs")
    frames.add_argument("--out", required=True)
    frames.add_argument("--dst-mac", required=True)
    frames.add_argument("--src-mac", required=True)
    frames.add_argument("--dst-ip", required=True)
    frames.add_argument("--ports", required=True, help="the door's sequence, e.g. 41001,41002,41003")
    frames.add_argument("--first", type=int, default=1, help="first source, as offset in 198.19.0.0/16")
    frames.add_argument("--count", type=int, required=True, help="distinct sources, one frame each")
    frames.add_argument("--port", type=int, default=0, help="send every frame to this port instead")
    frames.add_argument("--mix", action="store_true", help="1/16 to each later port, see flood_port")
    frames.set_defaults(func=cmd_frames)

    knock = sub.add_parser("knock", help="send real knocks")
    knock.add_argument("--interface", required=True)
    knock.add_argument("--dst-mac", required=True)
    knock.add_argument("--src-mac", required=True)
    knock.add_argument("--dst-ip", required=True)
    knock.add_argument("--ports", required=True)
    knock.add_argument("--first", required=True, help="source of the first knock; then +1 each")
    knock.add_argument("--count", type=int, required=True)
    knock.add_argument("--min-gap", type=float, required=True, help="seconds between knocks, least")
    knock.add_argument("--max-gap", type=float, required=True, help="seconds between knocks, most")
    knock.add_argument("--inner-gap", type=float, default=0.001, help="seconds between a knock's packets")
    knock.set_defaults(func=cmd_knock)

    floor = sub.add_parser("floor", help="spawn floor of sh -c date")
    floor.add_argument("--count", type=int, default=50)
    floor.set_defaults(func=cmd_floor)

    success = sub.add_parser("success", help="count knockers whose command ran")
    success.add_argument("--hits", required=True)
    success.add_argument("--first", required=True)
    success.add_argument("--count", type=int, required=True)
    success.set_defaults(func=cmd_success)

    latency = sub.add_parser("latency", help="knock-to-command latency")
    latency.add_argument("--capture", action="append", required=True,
                         help="tcpdump -tt --time-stamp-precision=nano output (repeatable)")
    latency.add_argument("--hits", action="append", required=True, help="the same run's hits (repeatable)")
    latency.add_argument("--last-port", type=int, required=True)
    latency.set_defaults(func=cmd_latency)

    ring = sub.add_parser("ring", help="packet-socket counters of processes, summed")
    ring.add_argument("--pid", type=int, nargs="+", required=True)
    ring.set_defaults(func=cmd_ring)

    cpu = sub.add_parser("cpu", help="CPU time of processes in ns, summed")
    cpu.add_argument("--pid", type=int, nargs="+", required=True)
    cpu.set_defaults(func=cmd_cpu)

    watcher = sub.add_parser("watcher", help="the watcher process of a knockd")
    watcher.add_argument("--pid", type=int, required=True, help="the knockd started (the opener)")
    watcher.add_argument("--timeout", type=float, default=10, help="seconds to wait for it")
    watcher.set_defaults(func=cmd_watcher)

    opentime = sub.add_parser("opentime", help="knock -> first accepted connection")
    opentime.add_argument("--interface", required=True)
    opentime.add_argument("--dst-mac", required=True)
    opentime.add_argument("--src-mac", required=True)
    opentime.add_argument("--dst-ip", required=True)
    opentime.add_argument("--ports", required=True)
    opentime.add_argument("--port", type=int, required=True, help="the port the door opens")
    opentime.add_argument("--first", required=True, help="source of the first knock; then +1 each")
    opentime.add_argument("--count", type=int, required=True)
    opentime.add_argument("--min-gap", type=float, default=0.1)
    opentime.add_argument("--max-gap", type=float, default=0.3)
    opentime.add_argument("--inner-gap", type=float, default=0.001)
    opentime.add_argument("--poll", type=float, default=0.0005,
                          help="seconds each connection attempt waits: the resolution")
    opentime.add_argument("--timeout", type=float, default=3, help="seconds before a knock counts as failed")
    opentime.set_defaults(func=cmd_opentime)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
