"""Restart intensity: a crash loop is stopped and reported, never spun."""
import unittest

from otpsup_harness import COUNTER, DaemonTestCase, flat_config


class Intensity(DaemonTestCase):
    def test_crash_loop_over_the_intensity_gives_up_and_exits_3(self):
        workers = [("ok", [COUNTER], ""),
                   ("loop", [COUNTER, "--crash-after", "5ms", "--exit-code", "7"], "")]
        d = self.daemon(flat_config(intensity=3, period="10s", workers=workers))
        code = d.wait_exit()
        self.assertEqual(code, 3)  # DaemonExit::gave_up
        recs = [r for r in d.history() if r["event"] in
                ("exited", "restarted", "gave_up", "stopped", "daemon_stopping")]
        loop = [r["event"] for r in recs if r.get("child") == "loop"]
        self.assertEqual(loop.count("restarted"), 3)
        self.assertEqual(loop.count("exited"), 4)
        gave_up = [i for i, r in enumerate(recs) if r["event"] == "gave_up"]
        self.assertEqual(len(gave_up), 1)
        # Give-up is recorded before the stops of the other children.
        stopped_ok = [i for i, r in enumerate(recs)
                      if r["event"] == "stopped" and r.get("child") == "ok"]
        self.assertEqual(len(stopped_ok), 1)
        self.assertLess(gave_up[0], stopped_ok[0])
        self.assertIn("reached intensity 3", recs[gave_up[0]]["reason"])
        self.assertIn("root supervisor gave up", d.stderr())

    def test_intensity_zero_gives_up_on_the_first_crash(self):
        d = self.daemon(flat_config(intensity=0))
        d.ctl("kill", "a", "-s", "KILL")
        self.assertEqual(d.wait_exit(), 3)
        self.assertEqual([r["event"] for r in d.history() if r["event"] == "restarted"], [])

    def test_missing_executable_at_runtime_is_a_start_failure_that_counts(self):
        import os
        import shutil
        d0 = self.daemon(start=False)
        copy = os.path.join(d0.dir, "counter-copy")
        shutil.copy(COUNTER, copy)
        d = self.daemon(flat_config(intensity=2, workers=[("a", [copy], "")]))
        h = d.follow()
        os.unlink(copy)
        d.ctl("kill", "a", "-s", "KILL")
        rec = h.wait_for("start_failed", "a")
        self.assertIn("No such file or directory", rec["reason"])
        self.assertEqual(d.wait_exit(), 3)
        fails = [r for r in d.history() if r["event"] == "start_failed"]
        self.assertEqual(len(fails), 2)  # restart 1 fails, retry 2 fails, 3rd exceeds


if __name__ == "__main__":
    unittest.main()
