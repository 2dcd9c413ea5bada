"""otpsupd as pid 1 (unshare --pid --fork) and otpsupd --pid-namespace.

Both need PID namespaces (root, or unprivileged user namespaces): each test
tries `unshare` first and is skipped, with the reason, where that fails.

The tree is a worker that double-forks a setsid grandchild (the middle process
exits, so the grandchild is an orphan in its own session). Every process of a
test carries the test's temp dir on its command line, so what is left of the
tree is found by scanning the test's own /proc -- pids as the test sees them,
whatever namespace the daemon runs in.
"""
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

from otpsup_harness import (COUNTER, DEADLINE, OTPSUPCTL, Daemon, DaemonTestCase, alive,
                            flat_config, wait_gone)

# argv: DIR role [fd]. "idle": wait forever. "worker": fork a middle process that calls setsid, forks
# the grandchild and exits; reap it; wait forever. "grandchild": wait until its
# parent (the middle) is gone (EOF on fd), say so on the FIFO DIR/fifo, wait
# forever.
DOUBLE_FORK = r"""
import os, signal, sys
d, role = sys.argv[1], sys.argv[2]
if role == "idle":
    while True:
        signal.pause()
if role == "grandchild":
    os.read(int(sys.argv[3]), 1)  # EOF once the middle process has exited
    with open(os.path.join(d, "fifo"), "w") as f:
        f.write("orphaned\n")
    while True:
        signal.pause()
r, w = os.pipe()
middle = os.fork()
if middle == 0:
    os.setsid()
    if os.fork() == 0:
        os.set_inheritable(r, True)
        os.close(w)
        os.execv(sys.executable, [sys.executable, __file__, d, "grandchild", str(r)])
    os._exit(0)
os.close(r)
os.close(w)
os.waitpid(middle, 0)
while True:
    signal.pause()
"""


def _can_run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, timeout=DEADLINE).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def pid_namespaces_missing():
    """None when PID namespaces with a fresh /proc can be made; else the reason."""
    if _can_run(["unshare", "--pid", "--fork", "--mount", "--mount-proc", "true"]):
        return None
    if os.geteuid() != 0 and _can_run(["unshare", "--user", "--map-current-user", "--pid",
                                       "--fork", "--mount", "--mount-proc", "true"]):
        return None
    return "cannot create a PID namespace here (unshare --pid --fork failed: needs root, " \
           "or unprivileged user namespaces)"


MISSING = pid_namespaces_missing()


def tree_pids(marker):
    """Pids (of this test's namespace) whose command line holds marker."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(name))
        except OSError:
            pass
    return [p for p in found if p != os.getpid()]


def ppid_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def nspids(pid):
    """The NSpid line of /proc/PID/status: the pid in each namespace, outermost first."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    return []


class NamespaceDaemon(Daemon):
    """A Daemon whose tree lives in another PID namespace.

    As pid 1 under unshare --mount-proc, the pids the daemon reports are those
    of its namespace, not this one's, so none are collected from it: the tree
    is found by the marker instead. `prefix` goes before the otpsupd command.
    """

    def __init__(self, config_text, args=(), prefix=()):
        super().__init__(config_text, args)
        self.prefix = list(prefix)
        self.signal_pid = None  # stop() signals this pid instead of proc (unshare's child)

    def start(self, expect_ready=True):
        ready = super().start(expect_ready)
        # The harness took the children's pids from status: inner pids in
        # PID 1 mode, not pids of this namespace. Learn the tree by marker.
        self.seen_pids = {self.proc.pid}
        return ready

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.kill(self.signal_pid or self.proc.pid, signal.SIGTERM)
        return self.wait_exit()

    def command_line(self):
        return self.prefix + super().command_line()

    def status_json(self, path=None):
        args = ["status", "--json"] + ([path] if path else [])
        return json.loads(self.ctl(*args).stdout)

    def history(self, *extra):
        if "--file" not in extra and self.proc is not None and self.proc.poll() is not None:
            extra = ("--file", self.state_dir) + extra
        out = self.ctl("history", "--json", "-n", "0", *extra).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def learn_tree(self):
        """Adds every process of the tree to seen_pids; returns them."""
        pids = tree_pids(self.dir)
        self.seen_pids.update(pids)
        return pids


