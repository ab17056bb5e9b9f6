#!/usr/bin/python3
"""Samples the memory and CPU of a process tree until told to stop.

    procstat.py --pid PID [--interval 0.1] [--max-seconds 600]

Every interval it finds PID and all its descendants in /proc and sums
their RSS (from /proc/N/statm); every 10th sample it also sums PSS (from
/proc/N/smaps_rollup, which shares out pages mapped by several processes,
so it is the fairer number for a server made of many processes). On
SIGTERM, SIGINT, the end of the root process or --max-seconds it prints

    PEAK rss_kb=... pss_kb=... procs=... cpu_s=... samples=...

where cpu_s is the CPU time (user+system) the tree used while sampled:
live processes' own time plus the root's reaped children.
"""
import argparse
import os
import signal
import sys
import time

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
HZ = os.sysconf("SC_CLK_TCK")
stop = False


def on_signal(signum, frame):
    global stop
    stop = True


def read_stat(pid):
    """(ppid, utime+stime, cutime+cstime) in ticks, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(b")") + 2:].split()
    # fields after comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def tree(root):
    """{pid: stat} of root and its descendants."""
    stats = {}
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        st = read_stat(pid)
        if st is None:
            continue
        stats[pid] = st
        children.setdefault(st[0], []).append(pid)
    if root not in stats:
        return {}
    out = {}
    todo = [root]
    while todo:
        p = todo.pop()
        if p in stats:
            out[p] = stats[p]
        todo.extend(children.get(p, ()))
    return out


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except OSError:
        return 0


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(root, procs):
    total = 0
    for pid, (_, own, reaped) in procs.items():
        total += own
        if pid == root:
            total += reaped
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--max-seconds", type=float, default=600)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    procs = tree(args.pid)
    if not procs:
        print(f"procstat: no process {args.pid}", file=sys.stderr)
        return 1
    cpu0 = cpu_ticks(args.pid, procs)
    cpu1 = cpu0
    peak_rss = peak_pss = peak_procs = 0
    samples = 0
    end = time.monotonic() + args.max_seconds
    while not stop and time.monotonic() < end:
        procs = tree(args.pid)
        if not procs:
            break
        cpu1 = cpu_ticks(args.pid, procs)
        peak_rss = max(peak_rss, sum(rss_kb(p) for p in procs))
        if samples % 10 == 0:
            peak_pss = max(peak_pss, sum(pss_kb(p) for p in procs))
        peak_procs = max(peak_procs, len(procs))
        samples += 1
        time.sleep(args.interval)
    procs = tree(args.pid)
    if procs:
        cpu1 = cpu_ticks(args.pid, procs)
    print(f"PEAK rss_kb={peak_rss} pss_kb={peak_pss} procs={peak_procs} "
          f"cpu_s={(cpu1 - cpu0) / HZ:.2f} samples={samples}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
