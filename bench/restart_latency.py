#!/usr/bin/env python3
"""Restart latency after SIGKILL and idle cost of otpsupd, beside the fork+exec floor.

Method (../shared/PEERS.md): the supervised program is bench/stamp_child.c, which
reads CLOCK_MONOTONIC first thing and writes "<pid> <ns>" to a FIFO. A latency is
the child's own stamp minus a stamp taken just before kill(2), so how fast this
script notices does not count. The floor is the same cycle in one minimal C
process (bench/floor.c). Idle cost: CPU time from /proc/PID/schedstat and
voluntary context switches (wake-ups) of otpsupd over a quiet window.

Usage: bench/restart_latency.py [--bin build/bin] [--samples 200] [--spaced 5] [--idle 10]
Prints a markdown table. Leaves no process behind (everything is killed by pid).
"""
import argparse
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def compile_c(src, out):
    subprocess.run(["cc", "-O2", "-o", out, os.path.join(HERE, src)], check=True)


def read_stamp(fd, buf, timeout=10.0):
    end = time.monotonic() + timeout
    while b"\n" not in buf[0]:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not r:
            raise TimeoutError("no stamp from the child")
        buf[0] += os.read(fd, 4096)
    line, buf[0] = buf[0].split(b"\n", 1)
    pid, ns = line.split()
    return int(pid), int(ns)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def fmt_ms(ns):
    return f"{ns / 1e6:.3f} ms"


def idle_cost(pid, seconds):
    def sample():
        with open(f"/proc/{pid}/schedstat") as f:
            cpu = int(f.read().split()[0])
        with open(f"/proc/{pid}/status") as f:
            vol = [int(l.split()[1]) for l in f if l.startswith("voluntary_ctxt_switches")][0]
        return cpu, vol
    c0, v0 = sample()
    time.sleep(seconds)  # the measurement window itself, not synchronisation
    c1, v1 = sample()
    return (c1 - c0), (v1 - v0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bin"))
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--spaced", type=int, default=5, help="samples with the child up > 1 s")
    ap.add_argument("--idle", type=float, default=10.0, help="idle window in seconds")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="otpsup-bench-")
    stamp = os.path.join(tmp, "stamp_child")
    floor_bin = os.path.join(tmp, "floor")
    compile_c("stamp_child.c", stamp)
    compile_c("floor.c", floor_bin)
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    env = dict(os.environ, STAMP_FIFO=fifo)

    floor = [int(x) for x in subprocess.run([floor_bin, stamp, fifo, str(args.samples)], env=env,
                                            capture_output=True, text=True, check=True).stdout.split()]

    config = os.path.join(tmp, "bench.toml")
    with open(config, "w") as f:
        f.write('[supervisor.root]\nintensity = 1000000\nperiod = "1s"\nchildren = ["s"]\n'
                f'[worker.s]\ncommand = ["{stamp}"]\nshutdown = "brutal_kill"\n')
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    buf = [b""]
    daemon = subprocess.Popen([os.path.join(args.bin, "otpsupd"), "--foreground", "-c", config,
                               "--socket", os.path.join(tmp, "sock"), "--state-dir",
                               os.path.join(tmp, "state")], env=env, stdout=subprocess.DEVNULL)
    seen = set()
    try:
        pid, _ = read_stamp(fd, buf)
        seen.add(pid)
        back_to_back = []
        for _ in range(args.samples):
            t0 = time.monotonic_ns()
            os.kill(pid, signal.SIGKILL)
            pid, ns = read_stamp(fd, buf)
            seen.add(pid)
            back_to_back.append(ns - t0)
        spaced = []
        for _ in range(args.spaced):
            time.sleep(1.05)  # the child must have been up > 1 s (a peer throttle)
            t0 = time.monotonic_ns()
            os.kill(pid, signal.SIGKILL)
            pid, ns = read_stamp(fd, buf)
            seen.add(pid)
            spaced.append(ns - t0)
        time.sleep(1.0)  # let the last restart's fsync and records settle before the window
        cpu_ns, wakeups = idle_cost(daemon.pid, args.idle)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)
        for p in seen:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)

    f50 = statistics.median(floor)
    print(f"| measure | fork+exec floor | otpsupd | ratio |")
    print(f"|---|---|---|---|")
    b50 = statistics.median(back_to_back)
    print(f"| restart p50, back-to-back (n={len(back_to_back)}) | {fmt_ms(f50)} | {fmt_ms(b50)} | {b50 / f50:.2f}x |")
    print(f"| restart p90, back-to-back | {fmt_ms(pct(floor, 0.9))} | {fmt_ms(pct(back_to_back, 0.9))} | |")
    if spaced:
        s50 = statistics.median(spaced)
        print(f"| restart p50, child up > 1 s (n={len(spaced)}) | {fmt_ms(f50)} | {fmt_ms(s50)} | {s50 / f50:.2f}x |")
    print(f"| idle CPU / wake-ups in {args.idle:.0f} s | 0 / 0 | {cpu_ns / 1e6:.3f} ms / {wakeups} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