def wait_fifo_line(path):
    """Opens the FIFO (created by the test) and returns its first line, within DEADLINE."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        buf = b""
        end = time.monotonic() + DEADLINE
        while b"\n" not in buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("nothing on the FIFO " + path)
            r, _, _ = select.select([fd], [], [], left)
            if r:
                buf += os.read(fd, 256)  # b"" before any writer: select again
        return buf.decode()
    finally:
        os.close(fd)


def wait_all_gone(testcase, pids):
    for p in pids:
        testcase.assertTrue(wait_gone(p), f"pid {p} still alive after {DEADLINE}s")


class NamespaceTestCase(DaemonTestCase):
    def tree_daemon(self, args=(), prefix=()):
        """A daemon over `idle` and `forker` (the double fork); returns it once the
        grandchild is orphaned."""
        d = NamespaceDaemon(None, args, prefix)
        self.addCleanup(d.cleanup, self)
        script = os.path.join(d.dir, "double_fork.py")
        with open(script, "w") as f:
            f.write(DOUBLE_FORK)
        os.mkfifo(os.path.join(d.dir, "fifo"))
        d.config_path = os.path.join(d.dir, "otpsup.toml")
        with open(d.config_path, "w") as f:
            f.write(flat_config(workers=[
                ("idle", [sys.executable, script, d.dir, "idle"], ""),
                ("forker", [sys.executable, script, d.dir, "worker"], ""),
            ]))
        d.start()  # the grandchild's open of the FIFO waits for wait_fifo_line
        self.assertEqual(wait_fifo_line(os.path.join(d.dir, "fifo")), "orphaned\n")
        return d


@unittest.skipIf(MISSING, MISSING)
class PidOne(NamespaceTestCase):
    """otpsupd as the init of `unshare --pid --fork --mount-proc`."""

    PREFIX = ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--kill-child"]

    def otpsupd_pid(self, d):
        """otpsupd's pid here: the child of the unshare process."""
        with open(f"/proc/{d.proc.pid}/task/{d.proc.pid}/children") as f:
            children = [int(x) for x in f.read().split()]
        self.assertEqual(len(children), 1, children)
        self.assertEqual(nspids(children[0])[-1], 1)  # pid 1 of its namespace
        d.seen_pids.add(children[0])
        d.signal_pid = children[0]
        return children[0]

    def test_as_pid_1_reaps_orphans_and_stops_on_sigterm_with_exit_0(self):
        d = self.tree_daemon(prefix=self.PREFIX)
        init = self.otpsupd_pid(d)
        d.learn_tree()
        grandchild = tree_pids(d.dir + "\0grandchild")
        self.assertEqual(len(grandchild), 1)
        # The orphan was re-parented to otpsupd (pid 1 and subreaper) ...
        self.assertEqual(ppid_of(grandchild[0]), init)
        # ... which reaps it when it dies: no zombie left.
        h = d.follow()
        os.kill(grandchild[0], signal.SIGKILL)
        rec = h.wait_for("orphan_reaped")
        h.close()
        self.assertIn("SIGKILL", rec["reason"])
        self.assertFalse(os.path.exists(f"/proc/{grandchild[0]}"), "a zombie was left")
        # SIGHUP reaches pid 1 (it has a handler): a reload.
        h = d.follow()
        os.kill(init, signal.SIGHUP)
        h.wait_for("config_reloaded")
        h.close()
        tree = d.learn_tree()
        os.kill(init, signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)  # unshare exits with otpsupd's status
        wait_all_gone(self, tree)
        stopped = [r["child"] for r in d.history() if r["event"] == "stopped"]
        self.assertEqual(stopped, ["forker", "idle"])

    def test_as_pid_1_sigint_stops_the_tree(self):
        d = self.tree_daemon(prefix=self.PREFIX)
        init = self.otpsupd_pid(d)
        tree = d.learn_tree()
        os.kill(init, signal.SIGINT)
        self.assertEqual(d.wait_exit(), 0)
        wait_all_gone(self, tree)
        self.assertIn("received SIGINT",
                      [r.get("reason") for r in d.history() if r["event"] == "daemon_stopping"])


