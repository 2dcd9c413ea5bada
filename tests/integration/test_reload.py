"""Live reload: validate first, then apply only the difference."""
import json
import os
import shutil
import signal
import subprocess
import unittest

from otpsup_harness import COUNTER, DaemonTestCase, Daemon, alive, wait_gone
from test_trees import supervisor, tree_config, walk, worker


def pids(d):
    return {n["path"]: n["pid"] for n in walk(d.status_json())}


class Reload(DaemonTestCase):
    BEFORE = [supervisor("root", ["sub", "keep", "gone"]), supervisor("sub", ["s1", "s2"]),
              worker("s1"), worker("s2"), worker("keep"), worker("gone"), worker("changed")]

    def rewrite(self, d, sections):
        with open(d.config_path, "w") as f:
            f.write(tree_config(sections))

    def test_reload_adds_removes_and_changes_children_leaving_the_rest_alone(self):
        d = self.daemon(tree_config(self.BEFORE))
        before = pids(d)
        self.rewrite(d, [supervisor("root", ["sub", "keep", "new"], intensity=5),
                         supervisor("sub", ["s1", "s2", "s3"]),
                         worker("s1"), worker("s2", "--start", "7"), worker("s3"),
                         worker("keep"), worker("new")])
        plan = d.ctl("reload", "--dry-run", "--json").stdout
        self.assertIn("root/gone", plan)
        self.assertEqual(pids(d), before)  # a dry run changes nothing
        d.ctl("reload")
        after = pids(d)
        for kept in ("root/sub", "root/sub/s1", "root/keep"):
            self.assertEqual(after[kept], before[kept], kept)
        self.assertNotEqual(after["root/sub/s2"], before["root/sub/s2"])
        self.assertFalse(alive(before["root/sub/s2"]))
        self.assertFalse(alive(before["root/gone"]))
        self.assertNotIn("root/gone", after)
        self.assertTrue(alive(after["root/new"]))
        self.assertTrue(alive(after["root/sub/s3"]))
        self.assertEqual([c["name"] for c in d.status_json()["children"]], ["sub", "keep", "new"])
        self.assertEqual(d.status_json()["intensity"], 5)
        rec = [r for r in d.history() if r["event"] == "config_reloaded"]
        self.assertEqual(len(rec), 1)
        actions = {(c["path"], c["action"]) for c in rec[0]["changes"]}
        self.assertTrue({("root/gone", "stop"), ("root/new", "start"), ("root/sub/s2", "restart"),
                         ("root/sub/s3", "start"), ("root", "update")} <= actions, actions)

    def test_a_worker_that_becomes_a_supervisor_shows_and_runs_as_one_and_back(self):
        as_worker = [supervisor("root", ["x", "keep"]), worker("x"), worker("keep")]
        d = self.daemon(tree_config(as_worker))
        keep = d.pid("keep")
        self.rewrite(d, [supervisor("root", ["x", "keep"]), supervisor("x", ["y"]),
                         worker("y"), worker("keep")])
        d.ctl("reload")
        node = d.status_json("x")
        self.assertEqual(node["kind"], "supervisor")
        self.assertEqual([(c["name"], c["state"]) for c in node["children"]], [("y", "running")])
        self.assertTrue(alive(node["children"][0]["pid"]))
        y = node["children"][0]["pid"]
        self.rewrite(d, as_worker)
        d.ctl("reload")
        node = d.status_json("x")
        self.assertEqual(node["kind"], "worker")
        self.assertNotIn("children", node)
        self.assertTrue(wait_gone(y))
        self.assertEqual(d.pid("keep"), keep)

    def test_an_invalid_file_changes_nothing_and_the_error_goes_to_the_caller(self):
        d = self.daemon(tree_config(self.BEFORE))
        before = pids(d)
        with open(d.config_path, "a") as f:
            f.write("\n[worker.broken]\ncomand = [\"x\"]\n")
        p = d.ctl("reload", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("comand", p.stderr)
        self.assertIn("nothing changed", p.stderr)
        self.assertEqual(pids(d), before)
        self.assertEqual([r for r in d.history() if r["event"] == "config_reloaded"], [])

    def test_relative_paths_are_taken_from_where_otpsupd_started_even_in_the_background(self):
        d = Daemon()
        self.addCleanup(d.cleanup, self)
        os.makedirs(os.path.join(d.dir, "bin"))
        os.makedirs(os.path.join(d.dir, "work"))
        shutil.copy(COUNTER, os.path.join(d.dir, "bin", "counter"))
        rel = {"command": json.dumps(["./bin/counter"]), "cwd": '"work"'}
        d.config_path = os.path.join(d.dir, "otpsup.toml")
        self.rewrite(d, [supervisor("root", ["a"]), ("worker", "a", rel)])
        cmd = [c for c in d.command_line() if c != "--foreground"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=d.dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        daemon_pid = d.request({"id": 1, "cmd": "ping"})["result"]["pid"]
        d.seen_pids.add(daemon_pid)
        # The daemon now runs in /; a reload still finds ./bin/counter and work/.
        self.rewrite(d, [supervisor("root", ["a", "b"]), ("worker", "a", rel), ("worker", "b", rel)])
        d.ctl("reload")
        b = next(c for c in d.status_json()["children"] if c["name"] == "b")
        self.assertEqual(b["state"], "running")
        d.seen_pids.add(b["pid"])
        self.assertEqual(os.readlink(f"/proc/{b['pid']}/cwd"), os.path.join(d.dir, "work"))
        d.history()
        os.kill(daemon_pid, signal.SIGTERM)
        self.assertTrue(wait_gone(daemon_pid))

    def test_sighup_reloads(self):
        d = self.daemon(tree_config(self.BEFORE))
        self.rewrite(d, [supervisor("root", ["sub", "keep"]), supervisor("sub", ["s1", "s2"]),
                         worker("s1"), worker("s2"), worker("keep")])
        h = d.follow()
        d.proc.send_signal(signal.SIGHUP)
        h.wait_for("config_reloaded")
        h.wait_for("removed", "gone")

    def test_the_built_in_demo_cannot_be_reloaded(self):
        d = self.daemon()
        p = d.ctl("reload", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("-c FILE", p.stderr)


if __name__ == "__main__":
    unittest.main()
