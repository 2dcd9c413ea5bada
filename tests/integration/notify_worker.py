#!/usr/bin/env python3
"""A test worker speaking sd_notify over $NOTIFY_SOCKET (python's socket module).

Modes (argv[1]):
  ready [STATUS]        send STATUS= (if given) and READY=1, then pause.
  held DIR              like ready, but when DIR/hold exists, first read a line from
                        the FIFO DIR/go; READY=1 is sent by a grandchild (a descendant).
  never                 never ready: pause.
  ready-once DIR        ready on its first start only (DIR/started marks it).
  watchdog N MS         ready, then N pings of WATCHDOG=1 every MS ms, then silence.
                        Exits 7 if WATCHDOG_USEC is missing.
"""
import os
import signal
import socket
import subprocess
import sys
import time


def notify(text):
    addr = os.environ["NOTIFY_SOCKET"]
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(text.encode(), addr)


def pause_forever():
    while True:
        signal.pause()


def main():
    mode = sys.argv[1]
    if mode == "ready":
        if len(sys.argv) > 2:
            notify("STATUS=" + sys.argv[2])
        notify("READY=1")
    elif mode == "held":
        d = sys.argv[2]
        notify("STATUS=warming up")
        if os.path.exists(os.path.join(d, "hold")):
            with open(os.path.join(d, "go")) as fifo:
                fifo.readline()
        # A descendant says READY=1 and stays alive (in our session).
        subprocess.Popen([sys.executable, __file__, "ready", "serving"])
    elif mode == "never":
        pass
    elif mode == "ready-once":
        marker = os.path.join(sys.argv[2], "started")
        if not os.path.exists(marker):
            open(marker, "w").close()
            notify("READY=1")
    elif mode == "watchdog":
        if "WATCHDOG_USEC" not in os.environ:
            sys.exit(7)
        notify("READY=1")
        for _ in range(int(sys.argv[2])):
            time.sleep(int(sys.argv[3]) / 1000)
            notify("WATCHDOG=1")
    pause_forever()


main()
