"""Pause/resume and the manual operations, on real processes."""
import unittest

from otpsup_harness import COUNTER, DaemonTestCase, alive, flat_config, wait_gone


class PauseResume(DaemonTestCase):
    def test_pause_keeps_a_killed_child_down_and_resume_brings_it_back(self):
        d = self.daemon(flat_config())
        h = d.follow()
        self.assertIn("paused", d.ctl("pause", "root").stdout)
        self.assertTrue(d.status_json()["paused"])
        old = d.pid("b")
        d.ctl("kill", "b", "-s", "KILL")
        h.wait_for("exited", "b")
        self.assertTrue(wait_gone(old))
        self.assertEqual(d.status_json("b")["state"], "down")
        self.assertEqual(d.status_json("b")["pid"], 0)
        d.ctl("resume", "root")
        rec = h.wait_for("restarted", "b")
        self.assertEqual(rec["old_pid"], old)
        self.assertEqual(d.status_json("b")["state"], "running")
        self.assertFalse(d.status_json()["paused"])
        self.assertEqual(d.status_json()["restarts_in_period"], 1)

    def test_several_deaths_while_paused_count_as_one_restart_on_resume(self):
        d = self.daemon(flat_config(intensity=1))
        h = d.follow()
        d.ctl("pause", "root")
        for n in "abc":
            d.ctl("kill", n, "-s", "KILL")
            h.wait_for("exited", n)
        d.ctl("resume", "root")
        for n in "abc":
            self.assertEqual(d.status_json(n)["state"], "running")
        self.assertEqual(d.status_json()["restarts_in_period"], 1)
        self.assertIsNone(d.proc.poll())

    def test_pause_stop_stops_children_in_reverse_and_resume_starts_them(self):
        d = self.daemon(flat_config())
        pids = [d.pid(n) for n in "abc"]
        h = d.follow()
        d.ctl("pause", "root", "--stop")
        # The reply came after the children were down.
        for p in pids:
            self.assertFalse(alive(p))
        stops = [r.get("child") for r in h.records if r["event"] == "stopped"]
        h.wait_for("stopped", "a")
        stops = [r.get("child") for r in h.records if r["event"] == "stopped"]
        self.assertEqual(stops, ["c", "b", "a"])
        d.ctl("resume", "root")
        for n in "abc":
            self.assertEqual(d.status_json(n)["state"], "running")

    def test_pause_of_a_worker_is_refused_with_a_hint(self):
        d = self.daemon(flat_config())
        p = d.ctl("pause", "a", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("refused", p.stderr)


class ManualOperations(DaemonTestCase):
    def test_stop_keeps_the_spec_and_the_child_stays_down_until_start(self):
        d = self.daemon(flat_config())
        old = d.pid("a")
        d.ctl("stop", "a")
        self.assertFalse(alive(old))
        st = d.status_json("a")
        self.assertEqual(st["state"], "stopped")
        self.assertEqual(d.status_json()["restarts_in_period"], 0)
        out = d.ctl("start", "a").stdout
        new = d.pid("a")
        self.assertIn(str(new), out)
        self.assertNotEqual(new, old)

    def test_start_of_a_running_child_is_refused(self):
        d = self.daemon(flat_config())
        p = d.ctl("start", "a", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already_running", p.stderr)

    def test_restart_is_recorded_as_manual_and_does_not_count(self):
        d = self.daemon(flat_config(intensity=0))
        old = d.pid("b")
        d.ctl("restart", "b")
        new = d.pid("b")
        self.assertNotEqual(new, old)
        rec = [r for r in d.history() if r["event"] == "manual_restart"]
        self.assertEqual(len(rec), 1)
        self.assertEqual((rec[0]["old_pid"], rec[0]["new_pid"]), (old, new))
        self.assertIsNone(d.proc.poll())  # intensity 0 and still alive

    def test_remove_refuses_a_running_child_and_deletes_a_stopped_one(self):
        d = self.daemon(flat_config())
        p = d.ctl("remove", "a", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("running", p.stderr)
        d.ctl("stop", "a")
        d.ctl("remove", "a")
        self.assertEqual([c["name"] for c in d.status_json()["children"]], ["b", "c"])
        self.assertEqual(d.ctl("status", "a", check=False).returncode, 1)

    def test_kill_of_the_root_is_refused(self):
        d = self.daemon(flat_config())
        p = d.ctl("kill", "root", "-s", "KILL", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIsNone(d.proc.poll())

    def test_unknown_paths_are_errors_and_full_paths_work(self):
        cfg = flat_config(workers=[("web1", [COUNTER], ""), ("api1", [COUNTER], "")])
        d = self.daemon(cfg)
        p = d.ctl("stop", "nope", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not_found", p.stderr)
        reply = d.request({"id": 5, "cmd": "stop", "path": "root/web1"})
        self.assertTrue(reply["ok"], reply)


if __name__ == "__main__":
    unittest.main()
