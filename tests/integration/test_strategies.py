"""Each restart strategy on real processes killed with real signals."""
import unittest

from otpsup_harness import COUNTER, DaemonTestCase, flat_config, tree_records, wait_gone

FOUR = [(n, [COUNTER], "") for n in ("a", "b", "c", "d")]


class Strategies(DaemonTestCase):
    def test_one_for_one_restarts_only_the_killed_child(self):
        d = self.daemon(flat_config("one_for_one", workers=FOUR))
        before = {n: d.pid(n) for n in "abcd"}
        h = d.follow()
        out = d.ctl("kill", "b", "-s", "KILL").stdout
        self.assertIn(str(before["b"]), out)
        rec = h.wait_for("restarted", "b")
        self.assertEqual(rec["old_pid"], before["b"])
        self.assertEqual(rec["reason"], "killed by SIGKILL")
        after = {n: d.pid(n) for n in "abcd"}
        self.assertNotEqual(after["b"], before["b"])
        for n in "acd":
            self.assertEqual(after[n], before[n])

    def test_one_for_all_stops_others_in_reverse_order_then_starts_all_in_order(self):
        d = self.daemon(flat_config("one_for_all", workers=FOUR))
        before = {n: d.pid(n) for n in "abcd"}
        h = d.follow()
        d.ctl("kill", "b", "-s", "KILL")
        h.wait_for("restarted", "d")
        events = [(r["event"], r.get("child")) for r in tree_records(h.records)]
        self.assertEqual(events, [
            ("exited", "b"),
            ("stopped", "d"), ("stopped", "c"), ("stopped", "a"),
            ("restarted", "a"), ("restarted", "b"), ("restarted", "c"), ("restarted", "d"),
        ])
        for n in "abcd":
            self.assertNotEqual(d.pid(n), before[n])
            self.assertTrue(wait_gone(before[n]))

    def test_rest_for_one_restarts_the_dead_child_and_those_after_it(self):
        d = self.daemon(flat_config("rest_for_one", workers=FOUR))
        before = {n: d.pid(n) for n in "abcd"}
        h = d.follow()
        d.ctl("kill", "b", "-s", "KILL")
        h.wait_for("restarted", "d")
        events = [(r["event"], r.get("child")) for r in tree_records(h.records)]
        self.assertEqual(events, [
            ("exited", "b"), ("stopped", "d"), ("stopped", "c"),
            ("restarted", "b"), ("restarted", "c"), ("restarted", "d"),
        ])
        self.assertEqual(d.pid("a"), before["a"])

    def test_transient_child_exiting_zero_stays_down(self):
        workers = [("t", [COUNTER, "--crash-after", "10ms", "--exit-code", "0"],
                    'restart = "transient"'), ("a", [COUNTER], "")]
        d = self.daemon(flat_config("one_for_one", workers=workers))
        h = d.follow(backlog=True)
        rec = h.wait_for("exited", "t")
        self.assertEqual(rec["exit_code"], 0)
        st = d.status_json("t")
        self.assertEqual(st["state"], "down")
        self.assertEqual(d.status_json()["restarts_in_period"], 0)

    def test_transient_child_killed_by_a_foreign_sigterm_is_restarted(self):
        # sleep(1) keeps SIGTERM's default action: it dies of the signal.
        workers = [("t", ["sleep", "1000"], 'restart = "transient"')]
        d = self.daemon(flat_config("one_for_one", workers=workers))
        h = d.follow()
        old = d.pid("t")
        d.ctl("kill", "t", "-s", "TERM")
        rec = h.wait_for("restarted", "t")
        self.assertEqual(rec["old_pid"], old)

    def test_temporary_child_is_not_restarted_and_its_spec_is_removed(self):
        workers = [("tmp", [COUNTER], 'restart = "temporary"'), ("a", [COUNTER], "")]
        d = self.daemon(flat_config("one_for_one", workers=workers))
        h = d.follow()
        d.ctl("kill", "tmp", "-s", "KILL")
        h.wait_for("exited", "tmp")
        names = [c["name"] for c in d.status_json()["children"]]
        self.assertEqual(names, ["a"])


if __name__ == "__main__":
    unittest.main()
