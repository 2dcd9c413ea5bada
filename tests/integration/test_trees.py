"""Supervision trees: nested supervisors are real otpsupd processes."""
import os
import signal
import unittest

from otpsup_harness import COUNTER, DaemonTestCase, alive, environment_of, tree_records, wait_gone


def tree_config(sections):
    """sections: list of (kind, name, dict of key -> toml value text)."""
    out = []
    for kind, name, keys in sections:
        out.append(f"[{kind}.{name}]")
        out += [f"{k} = {v}" for k, v in keys.items()]
        out.append("")
    return "\n".join(out)


def worker(name, *extra_args, **keys):
    cmd = '["%s"%s]' % (COUNTER, "".join(f', "{a}"' for a in extra_args))
    return ("worker", name, {"command": cmd, **keys})


def supervisor(name, children, **keys):
    return ("supervisor", name, {"children": "[" + ", ".join(f'"{c}"' for c in children) + "]",
                                 **keys})


def walk(node):
    yield node
    for c in node.get("children", []):
        yield from walk(c)


class Trees(DaemonTestCase):
    def pids(self, d):
        return {n["path"]: n["pid"] for n in walk(d.status_json())}

    def test_nested_supervisors_are_processes_that_parent_their_workers(self):
        d = self.daemon(tree_config([
            supervisor("root", ["mid"]), supervisor("mid", ["inner", "w1"]),
            supervisor("inner", ["w2"]), worker("w1"), worker("w2")]))
        p = self.pids(d)
        self.assertEqual(set(p), {"root", "root/mid", "root/mid/inner", "root/mid/w1",
                                  "root/mid/inner/w2"})
        ppid = lambda pid: int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        self.assertEqual(ppid(p["root/mid"]), p["root"])
        self.assertEqual(ppid(p["root/mid/w1"]), p["root/mid"])
        self.assertEqual(ppid(p["root/mid/inner/w2"]), p["root/mid/inner"])
        tree = d.status_json()
        self.assertEqual(tree["children"][0]["kind"], "supervisor")

    def test_kill_9_of_a_node_takes_its_workers_and_the_subtree_is_rebuilt(self):
        d = self.daemon(tree_config([
            supervisor("root", ["sub", "other"]), supervisor("sub", ["a", "b"]),
            worker("a"), worker("b"), worker("other")]))
        before = self.pids(d)
        h = d.follow()
        d.ctl("kill", "sub", "-s", "KILL", "--force")
        h.wait_for("restarted", "sub")
        for path in ("root/sub", "root/sub/a", "root/sub/b"):
            self.assertTrue(wait_gone(before[path], timeout=5), path)
        after = self.pids(d)
        for path in ("root/sub", "root/sub/a", "root/sub/b"):
            self.assertNotEqual(after[path], before[path])
            self.assertTrue(alive(after[path]))
        self.assertEqual(after["root/other"], before["root/other"])
        # a and b, killed with their node, are reaped by the root as orphans:
        # those records may come before or after the node's restart.
        def orphans():
            return sorted(r["child"] for r in h.records if r.get("orphan"))
        while len(orphans()) < 2:
            h.wait_for("exited")
        self.assertEqual(orphans(), ["a", "b"])

    def test_a_supervisor_with_a_shutdown_timeout_is_stopped_cleanly(self):
        # The parent tells the node it is stopping it, whatever its shutdown
        # (here a timeout): the node stops its workers and exits 0, it does
        # not take the SIGTERM for somebody else's (exit 1).
        d = self.daemon(tree_config([
            supervisor("root", ["sub"]), supervisor("sub", ["a"], shutdown='"5s"'),
            worker("a")]))
        h = d.follow()
        d.ctl("stop", "sub")
        stopped = h.wait_for("stopped", "sub")
        self.assertEqual(stopped.get("exit_code"), 0, stopped)
        self.assertEqual(stopped.get("reason"), "manual stop", stopped)

    def test_kill_of_a_supervisor_needs_force(self):
        d = self.daemon(tree_config([supervisor("root", ["sub"]), supervisor("sub", ["a"]),
                                     worker("a")]))
        p = d.ctl("kill", "sub", "-s", "KILL", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--force", p.stderr)

    def test_escalation_through_three_levels_ends_the_daemon(self):
        d = self.daemon(tree_config([
            supervisor("root", ["l1", "bystander"], intensity=0),
            supervisor("l1", ["l2"], intensity=0),
            supervisor("l2", ["l3"], intensity=0),
            supervisor("l3", ["crasher"], intensity=0),
            worker("crasher"), worker("bystander")]))
        everything = self.pids(d)
        d.ctl("kill", "crasher", "-s", "KILL")
        self.assertEqual(d.wait_exit(), 3)
        recs = d.history()
        gave_up = [r["sup"] for r in recs if r["event"] == "gave_up"]
        self.assertEqual(gave_up, ["root/l1/l2/l3", "root/l1/l2", "root/l1", "root"])
        # Each level's exit is recorded after everything below it.
        i_l3_exit = next(i for i, r in enumerate(recs)
                         if r["event"] == "exited" and r.get("child") == "l3")
        i_l3_gave = next(i for i, r in enumerate(recs) if r["event"] == "gave_up"
                         and r["sup"] == "root/l1/l2/l3")
        self.assertLess(i_l3_gave, i_l3_exit)
        exits = [r for r in recs if r["event"] == "exited" and r.get("kind") == "supervisor"]
        self.assertTrue(all(r["reason"] == "supervisor gave up (shutdown)" for r in exits), exits)
        for pid in everything.values():
            self.assertTrue(wait_gone(pid, timeout=5))

    def test_transient_subtree_that_gave_up_is_not_restarted_permanent_is(self):
        d = self.daemon(tree_config([
            supervisor("root", ["t", "p"], intensity=5),
            supervisor("t", ["tw"], intensity=0, restart='"transient"'),
            supervisor("p", ["pw"], intensity=0),
            worker("tw"), worker("pw")]))
        h = d.follow()
        d.ctl("kill", "tw", "-s", "KILL")
        h.wait_for("exited", "t")
        d.ctl("kill", "pw", "-s", "KILL")
        h.wait_for("restarted", "p")
        st = {n["path"]: n for n in walk(d.status_json())}
        self.assertEqual(st["root/t"]["state"], "down")
        self.assertEqual(st["root/p"]["state"], "running")
        self.assertEqual(st["root/p/pw"]["state"], "running")
        self.assertNotIn(("restarted", "t"), [(r["event"], r.get("child")) for r in h.records])

    def test_one_for_all_with_a_supervisor_among_the_children(self):
        d = self.daemon(tree_config([
            supervisor("root", ["sub", "w"], strategy='"one_for_all"', intensity=3),
            supervisor("sub", ["x"]), worker("x"), worker("w")]))
        before = self.pids(d)
        h = d.follow()
        d.ctl("kill", "w", "-s", "KILL")
        h.wait_for("restarted", "w")
        events = [(r["event"], r["sup"], r.get("child")) for r in tree_records(h.records)]
        # The sub-supervisor stops its own child before it is recorded stopped.
        self.assertLess(events.index(("stopped", "root/sub", "x")),
                        events.index(("stopped", "root", "sub")))
        after = self.pids(d)
        self.assertNotEqual(after["root/sub/x"], before["root/sub/x"])
        self.assertNotEqual(after["root/sub"], before["root/sub"])

    def test_rest_for_one_restarts_a_supervisor_started_after_the_dead_child(self):
        d = self.daemon(tree_config([
            supervisor("root", ["w", "sub"], strategy='"rest_for_one"', intensity=3),
            supervisor("sub", ["x"]), worker("x"), worker("w")]))
        before = self.pids(d)
        h = d.follow()
        d.ctl("kill", "w", "-s", "KILL")
        h.wait_for("restarted", "sub")
        self.assertNotEqual(self.pids(d)["root/sub/x"], before["root/sub/x"])

    def test_pause_and_resume_at_depth(self):
        d = self.daemon(tree_config([
            supervisor("root", ["mid"]), supervisor("mid", ["inner"]),
            supervisor("inner", ["w"], intensity=3), worker("w")]))
        h = d.follow()
        d.ctl("pause", "inner")
        self.assertTrue(d.status_json("inner")["paused"])
        old = d.pid_of("root/mid/inner/w")
        d.ctl("kill", "w", "-s", "KILL")
        h.wait_for("exited", "w")
        self.assertEqual(d.status_json("w")["state"], "down")
        d.ctl("resume", "inner")
        rec = h.wait_for("restarted", "w")
        self.assertEqual(rec["old_pid"], old)
        self.assertFalse(d.status_json("inner")["paused"])

    def test_pause_recursive_pauses_every_supervisor_below(self):
        d = self.daemon(tree_config([
            supervisor("root", ["mid"]), supervisor("mid", ["inner"]),
            supervisor("inner", ["w"]), worker("w")]))
        reply = d.request({"id": 1, "cmd": "pause", "path": "mid", "recursive": True})
        self.assertTrue(reply["ok"], reply)
        st = {n["path"]: n for n in walk(d.status_json())}
        self.assertTrue(st["root/mid"]["paused"])
        self.assertTrue(st["root/mid/inner"]["paused"])
        self.assertFalse(st["root"]["paused"])

    def test_dynamic_add_remove_and_max_children(self):
        d = self.daemon(tree_config([
            supervisor("root", ["dyn", "fixed"]),
            ("supervisor", "dyn", {"strategy": '"dynamic"', "max_children": 2}),
            supervisor("fixed", ["w"]), worker("w")]))
        add = lambda sup, cid: d.request({"id": 1, "cmd": "add", "path": sup, "child_id": cid,
                                          "command": [COUNTER]})
        r = add("dyn", "c1")
        self.assertTrue(r["ok"], r)
        pid = r["result"]["pid"]
        d.seen_pids.add(pid)
        self.assertTrue(alive(pid))
        self.assertEqual(add("dyn", "c1")["error"]["code"], "already_exists")
        self.assertTrue(add("dyn", "c2")["ok"])
        self.assertEqual(add("dyn", "c3")["error"]["code"], "max_children")
        self.assertEqual(add("fixed", "c4")["error"]["code"], "refused")
        node = d.status_json("dyn/c1")
        self.assertTrue(node.get("added"))
        d.ctl("remove", "dyn/c1")
        self.assertFalse(alive(pid))
        names = [c["name"] for c in d.status_json("dyn")["children"]]
        self.assertEqual(names, ["c2"])
        events = [r["event"] for r in d.history("dyn")]
        self.assertIn("added", events)
        self.assertIn("removed", events)

    def test_add_takes_the_keys_of_a_worker_section_with_set(self):
        d = self.daemon(tree_config([
            supervisor("root", ["dyn"]), ("supervisor", "dyn", {"strategy": '"dynamic"'})]))
        p = d.ctl("add", "dyn", "--id", "c1", "--restart", "transient",
                  "--set", 'env = { MODE = "test" }', "--set", 'restart_delay = "2s"',
                  "--set", "umask = \"027\"", "--", COUNTER)
        pid = d.pid_of("dyn/c1")
        d.seen_pids.add(pid)
        self.assertIn("added root/dyn/c1", p.stdout)
        self.assertEqual(environment_of(pid).get(b"MODE"), b"test")
        with open(f"/proc/{pid}/status") as f:
            self.assertIn("Umask:\t0027", f.read())
        node = d.status_json("dyn/c1")
        self.assertEqual(node["restart"], "transient")
        h = d.follow()
        d.ctl("kill", "dyn/c1", "-s", "KILL")
        delay = h.wait_for("restart_scheduled", "c1")["delay_ms"]
        self.assertTrue(1800 <= delay <= 2200, delay)  # 2 s, ±10% jitter
        # Errors are the configuration's, each naming its --set as --set:N:COLUMN;
        # nothing is added.
        for settings, expected in [
                (["--set", 'user = "nobody"', "--set", 'restart_dela = "1s"'],
                 "--set:2:1: unknown key 'restart_dela'"),
                (["--set", "user = nobody"], "--set:1:9: TOML syntax error"),
                (["--set", 'command = ["x"]'], "command: give the program"),
                (["--set", "significant = true", "--set", 'restart = "temporary"'],
                 "dynamic supervisor, which may have no significant child")]:
            p = d.ctl("add", "dyn", "--id", "c2", *settings, "--", COUNTER, check=False)
            self.assertEqual(p.returncode, 1, settings)
            self.assertIn(expected, p.stderr, settings)
            self.assertNotIn("c2", [c["name"] for c in d.status_json("dyn")["children"]])

    def test_dynamic_children_are_lost_when_their_supervisor_restarts(self):
        d = self.daemon(tree_config([
            supervisor("root", ["dyn"], intensity=3),
            ("supervisor", "dyn", {"strategy": '"dynamic"'})]))
        r = d.request({"id": 1, "cmd": "add", "path": "dyn", "child_id": "c1",
                       "command": [COUNTER]})
        d.seen_pids.add(r["result"]["pid"])
        h = d.follow()
        d.ctl("kill", "dyn", "-s", "KILL", "--force")
        h.wait_for("restarted", "dyn")
        self.assertEqual(d.status_json("dyn")["children"], [])
        lost = [r for r in d.history("--event", "removed") if r.get("child") == "c1"]
        self.assertEqual(len(lost), 1)
        self.assertIn("lost", lost[0]["reason"])

    def test_orderly_shutdown_of_a_deep_tree_is_depth_first_in_reverse_order(self):
        d = self.daemon(tree_config([
            supervisor("root", ["a", "b"]), supervisor("a", ["a1", "a2"]),
            supervisor("b", ["b1"]), worker("a1"), worker("a2"), worker("b1")]))
        everything = self.pids(d)
        self.assertEqual(d.stop(), 0)
        for pid in everything.values():
            self.assertFalse(alive(pid))
        stops = [(r["sup"], r["child"]) for r in d.history() if r["event"] == "stopped"]
        self.assertEqual(stops, [("root/b", "b1"), ("root", "b"), ("root/a", "a2"),
                                 ("root/a", "a1"), ("root", "a")])

    def test_a_sub_supervisor_that_cannot_boot_fails_the_parents_boot(self):
        d0 = self.daemon(start=False)
        script = os.path.join(d0.dir, "bad")
        with open(script, "w") as f:
            f.write("#!/nonexistent/interpreter\n")
        os.chmod(script, 0o755)
        d = self.daemon(tree_config([
            supervisor("root", ["ok", "sub"]), supervisor("sub", ["bad"]), worker("ok"),
            ("worker", "bad", {"command": f'["{script}"]'})]), start=False)
        self.assertFalse(d.start(expect_ready=False))
        self.assertEqual(d.proc.returncode, 4)
        recs = d.history()
        failed = [r for r in recs if r["event"] == "start_failed"]
        self.assertEqual([(r["sup"], r["child"]) for r in failed],
                         [("root/sub", "bad"), ("root", "sub")])


if __name__ == "__main__":
    unittest.main()
