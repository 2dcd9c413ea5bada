"""restart_delay with backoff, significant children with auto_shutdown, freeze/thaw."""
import datetime
import json
import os
import time
import unittest

from otpsup_harness import (COUNTER, DEADLINE, DaemonTestCase, alive, flat_config, tree_records,
                            wait_gone)
from test_trees import tree_config

# Exits 0 on SIGUSR1 (the whole group gets it: the sleep dies too).
EXIT_0_ON_USR1 = ["sh", "-c", 'trap "exit 0" USR1; while :; do sleep 5 & wait $!; done']


def ts(record):
    """A record's timestamp as a datetime."""
    return datetime.datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")


def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def wait_proc_state(pid, want, timeout=DEADLINE):
    """Waits until /proc/PID/stat shows (want=True) or stops showing (False)
    state T. Signal delivery is asynchronous, so this re-reads /proc, yielding
    the CPU, until a deadline; returns the last state seen."""
    end = time.monotonic() + timeout
    while True:
        state = proc_state(pid)
        if (state == "T") == want or time.monotonic() > end:
            return state
        os.sched_yield()


def toml_list(items):
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


class RestartDelay(DaemonTestCase):
    def test_a_delayed_restart_shows_in_status_and_history_and_backs_off(self):
        d = self.daemon(flat_config(workers=[
            ("a", [COUNTER], 'restart_delay = "3s"\nbackoff_max = "20s"'),
            ("b", [COUNTER], "")], intensity=10))
        h = d.follow()
        old = d.pid("a")
        d.ctl("kill", "a", "-s", "KILL")
        exited = h.wait_for("exited", "a")
        scheduled = h.wait_for("restart_scheduled", "a")
        self.assertGreaterEqual(scheduled["delay_ms"], 2700)  # 3 s +-10% jitter
        self.assertLessEqual(scheduled["delay_ms"], 3300)
        node = d.status_json("a")
        self.assertEqual(node["state"], "restarting")
        self.assertLessEqual(node["restart_in_ms"], scheduled["delay_ms"])
        self.assertIn("restarting in ", d.ctl("status").stdout)
        self.assertTrue(wait_gone(old))
        restarted = h.wait_for("restarted", "a")
        waited = (ts(restarted) - ts(exited)).total_seconds()
        self.assertGreaterEqual(waited, scheduled["delay_ms"] / 1000 - 0.05)
        self.assertLess(waited, scheduled["delay_ms"] / 1000 + 5)
        self.assertEqual(d.status_json("a")["state"], "running")
        # The next crash, soon after: the delay doubles.
        d.ctl("kill", "a", "-s", "KILL")
        second = h.wait_for("restart_scheduled", "a")
        self.assertGreaterEqual(second["delay_ms"], 5400)
        self.assertLessEqual(second["delay_ms"], 6600)
        self.assertEqual(d.status_json("b")["restarts"], 0)

    def test_stop_cancels_a_pending_restart_and_start_restarts_now(self):
        d = self.daemon(flat_config(workers=[("a", [COUNTER], 'restart_delay = "30s"')]))
        h = d.follow()
        d.ctl("kill", "a", "-s", "KILL")
        h.wait_for("restart_scheduled", "a")
        d.ctl("stop", "a")
        cancelled = h.wait_for("restart_cancelled", "a")
        self.assertEqual(cancelled["reason"], "manual stop")
        self.assertEqual(d.status_json("a")["state"], "stopped")
        d.ctl("start", "a")
        self.assertEqual(d.status_json("a")["state"], "running")
        # A second pending restart, overridden by `restart`.
        d.ctl("kill", "a", "-s", "KILL")
        h.wait_for("restart_scheduled", "a", count=1)
        d.ctl("restart", "a")
        h.wait_for("manual_restart", "a")
        self.assertEqual(d.status_json("a")["state"], "running")