@unittest.skipIf(MISSING, MISSING)
class PidNamespace(NamespaceTestCase):
    """otpsupd --pid-namespace: the outer otpsupd, and the tree below its inner init."""

    def test_status_and_info_show_pids_as_seen_outside(self):
        d = self.tree_daemon(args=["--pid-namespace"])
        tree = d.status_json()
        init = tree["pid"]
        self.assertEqual(ppid_of(init), d.proc.pid)  # the inner init, child of the outer
        self.assertEqual(nspids(init)[-1], 1)
        self.assertEqual(d.request({"cmd": "ping"})["result"]["pid"], init)
        for node in tree["children"]:
            pid = node["pid"]
            self.assertEqual(ppid_of(pid), init, node)
            self.assertEqual(len(nspids(pid)), len(nspids(os.getpid())) + 1, node)
            info = json.loads(d.ctl("info", node["name"], "--json").stdout)
            self.assertEqual(info["pid"], pid)
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                self.assertEqual(info["cmdline"], f.read().decode().split("\0")[:-1])
        forker = [n for n in tree["children"] if n["name"] == "forker"][0]
        self.assertEqual(forker["state"], "running")
        recs = d.history()
        started = [r for r in recs if r["event"] == "daemon_started"][-1]
        self.assertEqual(started["pid"], init)
        self.assertTrue(started["pid_namespace"])
        # The history too shows pids as seen here, also for exits (written
        # once the process has been reaped and its pid is gone).
        for node in tree["children"]:
            self.assertIn(node["pid"], [r.get("pid") for r in recs
                                        if r["event"] == "started" and r["child"] == node["name"]])
        idle = [n for n in tree["children"] if n["name"] == "idle"][0]["pid"]
        h = d.follow()
        os.kill(idle, signal.SIGKILL)
        exited = h.wait_for("exited", "idle")
        restarted = h.wait_for("restarted", "idle")
        h.close()
        self.assertEqual(exited["pid"], idle)
        self.assertEqual(restarted["old_pid"], idle)
        self.assertEqual(restarted["new_pid"], d.status_json("idle")["pid"])
        self.assertEqual(ppid_of(restarted["new_pid"]), init)
        # SIGTERM to the outer process is forwarded: orderly stop, exit 0.
        pids = d.learn_tree() + [init]
        self.assertEqual(d.stop(), 0)
        wait_all_gone(self, pids)
        stopped = [r["child"] for r in d.history() if r["event"] == "stopped"]
        self.assertEqual(stopped, ["forker", "idle"])

    def test_kill_9_of_the_outer_otpsupd_leaves_nothing(self):
        d = self.tree_daemon(args=["--pid-namespace"])
        init = d.status_json()["pid"]
        pids = set(d.learn_tree()) | {init}
        self.assertEqual(len(pids), 5)  # outer, init, idle, forker, grandchild
        os.kill(d.proc.pid, signal.SIGKILL)
        self.assertEqual(d.wait_exit(), -signal.SIGKILL)
        wait_all_gone(self, pids)
        self.assertEqual(tree_pids(d.dir), [])

    def test_kill_9_of_the_inner_init_leaves_nothing_and_the_outer_fails(self):
        d = self.tree_daemon(args=["--pid-namespace"])
        init = d.status_json()["pid"]
        pids = d.learn_tree() + [init]
        os.kill(init, signal.SIGKILL)
        self.assertEqual(d.wait_exit(), 128 + signal.SIGKILL)
        wait_all_gone(self, pids)
        self.assertEqual(tree_pids(d.dir), [])

    shutdown_by = "signal"

    def test_the_outer_process_reports_ready_and_stopping_to_the_service_manager(self):
        # "slow" ignores SIGTERM: the orderly stop takes its 2 s shutdown, and
        # STOPPING=1 must come at its start, while slow still runs.
        slow = ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
        d = NamespaceDaemon(flat_config(workers=[("a", [COUNTER], ""),
                                                 ("slow", slow, 'shutdown = "2s"')]),
                            ["--pid-namespace"])
        self.addCleanup(d.cleanup, self)
        notify_path = os.path.join(d.dir, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(notify.close)
        notify.bind(notify_path)
        notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

        def receive():
            r, _, _ = select.select([notify], [], [], DEADLINE)
            self.assertTrue(r, "no message on NOTIFY_SOCKET")
            msg, ancdata, _, _ = notify.recvmsg(4096, socket.CMSG_SPACE(12))
            pid = struct.unpack("iII", ancdata[0][2])[0]  # SCM_CREDENTIALS: pid, uid, gid
            return msg.decode(), pid

        d.proc = subprocess.Popen(d.command_line(), env=dict(os.environ, NOTIFY_SOCKET=notify_path),
                                  stdout=subprocess.DEVNULL, stderr=open(d.stderr_path, "ab"))
        d.seen_pids.add(d.proc.pid)
        msg, sender = receive()
        self.assertIn("READY=1", msg)
        self.assertEqual(sender, d.proc.pid)  # the main pid: NotifyAccess=main suffices
        d.seen_pids.update(d.learn_tree() + [d.status_json()["pid"]])
        slow_pid = d.status_json("slow")["pid"]
        shutdown = None
        if self.shutdown_by == "signal":
            d.proc.send_signal(signal.SIGTERM)
        else:  # it answers once the tree is down: not waited for here
            shutdown = subprocess.Popen([OTPSUPCTL, "--socket", d.sock_path, "shutdown"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        msg, sender = receive()
        self.assertEqual((msg, sender), ("STOPPING=1", d.proc.pid))
        self.assertTrue(alive(slow_pid), "STOPPING=1 came only after the tree was down")
        self.assertEqual(d.wait_exit(), 0)
        if shutdown is not None:
            self.assertEqual(shutdown.wait(timeout=DEADLINE), 0)
        notify.setblocking(False)
        with self.assertRaises(BlockingIOError):  # said once, not twice
            notify.recv(4096)

    def test_the_outer_process_reports_stopping_for_otpsupctl_shutdown_too(self):
        self.shutdown_by = "otpsupctl"
        self.test_the_outer_process_reports_ready_and_stopping_to_the_service_manager()

    def test_background_mode_returns_once_the_tree_is_up(self):
        d = NamespaceDaemon(flat_config(workers=[("a", [COUNTER], "")]), ["--pid-namespace"])
        self.addCleanup(d.cleanup, self)
        cmd = [c for c in d.command_line() if c != "--foreground"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(p.returncode, 0, p.stderr)
        tree = d.status_json()
        init = tree["pid"]
        outer = ppid_of(init)
        d.seen_pids.update([init, outer, tree["children"][0]["pid"]])
        self.assertEqual(tree["children"][0]["state"], "running")
        self.assertEqual(ppid_of(tree["children"][0]["pid"]), init)
        os.kill(outer, signal.SIGTERM)
        for pid in (outer, init, tree["children"][0]["pid"]):
            self.assertTrue(wait_gone(pid))
        stopped = [r["child"] for r in d.history("--file", d.state_dir) if r["event"] == "stopped"]
        self.assertEqual(stopped, ["a"])


if __name__ == "__main__":
    unittest.main()
