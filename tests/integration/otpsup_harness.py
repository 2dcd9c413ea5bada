"""Integration-test harness: a real otpsupd in its own temp dir.

Every wait has a deadline and waits on an event (the daemon's sd_notify
READY=1 datagram, a socket reply, a history record streamed by the daemon,
a process exit through a pidfd) -- never on a sleep. Teardown stops the daemon,
checks its exit status and stderr (sanitizer reports fail the test) and checks
that no process the test saw is still alive, killing survivors by pid.

A pid the test saw is counted (and killed) as a survivor only if it is still
the test's process: it carries the daemon's OTPSUP_TEST_TAG in its
environment, or it descends from this test process (which is a child
subreaper, so whatever escapes an otpsupd is re-parented here, not to init).
A pid re-used by somebody else's process after ours exited is left alone.
"""

import ctypes
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("OTPSUP_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
OTPSUPD = os.path.join(BIN, "otpsupd")
OTPSUPCTL = os.path.join(BIN, "otpsupctl")
COUNTER = os.path.join(BIN, "otpsup-counter")
PRINTER = os.path.join(BIN, "otpsup-printer")
DEADLINE = float(os.environ.get("OTPSUP_TEST_DEADLINE", "20"))

PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def flat_config(strategy="one_for_one", intensity=3, period="5s", workers=None, extra=""):
    """A root supervisor over `workers`: list of (name, command list, extra toml)."""
    workers = workers or [("a", [COUNTER], ""), ("b", [COUNTER], ""), ("c", [COUNTER], "")]
    lines = [
        "[supervisor.root]",
        f'strategy = "{strategy}"',
        f"intensity = {intensity}",
        f'period = "{period}"',
        "children = [" + ", ".join(f'"{w[0]}"' for w in workers) + "]",
        extra,
    ]
    for name, command, more in workers:
        lines += ["", f"[worker.{name}]", "command = " + json.dumps(command), more]
    return "\n".join(lines) + "\n"


class HistoryStream:
    """Follows the daemon's history through the control socket (history -f)."""

    def __init__(self, sock_path, backlog=False):
        """backlog=True: wait_for also sees every record written before now."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock_path)
        self.buf = b""
        self.records = []
        self.queued = []
        self._send({"id": 1, "cmd": "history", "n": 0 if backlog else 1, "follow": True})
        reply = self._read_message()
        assert reply.get("ok"), reply
        if backlog:
            self.queued = [json.loads(line) for line in reply["result"]["lines"]]

    def _send(self, obj):
        self.sock.sendall((json.dumps(obj) + "\n").encode())

    def _read_message(self, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from the daemon")
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("daemon closed the stream")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def wait_for(self, event, child=None, timeout=DEADLINE, count=1):
        """Returns the count-th new record with this event (and child)."""
        end = time.monotonic() + timeout
        seen = 0
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {event} record for {child}; saw {self.records}")
            if self.queued:
                rec = self.queued.pop(0)
            else:
                msg = self._read_message(left)
                if "stream" not in msg:
                    continue
                rec = json.loads(msg["stream"])
            self.records.append(rec)
            if rec["event"] == event and (child is None or rec.get("child") == child):
                seen += 1
                if seen == count:
                    return rec

    def close(self):
        self.sock.close()


class Daemon:
    """One otpsupd in --foreground mode, in a fresh temp dir."""

    def __init__(self, config_text=None, args=()):
        self.dir = tempfile.mkdtemp(prefix="otpsup-it-")
        self.sock_path = os.path.join(self.dir, "run", "otpsupd.sock")
        self.state_dir = os.path.join(self.dir, "state")
        self.config_path = None
        if config_text is not None:
            self.config_path = os.path.join(self.dir, "otpsup.toml")
            with open(self.config_path, "w") as f:
                f.write(config_text)
        self.args = list(args)
        self.preexec_fn = None  # run in otpsupd's process before exec (e.g. setrlimit)
        self.proc = None
        self.seen_pids = set()
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.tag = os.path.basename(self.dir)  # OTPSUP_TEST_TAG: marks what it started

    @property
    def history_path(self):
        return os.path.join(self.state_dir, "history.log")

    def command_line(self):
        cmd = [OTPSUPD, "--foreground", "--socket", self.sock_path, "--state-dir", self.state_dir]
        if self.config_path:
            cmd += ["-c", self.config_path]
        return cmd + self.args

    def start(self, expect_ready=True):
        """Starts otpsupd and waits for READY=1 (or for it to exit)."""
        notify_path = os.path.join(self.dir, "notify")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path, OTPSUP_TEST_TAG=self.tag)
        self.proc = subprocess.Popen(self.command_line(), env=env,
                                     stdout=open(self.stdout_path, "ab"),
                                     stderr=open(self.stderr_path, "ab"),
                                     preexec_fn=self.preexec_fn)
        self.seen_pids.add(self.proc.pid)
        pidfd = os.pidfd_open(self.proc.pid)
        try:
            r, _, _ = select.select([notify, pidfd], [], [], DEADLINE)
            if notify in r:
                msg = notify.recv(4096).decode()
                assert "READY=1" in msg, msg
                try:
                    for node in self.status_json()["children"]:
                        self.seen_pids.add(node["pid"])
                except (OSError, AssertionError, KeyError, ValueError,
                        subprocess.CalledProcessError):
                    pass  # e.g. a crash loop that already ended the daemon
                return True
            if pidfd in r:
                self.proc.wait()
                if expect_ready:
                    raise AssertionError(f"otpsupd exited {self.proc.returncode}: {self.stderr()}")
                return False
            raise TimeoutError("otpsupd did not become ready")
        finally:
            os.close(pidfd)
            notify.close()

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def ctl(self, *args, check=True, timeout=DEADLINE):
        """Runs otpsupctl; returns CompletedProcess (text)."""
        p = subprocess.run([OTPSUPCTL, "--socket", self.sock_path, *args],
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"otpsupctl {args} -> {p.returncode}: {p.stderr}")
        return p

    def request(self, obj):
        """One raw protocol request; returns the reply object."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.sock_path)
            s.settimeout(DEADLINE)
            s.sendall((json.dumps(obj) + "\n").encode())
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            return json.loads(buf.split(b"\n", 1)[0])

    def status_json(self, path=None):
        args = ["status", "--json"] + ([path] if path else [])
        tree = json.loads(self.ctl(*args).stdout)
        stack = [tree]
        while stack:
            node = stack.pop()
            if node.get("pid"):
                self.seen_pids.add(node["pid"])
            stack.extend(node.get("children", []))
        return tree

    def pid_of(self, path):
        return self.status_json(path)["pid"]

    def pid(self, name):
        for node in self.status_json()["children"]:
            if node["name"] == name:
                return node["pid"]
        raise KeyError(name)

    def follow(self, backlog=False):
        return HistoryStream(self.sock_path, backlog)

    def history(self, *extra):
        """Every record, through the daemon -- or from the file once it is down."""
        if self.proc is not None and self.proc.poll() is not None:
            extra = ("--file", self.state_dir) + extra
        out = self.ctl("history", "--json", "-n", "0", *extra).stdout
        recs = [json.loads(line) for line in out.splitlines() if line.strip()]
        for r in recs:
            for k in ("pid", "old_pid", "new_pid"):
                if r.get(k):
                    self.seen_pids.add(r[k])
        return recs

    def wait_exit(self, timeout=DEADLINE):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        """Orderly stop (SIGTERM); returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        try:
            self.history()  # learn every pid before it is gone
        except Exception:
            pass
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit()

    def cleanup(self, testcase):
        """Stops the daemon and asserts nothing it started survived."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.stop()
        finally:
            survivors = [p for p in self.seen_pids if alive(p) and started_here(p, self.tag)]
            for p in survivors:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            err = self.stderr() if os.path.exists(self.stderr_path) else ""
            shutil.rmtree(self.dir, ignore_errors=True)
            testcase.assertEqual(survivors, [], "processes survived the test")
            testcase.assertNotIn("Sanitizer", err, err)
            testcase.assertNotIn("runtime error", err, err)


def alive(pid):
    """True when pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except FileNotFoundError:
        return False


def tree_records(records):
    """The records about the tree's own children: without orphan_reaped.

    An orphan record tells of a process the tree never started (a worker's
    own child that outlived it, re-parented to otpsupd, the subreaper), so it
    may come at any point. Under LeakSanitizer every worker has one now and
    then: the tracer LSan clones at exit dies of its PDEATHSIG (SIGKILL)
    after the worker is gone.
    """
    return [r for r in records if r["event"] != "orphan_reaped"]


def environment_of(pid, timeout=DEADLINE):
    """The environment of a live process as a dict of bytes; {} when it is gone.

    A supervisor learns that a child started once the child's execve has
    replaced its memory, and the kernel writes the new program's environment
    (and argv) just after that: /proc/PID/environ of a process that has only
    just been reported started may still read empty. So an empty read of a
    live process is read again (a window of microseconds), with a deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                raw = f.read()
        except OSError:
            return {}
        if raw or not alive(pid) or time.monotonic() > deadline:
            return dict(kv.split(b"=", 1) for kv in raw.split(b"\0") if b"=" in kv)
        os.sched_yield()


def open_fds(pid):
    """The descriptor numbers a process holds, once its exec has finished.

    The kernel closes the close-on-exec descriptors after the point at which
    it lets the supervisor go on (see environment_of), so the list is read
    only once the new program's environment is there."""
    environment_of(pid)
    return sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))


def started_here(pid, tag):
    """True when pid is (still) a process of this test: it carries `tag` as
    OTPSUP_TEST_TAG, or this process is among its ancestors."""
    if environment_of(pid).get(b"OTPSUP_TEST_TAG") == tag.encode():
        return True
    me, p = os.getpid(), pid
    for _ in range(256):
        if p == me:
            return True
        if p <= 1:
            return False
        try:
            with open(f"/proc/{p}/stat") as f:
                p = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def wait_gone(pid, timeout=DEADLINE):
    """Waits (on a pidfd, not a sleep loop) until pid has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        r, _, _ = select.select([fd], [], [], timeout)
        return bool(r)
    finally:
        os.close(fd)


class DaemonTestCase(unittest.TestCase):
    """Gives each test self.daemon(...) with automatic cleanup."""

    def daemon(self, config_text=None, args=(), start=True):
        d = Daemon(config_text, args)
        self.addCleanup(d.cleanup, self)
        if start:
            d.start()
        return d
