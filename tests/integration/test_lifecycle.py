"""Daemon lifecycle: boot, orderly shutdown, boot failure, background mode, demo."""
import os
import select
import signal
import subprocess
import unittest

from otpsup_harness import (COUNTER, DEADLINE, OTPSUPD, PRINTER, Daemon, DaemonTestCase, alive,
                            flat_config, tree_records, wait_gone)


class Lifecycle(DaemonTestCase):
    def test_sigterm_stops_children_in_reverse_start_order_and_exits_0(self):
        d = self.daemon(flat_config())
        pids = [d.pid(n) for n in "abc"]
        d.history()
        self.assertEqual(d.stop(), 0)
        for p in pids:
            self.assertFalse(alive(p))
        recs = d.history()
        stops = [r["child"] for r in recs if r["event"] == "stopped"]
        self.assertEqual(stops, ["c", "b", "a"])
        self.assertEqual(recs[-4]["event"], "daemon_stopping")
        self.assertEqual({r["reason"] for r in recs if r["event"] == "stopped"}, {"shutdown"})

    def test_shutdown_command_replies_once_the_tree_is_down(self):
        d = self.daemon(flat_config())
        pids = [d.pid(n) for n in "abc"]
        d.ctl("shutdown")
        for p in pids:
            self.assertFalse(alive(p))
        self.assertEqual(d.wait_exit(), 0)

    def test_a_child_ignoring_sigterm_is_killed_after_its_shutdown_timeout(self):
        stubborn = ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
        d = self.daemon(flat_config(workers=[("s", stubborn, 'shutdown = "300ms"')]))
        d.ctl("stop", "s")
        rec = [r for r in d.history() if r["event"] == "stopped"][0]
        self.assertEqual(rec["signal"], "SIGKILL")

    def test_boot_fails_as_a_whole_when_a_child_cannot_start(self):
        d0 = self.daemon(start=False)
        # Passes validation (exists, executable) but execve fails: bad interpreter.
        script = os.path.join(d0.dir, "bad-interpreter")
        with open(script, "w") as f:
            f.write("#!/nonexistent/interpreter\n")
        os.chmod(script, 0o755)
        d = self.daemon(flat_config(workers=[("a", [COUNTER], ""), ("bad", [script], ""),
                                             ("c", [COUNTER], "")]), start=False)
        self.assertFalse(d.start(expect_ready=False))
        self.assertEqual(d.proc.returncode, 4)  # DaemonExit::boot_failed
        events = [(r["event"], r.get("child")) for r in tree_records(d.history())]
        self.assertIn(("start_failed", "bad"), events)
        self.assertIn(("stopped", "a"), events)
        self.assertNotIn(("started", "c"), events)
        self.assertIn("child bad failed to start", d.stderr())
        self.assertIn("No such file or directory", d.stderr())

    def test_background_mode_returns_once_the_tree_is_up(self):
        d = Daemon(flat_config())
        self.addCleanup(d.cleanup, self)
        cmd = [c for c in d.command_line() if c != "--foreground"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        reply = d.request({"id": 1, "cmd": "ping"})
        daemon_pid = reply["result"]["pid"]
        d.seen_pids.add(daemon_pid)
        tree = d.status_json()
        self.assertEqual([c["state"] for c in tree["children"]], ["running"] * 3)
        d.history()
        os.kill(daemon_pid, signal.SIGTERM)
        self.assertTrue(wait_gone(daemon_pid))

    def test_built_in_demo_tree_runs_without_a_config(self):
        d = self.daemon()
        tree = d.status_json()
        self.assertEqual(tree["strategy"], "one_for_one")
        self.assertEqual(tree["intensity"], 3)
        self.assertEqual(tree["period_ms"], 5000)
        names = [c["name"] for c in tree["children"]]
        self.assertEqual(names, ["demo_tracking", "demo_controllable", "demo_dynamic"])
        self.assertTrue(all(c["state"] == "running" for c in tree["children"]))
        tracking = d.status_json("demo_tracking")
        self.assertEqual([c["name"] for c in tracking["children"]],
                         ["counter1", "counter2", "printer1"])
        h = d.follow()
        d.ctl("kill", "counter1", "-s", "KILL")
        h.wait_for("restarted", "counter1")

    def test_a_second_daemon_on_the_same_socket_is_refused(self):
        d = self.daemon(flat_config())
        p = subprocess.run([OTPSUPD, "--foreground", "--socket", d.sock_path, "--state-dir",
                            d.state_dir + "2", "-c", d.config_path],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2)
        self.assertIn("already listening", p.stderr)

    def test_sigterm_and_commands_are_served_during_a_crash_storm(self):
        storm = [(f"w{i}", ["/bin/false"], "") for i in range(20)]
        d = self.daemon(flat_config(intensity=100000000, period="1s", workers=storm))
        h = d.follow()
        h.wait_for("restarted", count=200)  # the storm is on
        self.assertIn("root", d.ctl("status").stdout)  # the socket is served
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)
        self.assertIn("daemon_stopping", [r["event"] for r in d.history()])

    def test_supervisors_raise_their_fd_limit_and_children_get_the_original_back(self):
        import resource
        from test_trees import supervisor, tree_config, worker
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard <= 256:
            self.skipTest(f"the hard RLIMIT_NOFILE is {hard}: nothing to raise")
        d = self.daemon(tree_config([supervisor("root", ["sub", "a"]), supervisor("sub", ["b"]),
                                     worker("a"), worker("b")]), start=False)
        d.preexec_fn = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        d.start()

        def soft_limit(pid):
            with open(f"/proc/{pid}/limits") as f:
                line = next(l for l in f if l.startswith("Max open files"))
            return int(line.split()[3])
        self.assertEqual(soft_limit(d.proc.pid), hard)
        self.assertEqual(soft_limit(d.pid_of("sub")), hard)
        self.assertEqual(soft_limit(d.pid_of("a")), 256)
        self.assertEqual(soft_limit(d.pid_of("sub/b")), 256)

    def test_children_get_no_daemon_file_descriptors(self):
        from test_output_logs import LiveOutput
        lister = ["sh", "-c", "ls /proc/self/fd; echo END; exec sleep 1000"]
        d = self.daemon(flat_config(workers=[("l", lister, "")]))
        # What it printed reaches its log; wait for the whole list.
        live = LiveOutput(self, d, "log", "l", "-n", "100", "-f")
        lines = live.wait_for(lambda l: l.endswith(" out END"))
        self.assertEqual(live.interrupt(), 0)
        fds = sorted(int(l.split()[2]) for l in lines if l.split()[2].isdigit())
        # 0, 1, 2 and the fd ls itself opened for /proc/self/fd.
        self.assertEqual(fds[:3], [0, 1, 2])
        self.assertLessEqual(len(fds), 4, fds)

    def test_a_helper_left_in_the_childs_process_group_goes_with_it(self):
        d0 = self.daemon(start=False)
        fifo = os.path.join(d0.dir, "helper.fifo")
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, reader)
        # The helper ignores SIGTERM, so only the group sweep can end it.
        worker = ["sh", "-c", f"(trap '' TERM; exec sleep 1000) & echo $! > {fifo}; "
                              "exec sleep 1000"]
        d = self.daemon(flat_config(workers=[("w", worker, "")]))
        r, _, _ = select.select([reader], [], [], DEADLINE)
        self.assertTrue(r, "the worker did not report its helper")
        helper = int(os.read(reader, 64).split()[0])
        d.seen_pids.add(helper)
        self.assertTrue(alive(helper))
        d.ctl("stop", "w")
        self.assertTrue(wait_gone(helper, timeout=5), "helper ignoring SIGTERM survived")

    def test_a_second_daemon_on_the_same_state_dir_is_refused(self):
        d = self.daemon(flat_config())
        p = subprocess.run([OTPSUPD, "--foreground", "--socket", d.sock_path + "2", "--state-dir",
                            d.state_dir, "-c", d.config_path],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2)
        self.assertIn("state directory", p.stderr)


if __name__ == "__main__":
    unittest.main()
