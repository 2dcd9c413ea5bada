"""Sandboxes: copies of a configured subtree under the dynamic supervisor."""
import json
import threading
import unittest

from otpsup_harness import DaemonTestCase, alive, wait_gone
from test_trees import walk


class Sandboxes(DaemonTestCase):
    def create(self, d, sid, *opts):
        return d.ctl("sandbox", "create", sid, *opts, check=False)

    def test_create_honours_the_options_and_copies_the_template(self):
        d = self.daemon()
        p = self.create(d, "s1", "--strategy", "one_for_all", "--intensity", "7", "--period", "9s")
        self.assertEqual(p.returncode, 0, p.stderr)
        node = d.status_json("demo_dynamic/s1")
        self.assertEqual(node["strategy"], "one_for_all")
        self.assertEqual(node["intensity"], 7)
        self.assertEqual(node["period_ms"], 9000)
        self.assertEqual([c["name"] for c in node["children"]], ["counter1", "counter2", "printer1"])
        self.assertTrue(all(c["state"] == "running" for c in node["children"]))
        info = json.loads(d.ctl("sandbox", "info", "s1", "--json").stdout)
        self.assertEqual(info["template"], "demo_tracking")

    def test_duplicate_is_already_exists_and_unknown_is_not_found(self):
        d = self.daemon()
        self.assertEqual(self.create(d, "s1").returncode, 0)
        dup = self.create(d, "s1")
        self.assertEqual(dup.returncode, 1)
        self.assertIn("already_exists", dup.stderr)
        gone = d.ctl("sandbox", "destroy", "nope", check=False)
        self.assertEqual(gone.returncode, 1)
        self.assertIn("not_found", gone.stderr)

    def test_destroy_stops_everything_in_it(self):
        d = self.daemon()
        self.create(d, "s1")
        pids = [n["pid"] for n in walk(d.status_json("demo_dynamic/s1"))]
        d.ctl("sandbox", "destroy", "s1")
        for pid in pids:
            self.assertFalse(alive(pid))
        self.assertEqual(d.status_json("demo_dynamic")["children"], [])
        listed = json.loads(d.ctl("sandbox", "list", "--json").stdout)
        self.assertEqual(listed["sandboxes"], [])

    def test_restart_gives_new_pids_and_counts_one_more_restart(self):
        d = self.daemon()
        self.create(d, "s1", "--intensity", "4")
        before = {n["path"]: n["pid"] for n in walk(d.status_json("demo_dynamic/s1"))}
        d.ctl("sandbox", "restart", "s1")
        after = {n["path"]: n["pid"] for n in walk(d.status_json("demo_dynamic/s1"))}
        self.assertEqual(set(before), set(after))
        for path in before:
            self.assertNotEqual(before[path], after[path])
        node = d.status_json("demo_dynamic/s1")
        self.assertEqual(node["restarts"], 1)
        self.assertEqual(node["intensity"], 4)  # same options

    def test_a_refused_restart_leaves_the_sandbox_as_it_was(self):
        d = self.daemon()
        self.create(d, "s1", "--intensity", "4")
        before = {n["path"]: n["pid"] for n in walk(d.status_json("demo_dynamic/s1"))}
        for opts, code in [(["--strategy", "bogus"], "bad_request"),
                           (["--template", "nope"], "not_found"),
                           (["--under", "nowhere"], "not_found"),
                           (["--under", "demo_dynamic/s1"], "bad_request")]:
            p = d.ctl("sandbox", "restart", "s1", *opts, check=False)
            self.assertEqual(p.returncode, 1, opts)
            self.assertIn(f"({code})", p.stderr, opts)
            after = {n["path"]: n["pid"] for n in walk(d.status_json("demo_dynamic/s1"))}
            self.assertEqual(after, before, opts)
        info = json.loads(d.ctl("sandbox", "info", "s1", "--json").stdout)
        self.assertEqual(info["options"], {"template": "demo_tracking", "intensity": 4})
        self.assertEqual(info["restarts"], 0)

    def test_restart_with_new_options_uses_them_and_keeps_the_others(self):
        d = self.daemon()
        self.create(d, "s1", "--intensity", "4")
        d.ctl("sandbox", "restart", "s1", "--strategy", "rest_for_one", "--under", "demo_dynamic")
        node = d.status_json("demo_dynamic/s1")
        self.assertEqual((node["strategy"], node["intensity"], node["restarts"]), ("rest_for_one", 4, 1))
        info = json.loads(d.ctl("sandbox", "info", "s1", "--json").stdout)
        self.assertEqual(info["options"], {"template": "demo_tracking", "intensity": 4,
                                           "strategy": "rest_for_one", "under": "demo_dynamic"})

    def test_kill_9_of_a_sandbox_is_handled_by_its_dynamic_supervisor(self):
        d = self.daemon()
        self.create(d, "s1")
        old = {n["path"]: n["pid"] for n in walk(d.status_json("demo_dynamic/s1"))}
        h = d.follow()
        d.ctl("kill", "s1", "-s", "KILL", "--force")
        rec = h.wait_for("restarted", "s1")
        self.assertEqual(rec["sup"], "root/demo_dynamic")
        for pid in old.values():
            self.assertTrue(wait_gone(pid, timeout=5))
        node = d.status_json("demo_dynamic/s1")
        self.assertEqual(node["state"], "running")
        self.assertTrue(all(c["state"] == "running" for c in node["children"]))

    def test_five_concurrent_creates_from_parallel_clients(self):
        d = self.daemon()
        results = {}

        def create(i):
            results[i] = self.create(d, f"p{i}").returncode

        threads = [threading.Thread(target=create, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(results, {i: 0 for i in range(5)})
        names = sorted(c["name"] for c in d.status_json("demo_dynamic")["children"])
        self.assertEqual(names, [f"p{i}" for i in range(5)])
        for node in d.status_json("demo_dynamic")["children"]:
            self.assertEqual([c["state"] for c in node["children"]], ["running"] * 3)


class Introspection(DaemonTestCase):
    def test_info_reads_proc_and_says_not_running_when_down(self):
        d = self.daemon()
        info = json.loads(d.ctl("info", "counter1", "--json").stdout)
        self.assertEqual(info["pid"], d.pid_of("demo_tracking/counter1"))
        self.assertGreater(info["rss_bytes"], 0)
        self.assertGreaterEqual(info["threads"], 1)
        self.assertIn("otpsup-counter", info["cmdline"][0])
        d.ctl("stop", "counter1")
        p = d.ctl("info", "counter1", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not_running", p.stderr)

    def test_stats_counts_restarts_in_the_window_for_a_supervisor_at_depth(self):
        d = self.daemon()
        h = d.follow()
        for _ in range(2):
            d.ctl("kill", "counter1", "-s", "KILL")
            h.wait_for("restarted", "counter1")
        stats = json.loads(d.ctl("stats", "demo_tracking", "--window", "60s", "--json").stdout)
        self.assertEqual(stats["restarts_in_window"], 2)
        self.assertAlmostEqual(stats["intensity_used"], 2 / 3, places=3)
        self.assertIn("SIGKILL", stats["last_exit_reason"])


if __name__ == "__main__":
    unittest.main()