class Significant(DaemonTestCase):
    def test_a_significant_child_exiting_0_ends_its_transient_nested_supervisor(self):
        d = self.daemon(tree_config([
            ("supervisor", "root", {"children": toml_list(["job", "keep"]), "intensity": 5}),
            ("supervisor", "job", {"children": toml_list(["main", "side"]),
                                   "restart": '"transient"',
                                   "auto_shutdown": '"any_significant"'}),
            ("worker", "main", {"command": json.dumps(EXIT_0_ON_USR1),
                                "restart": '"transient"', "significant": "true"}),
            ("worker", "side", {"command": f'["{COUNTER}"]'}),
            ("worker", "keep", {"command": f'["{COUNTER}"]'})]))
        job_pid = d.pid_of("root/job")
        side_pid = d.pid_of("root/job/side")
        h = d.follow()
        d.ctl("kill", "root/job/main", "-s", "USR1")
        exited_main = h.wait_for("exited", "main")
        self.assertEqual(exited_main.get("exit_code"), 0)
        auto = h.wait_for("auto_shutdown")
        self.assertEqual(auto["sup"], "root/job")
        self.assertIn("main", auto["reason"])
        stopped_side = h.wait_for("stopped", "side")
        self.assertEqual(stopped_side["reason"], "auto_shutdown")
        exited_job = h.wait_for("exited", "job")
        self.assertEqual(exited_job.get("exit_code"), 0)
        self.assertTrue(wait_gone(job_pid))
        self.assertTrue(wait_gone(side_pid))
        # A barrier: anything the root decided about job comes before this.
        d.ctl("stop", "keep")
        h.wait_for("stopped", "keep")
        self.assertNotIn(("restarted", "job"), [(r["event"], r.get("child")) for r in h.records])
        self.assertEqual(d.status_json("root/job")["state"], "down")

    def test_a_transient_significant_child_that_crashes_is_restarted(self):
        d = self.daemon(flat_config(
            workers=[("main", [COUNTER], 'restart = "transient"\nsignificant = true')],
            extra='auto_shutdown = "any_significant"'))
        h = d.follow()
        d.ctl("kill", "main", "-s", "KILL")
        h.wait_for("restarted", "main")
        self.assertIsNone(d.proc.poll())
        self.assertNotIn("auto_shutdown", [r["event"] for r in h.records])

    def test_auto_shutdown_of_the_root_ends_the_daemon_with_exit_0(self):
        d = self.daemon(flat_config(
            workers=[("main", EXIT_0_ON_USR1, 'restart = "transient"\nsignificant = true'),
                     ("other", [COUNTER], "")],
            extra='auto_shutdown = "any_significant"'))
        other = d.pid("other")
        d.history()
        d.ctl("kill", "main", "-s", "USR1")
        self.assertEqual(d.wait_exit(), 0)
        self.assertFalse(alive(other))
        events = [(r["event"], r.get("child")) for r in tree_records(d.history())]
        self.assertIn(("auto_shutdown", None), events)
        self.assertIn(("stopped", "other"), events)
        self.assertEqual(events[-1][0], "daemon_stopping")


class Freeze(DaemonTestCase):
    def test_freeze_stops_the_group_and_thaw_continues_it(self):
        d = self.daemon(flat_config(workers=[("a", [COUNTER], "")]))
        pid = d.pid("a")
        d.ctl("freeze", "a")
        self.assertEqual(wait_proc_state(pid, True), "T")
        node = d.status_json("a")
        self.assertTrue(node.get("frozen"))
        self.assertIn("frozen", d.ctl("status").stdout)
        d.ctl("thaw", "a")
        self.assertNotEqual(wait_proc_state(pid, False), "T")
        self.assertFalse(d.status_json("a").get("frozen", False))
        d.ctl("thaw", "a")  # not frozen: fine, nothing happens
        events = [r["event"] for r in d.history() if r.get("child") == "a"]
        self.assertEqual(events.count("frozen"), 1)
        self.assertEqual(events.count("thawed"), 1)
        self.assertEqual(d.pid("a"), pid)

    def test_a_frozen_child_is_stopped_and_a_killed_one_restarted(self):
        d = self.daemon(flat_config(workers=[("a", [COUNTER], ""), ("b", [COUNTER], "")]))
        a, b = d.pid("a"), d.pid("b")
        d.ctl("freeze", "a")
        d.ctl("freeze", "b")
        self.assertEqual(wait_proc_state(a, True), "T")
        h = d.follow()
        d.ctl("stop", "a")  # SIGTERM then SIGCONT: it dies
        h.wait_for("stopped", "a")
        self.assertTrue(wait_gone(a))
        d.ctl("kill", "b", "-s", "KILL")
        h.wait_for("restarted", "b")
        self.assertTrue(wait_gone(b))
        node = d.status_json("b")
        self.assertEqual(node["state"], "running")
        self.assertFalse(node.get("frozen", False))

    def test_freeze_of_a_supervisor_needs_force(self):
        d = self.daemon(tree_config([
            ("supervisor", "root", {"children": toml_list(["sub"])}),
            ("supervisor", "sub", {"children": toml_list(["w"])}),
            ("worker", "w", {"command": f'["{COUNTER}"]'})]))
        p = d.ctl("freeze", "sub", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--force", p.stderr)


if __name__ == "__main__":
    unittest.main()
