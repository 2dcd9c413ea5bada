"""Readiness (ready = "notify" | { fd = N }, start_timeout), the watchdog, and
`otpsupctl wait`, on real processes."""
import os
import shutil
import socket
import sys
import unittest
from datetime import datetime

from otpsup_harness import (COUNTER, OTPSUPD, PRINTER, DaemonTestCase, alive, environment_of,
                            flat_config, open_fds, wait_gone)

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notify_worker.py")
PY = sys.executable


def ts(record):
    return datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))


def events(records, *names):
    return [(r["event"], r.get("child")) for r in records if r["event"] in names]


class Readiness(DaemonTestCase):
    def held_tree(self, d0):
        """slow (ready = notify, held by a FIFO when DIR/hold exists) then after."""
        os.mkfifo(os.path.join(d0.dir, "go"))
        return flat_config(strategy="rest_for_one", intensity=5, workers=[
            ("slow", [PY, WORKER, "held", d0.dir], 'ready = "notify"'),
            ("after", [COUNTER], ""),
        ])

    def test_a_sibling_starts_only_after_its_predecessor_is_ready(self):
        d0 = self.daemon(start=False)
        d = self.daemon(self.held_tree(d0))  # d0.dir: the worker's FIFO and hold file
        boot = d.history()
        self.assertEqual(events(boot, "started", "ready"),
                         [("started", "slow"), ("ready", "slow"), ("started", "after")])
        started = [r for r in boot if r["event"] == "started" and r["child"] == "slow"][0]
        self.assertEqual(started.get("awaiting"), "ready")

        open(os.path.join(d0.dir, "hold"), "w").close()
        follow = d.follow()
        self.addCleanup(follow.close)
        d.ctl("kill", "-s", "KILL", "slow")
        restarted = follow.wait_for("restarted", "slow")
        d.seen_pids.add(restarted["new_pid"])
        tree = {c["name"]: c for c in d.status_json()["children"]}
        self.assertEqual(tree["slow"]["state"], "starting")
        self.assertEqual(tree["after"]["state"], "down")
        # Not ready while held: wait times out (exit 1, code timeout).
        p = d.ctl("wait", "after", "ready", "--timeout", "300ms", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("(timeout)", p.stderr)

        fifo = os.open(os.path.join(d0.dir, "go"), os.O_RDWR)  # never blocks
        try:
            os.write(fifo, b"go\n")
            ready = follow.wait_for("ready", "slow")
            after = follow.wait_for("restarted", "after")
        finally:
            os.close(fifo)
        self.assertGreater(after["seq"], ready["seq"])
        self.assertGreaterEqual(ts(after), ts(ready))
        self.assertEqual(d.ctl("wait", "after", "ready").returncode, 0)
        tree = {c["name"]: c for c in d.status_json()["children"]}
        self.assertEqual(tree["slow"]["state"], "running")
        self.assertEqual(tree["slow"]["status_text"], "serving")
        self.assertIn('"serving"', d.ctl("status").stdout)

    def test_a_stranger_cannot_make_a_child_ready(self):
        d0 = self.daemon(start=False)
        d = self.daemon(self.held_tree(d0))
        open(os.path.join(d0.dir, "hold"), "w").close()
        follow = d.follow()
        self.addCleanup(follow.close)
        d.ctl("kill", "-s", "KILL", "slow")
        pid = follow.wait_for("restarted", "slow")["new_pid"]
        d.seen_pids.add(pid)
        address = environment_of(pid)[b"NOTIFY_SOCKET"].decode()
        self.assertTrue(address.startswith("@"), address)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"READY=1", "\0" + address[1:])  # from the test: not in the tree
        p = d.ctl("wait", "slow", "ready", "--timeout", "300ms", check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(d.status_json("slow")["state"], "starting")
        fifo = os.open(os.path.join(d0.dir, "go"), os.O_RDWR)
        try:
            os.write(fifo, b"go\n")
            follow.wait_for("ready", "slow")
        finally:
            os.close(fifo)

    def test_ready_fd_a_newline_on_fd_n(self):
        def script(n):
            return f"printf '\\n' >&{n}; exec {n}>&-; exec sleep 100000"
        d = self.daemon(flat_config(workers=[
            ("a", ["/bin/sh", "-c", script(4)], "ready = { fd = 4 }\nchannel = true"),
            # (dash redirects only fds 0-9)
            ("c", [PY, "-c", "import os; os.write(12, b'\\n'); os.close(12); "
                   "os.execvp('sleep', ['sleep', '100000'])"], "ready = { fd = 12 }"),
            ("b", [COUNTER], ""),
        ]))
        self.assertEqual(events(d.history(), "started", "ready"),
                         [("started", "a"), ("ready", "a"), ("started", "c"), ("ready", "c"),
                          ("started", "b")])
        self.assertEqual(d.status_json("a")["state"], "running")
        # Once the ready fd is closed, nothing else of the daemon's is open.
        self.assertEqual(open_fds(d.pid("a")), [0, 1, 2, 3])
        self.assertEqual(open_fds(d.pid("c")), [0, 1, 2])

    def test_start_timeout_fails_the_boot_and_kills_the_child(self):
        d = self.daemon(flat_config(workers=[
            ("a", [PY, WORKER, "never"], 'ready = "notify"\nstart_timeout = "300ms"'),
            ("b", [COUNTER], ""),
        ]), start=False)
        self.assertFalse(d.start(expect_ready=False))
        self.assertEqual(d.proc.returncode, 4)  # boot failed
        recs = d.history()
        pid = [r for r in recs if r["event"] == "started"][0]["pid"]
        self.assertFalse(alive(pid))
        failed = [r for r in recs if r["event"] == "start_failed"]
        self.assertEqual(failed[0]["reason"], "not ready within 300ms")
        self.assertNotIn(("started", "b"), events(recs, "started"))

    def test_start_timeout_on_restart_counts_for_intensity(self):
        d0 = self.daemon(start=False)
        d = self.daemon(flat_config(intensity=1, workers=[
            ("a", [PY, WORKER, "ready-once", d0.dir], 'ready = "notify"\nstart_timeout = "300ms"'),
        ]))
        pid = d.pid("a")
        d.ctl("kill", "-s", "KILL", "a")  # restart 1; its start times out: 2 > intensity 1
        self.assertEqual(d.wait_exit(), 3)  # gave up
        self.assertTrue(wait_gone(pid))
        recs = d.history()
        self.assertEqual(events(recs, "exited", "restarted", "start_failed", "gave_up"),
                         [("exited", "a"), ("restarted", "a"), ("start_failed", "a"),
                          ("gave_up", None)])
        self.assertEqual([r for r in recs if r["event"] == "start_failed"][0]["reason"],
                         "not ready within 300ms")

    def test_watchdog_timeout_is_a_crash_with_its_reason(self):
        d = self.daemon(flat_config(intensity=10, workers=[
            ("w", [PY, WORKER, "watchdog", "6", "100"], 'ready = "notify"\nwatchdog = "400ms"'),
        ]))
        follow = d.follow(backlog=True)
        self.addCleanup(follow.close)
        ready = follow.wait_for("ready", "w")
        exited = follow.wait_for("exited", "w")
        restarted = follow.wait_for("restarted", "w")
        d.seen_pids.add(restarted["new_pid"])
        self.assertEqual(exited["reason"], "watchdog timeout")
        self.assertEqual(exited["signal"], "SIGKILL")
        self.assertEqual(restarted["reason"], "watchdog timeout")
        # Six pings 100 ms apart kept it alive past one watchdog period.
        self.assertGreaterEqual((ts(exited) - ts(ready)).total_seconds(), 0.6)

    def test_the_demo_workers_say_ready_and_ping_their_watchdog(self):
        # The README's example: printer1 depends on counter1 by order plus readiness.
        d = self.daemon(flat_config(strategy="rest_for_one", workers=[
            ("counter1", [COUNTER], 'channel = true\nready = "notify"\nwatchdog = "300ms"'),
            ("printer1", [PRINTER, "--id", "1"], ""),
        ]))
        self.assertEqual(events(d.history(), "started", "ready"),
                         [("started", "counter1"), ("ready", "counter1"), ("started", "printer1")])
        # Pinged every 150 ms, it outlives many watchdog periods.
        p = d.ctl("wait", "counter1", "down", "--timeout", "1200ms", check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(events(d.history(), "exited"), [])
        self.assertEqual(d.ctl("call", "counter1", "increment", "2").stdout.strip(), "2")

    def test_a_node_process_hears_its_own_workers(self):
        text = "\n".join([
            "[supervisor.root]", 'children = ["sub", "after"]',
            "[supervisor.sub]", 'children = ["w"]',
            "[worker.w]", f'command = ["{PY}", "{WORKER}", "ready", "in a node"]',
            'ready = "notify"',
            "[worker.after]", f'command = ["{COUNTER}"]', ""])
        d = self.daemon(text)
        recs = [(r["event"], r["sup"], r.get("child")) for r in d.history()
                if r["event"] in ("started", "ready")]
        self.assertEqual(recs, [("started", "root/sub", "w"), ("ready", "root/sub", "w"),
                                ("started", "root", "sub"), ("started", "root", "after")])
        self.assertEqual(d.status_json("root/sub/w")["status_text"], "in a node")

    @unittest.skipUnless(shutil.which("systemd-notify"),
                         "systemd-notify is not installed (Debian package systemd)")
    def test_systemd_notify_works_unchanged(self):
        script = "systemd-notify --ready --status='up via systemd-notify'; exec sleep 100000"
        d = self.daemon(flat_config(workers=[
            ("a", ["/bin/sh", "-c", script], 'ready = "notify"\nstart_timeout = "10s"'),
            ("b", [COUNTER], ""),
        ]))
        self.assertEqual(events(d.history(), "started", "ready"),
                         [("started", "a"), ("ready", "a"), ("started", "b")])
        a = d.status_json("a")
        self.assertEqual(a["state"], "running")
        self.assertEqual(a["status_text"], "up via systemd-notify")

    def test_wait_down_and_timeouts(self):
        d = self.daemon(flat_config())
        pid = d.pid("a")
        self.assertEqual(d.ctl("wait", "a", "ready").returncode, 0)
        d.ctl("stop", "a")
        self.assertTrue(wait_gone(pid))
        self.assertEqual(d.ctl("wait", "a", "down", "--timeout", "5s").stdout.strip(),
                         "root/a is down")
        p = d.ctl("wait", "a", "ready", "--timeout", "200ms", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("(timeout)", p.stderr)
        p = d.ctl("wait", "nosuch", "ready", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not_found", p.stderr)


class ReadinessConfig(unittest.TestCase):
    def check(self, more, channel=False):
        import subprocess
        import tempfile
        text = flat_config(workers=[("a", [COUNTER], more + ("\nchannel = true" if channel else ""))])
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.toml")
            with open(path, "w") as f:
                f.write(text)
            p = subprocess.run([OTPSUPD, "--check", path], capture_output=True, text=True,
                               timeout=20)
            return p.returncode, p.stderr.replace(path, "FILE")

    def test_ready_fd_must_not_be_0_to_2(self):
        code, err = self.check("ready = { fd = 2 }")
        self.assertEqual(code, 1)
        self.assertIn("FILE:10:16: ready.fd: expected an integer from 3 to 255, found 2", err)
        self.assertIn("ready.fd", err)

    def test_ready_fd_3_clashes_with_the_channel(self):
        code, err = self.check("ready = { fd = 3 }", channel=True)
        self.assertEqual(code, 1)
        self.assertIn("message channel", err)

    def test_ready_must_be_notify_or_a_table(self):
        code, err = self.check('ready = "yes"')
        self.assertEqual(code, 1)
        self.assertIn('expected "notify" or { fd = N }', err)

    def test_valid_readiness_keys_pass(self):
        code, err = self.check('ready = "notify"\nstart_timeout = "infinity"\nwatchdog = "2s"')
        self.assertEqual(code, 0, err)


if __name__ == "__main__":
    unittest.main()
