"""Process hygiene: credentials and limits between fork and exec, fds, no
orphans, no zombies (otpsup.toml(5) user/group/umask/rlimits/nice/
no_new_privs; otpsupd(8) PROCESS HYGIENE)."""
import grp
import json
import os
import pwd
import select
import signal
import subprocess
import tempfile
import time
import unittest

from otpsup_harness import (COUNTER, DEADLINE, OTPSUPD, DaemonTestCase, alive, environment_of,
                            flat_config, open_fds, wait_gone)

IS_ROOT = os.geteuid() == 0


def proc_status(pid):
    """/proc/PID/status as a dict of its lines."""
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def stat_fields(pid):
    """The fields of /proc/PID/stat after the comm: [state, ppid, ...]."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def zombies_of(parents):
    """Pids in state Z whose parent is one of `parents`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = stat_fields(int(entry))
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] == "Z" and int(fields[1]) in parents:
            found.append(int(entry))
    return found


def marked(mark):
    """Live processes whose environment holds OTPSUP_TEST_MARK=mark."""
    needle = f"OTPSUP_TEST_MARK={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if needle in env and alive(int(entry)):
            found.append(int(entry))
    return found



# root -> sub -> w: one worker under a node process.
NESTED_SLEEPER = """
[supervisor.root]
children = ["sub"]
[supervisor.sub]
children = ["w"]
[worker.w]
command = ["/bin/sleep", "1000"]
"""

class PidFifo:
    """A FIFO that forked helpers write "NAME PID" lines to; read with a deadline."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "pids.fifo")
        os.mkfifo(self.path)
        # Opened for reading first (non-blocking), so writers never block.
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.buf = b""
        self.pids = {}

    def wait_for(self, *names, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while not all(n in self.pids for n in names):
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no pid for {names}; have {self.pids}")
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            chunk = os.read(self.fd, 4096)
            if not chunk:
                # Every writer closed: wait for the next one without spinning.
                os.close(self.fd)
                self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
                continue
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                name, pid = line.decode().split()
                self.pids[name] = int(pid)
        return [self.pids[n] for n in names]

    def close(self):
        os.close(self.fd)


def write_script(directory, name, body):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


def forking_worker(directory, fifo):
    """A worker that forks a helper (in its group) and double-forks a setsid
    grandchild (own session; re-parented to the supervisor, a subreaper),
    reports both pids to `fifo`, and sleeps."""
    return write_script(directory, "forking-worker", (
        f"sh -c 'echo helper $$ > {fifo}; exec sleep 1000' &\n"
        f"(setsid sh -c 'echo grandchild $$ > {fifo}; exec sleep 1000' &)\n"
        "exec sleep 1000"))


class Credentials(DaemonTestCase):
    def test_a_worker_holds_no_descriptor_of_the_daemon_beyond_0_1_2(self):
        d = self.daemon(flat_config(workers=[
            ("plain", ["/bin/sleep", "1000"], ""),
            ("served", ["/bin/sleep", "1000"], "channel = true"),
            ("quiet", ["/bin/sleep", "1000"], 'stdout = "null"\nstderr = "inherit"'),
        ]))
        # The daemon itself holds far more: socket, history, epoll, pipes.
        self.assertGreater(len(open_fds(d.proc.pid)), 5)
        self.assertEqual(open_fds(d.pid("plain")), [0, 1, 2])
        self.assertEqual(open_fds(d.pid("quiet")), [0, 1, 2])
        self.assertEqual(open_fds(d.pid("served")), [0, 1, 2, 3])  # fd 3: its channel (sleep opens nothing)

    def test_a_worker_under_a_node_holds_only_0_1_2(self):
        d = self.daemon(NESTED_SLEEPER)
        self.assertEqual(open_fds(d.pid_of("root/sub/w")), [0, 1, 2])

    def test_umask_rlimits_nice_and_no_new_privs_are_applied(self):
        d = self.daemon(flat_config(workers=[("w", ["/bin/sleep", "1000"], """
umask = "027"
rlimits = { nofile = 123, core = 0, cpu = [100, 200] }
nice = 7
no_new_privs = true
""")]))
        pid = d.pid("w")
        status = proc_status(pid)
        self.assertEqual(status["Umask"], "0027")
        self.assertEqual(status["NoNewPrivs"], "1")
        with open(f"/proc/{pid}/limits") as f:
            limits = {line[:26].strip(): line[26:].split()[:2] for line in f}
        self.assertEqual(limits["Max open files"], ["123", "123"])
        self.assertEqual(limits["Max core file size"], ["0", "0"])
        self.assertEqual(limits["Max cpu time"], ["100", "200"])
        self.assertEqual(stat_fields(pid)[16], "7")  # field 19 of stat: nice

    def test_user_nobody_runs_as_nobody_with_its_groups_and_home(self):
        if not IS_ROOT:
            self.skipTest("setuid to another user needs root (CAP_SETUID); running as uid "
                          f"{os.geteuid()}")
        nobody = pwd.getpwnam("nobody")
        d = self.daemon(flat_config(workers=[
            ("w", ["/bin/sleep", "1000"], 'user = "nobody"\nno_new_privs = true')]))
        pid = d.pid("w")
        status = proc_status(pid)
        self.assertEqual(status["Uid"].split(), [str(nobody.pw_uid)] * 4)
        self.assertEqual(status["Gid"].split(), [str(nobody.pw_gid)] * 4)
        self.assertEqual(status["Groups"].split(),
                         [str(g) for g in os.getgrouplist("nobody", nobody.pw_gid)])
        env = environment_of(pid)
        self.assertEqual(env.get(b"USER"), b"nobody")
        self.assertEqual(env.get(b"HOME"), nobody.pw_dir.encode())
        self.assertEqual(open_fds(pid), [0, 1, 2])
        # otpsupctl info says whom it runs as.
        info = json.loads(d.ctl("info", "w", "--json").stdout)
        self.assertEqual((info["uid"], info["gid"], info["user"]),
                         (nobody.pw_uid, nobody.pw_gid, "nobody"))
        group = grp.getgrgid(nobody.pw_gid).gr_name
        self.assertIn(f"nobody:{group} ({nobody.pw_uid}:{nobody.pw_gid})", d.ctl("info", "w").stdout)

    def test_a_limit_that_cannot_be_set_is_a_start_error_with_the_reason(self):
        # Above fs.nr_open setrlimit(RLIMIT_NOFILE) fails even for root.
        with open("/proc/sys/fs/nr_open") as f:
            too_many = int(f.read()) + 1
        d = self.daemon(flat_config(workers=[
            ("a", [COUNTER], ""),
            ("w", ["/bin/sleep", "1000"], f"rlimits = {{ nofile = {too_many} }}")]), start=False)
        self.assertFalse(d.start(expect_ready=False))
        self.assertEqual(d.proc.returncode, 4)  # boot failed: nothing half-started
        failed = [r for r in d.history() if r["event"] == "start_failed"]
        self.assertEqual(failed[0]["child"], "w")
        self.assertIn("setrlimit(nofile): Operation not permitted", failed[0]["reason"])
        self.assertIn("setrlimit(nofile): Operation not permitted", d.stderr())

    def test_setuid_without_the_privilege_is_a_start_error_with_the_reason(self):
        if IS_ROOT:
            self.skipTest("root may change to any user: no failure to observe")
        # root: a user that is certainly not ours.
        d = self.daemon(flat_config(workers=[("w", ["/bin/sleep", "1000"], 'user = "root"')]),
                        start=False)
        self.assertFalse(d.start(expect_ready=False))
        self.assertEqual(d.proc.returncode, 4)
        # setgroups comes first, and is the first to be refused.
        self.assertIn("setgroups(root): Operation not permitted", d.stderr())

    def test_an_unknown_user_is_a_config_error_with_its_position(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.toml")
            with open(path, "w") as f:
                f.write(flat_config(workers=[
                    ("w", ["/bin/sleep", "1"], 'user = "no-such-user-otpsup"')]))
            p = subprocess.run([OTPSUPD, "--check", path], capture_output=True, text=True,
                               timeout=DEADLINE)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f'{path}:10:8: user: user "no-such-user-otpsup" does not exist', p.stderr)


class NoOrphans(DaemonTestCase):
    def daemon_with_fifo(self, make_config):
        """A daemon whose config is make_config(dir, fifo_path), and its PidFifo."""
        d = self.daemon("", start=False)
        fifo = PidFifo(d.dir)
        self.addCleanup(fifo.close)
        with open(d.config_path, "w") as f:
            f.write(make_config(d.dir, fifo.path))
        d.start()
        return d, fifo

    def test_stop_takes_the_helper_and_the_setsid_grandchild_too(self):
        d, fifo = self.daemon_with_fifo(lambda dir_, fifo_path: flat_config(
            workers=[("w", [forking_worker(dir_, fifo_path)], "")]))
        helper, grandchild = fifo.wait_for("helper", "grandchild")
        d.seen_pids.update({helper, grandchild})
        worker = d.pid("w")
        # The grandchild left the worker's group and session.
        self.assertNotEqual(os.getsid(grandchild), os.getsid(worker))
        self.assertNotEqual(os.getpgid(grandchild), os.getpgid(worker))
        d.ctl("stop", "w")
        for pid in (worker, helper, grandchild):
            self.assertTrue(wait_gone(pid), f"{pid} survived stop")

    def test_the_orphan_of_a_daemonizing_worker_dies_when_the_worker_exits(self):
        def config(dir_, fifo_path):
            sync = os.path.join(dir_, "sync.fifo")
            os.mkfifo(sync)
            script = write_script(dir_, "daemonize", (
                f"(setsid sh -c 'echo orphan $$ > {fifo_path}; echo go > {sync}; "
                "exec sleep 1000' &)\n"
                f"read x < {sync}\n"
                "exit 0"))
            return flat_config(workers=[("w", [script], 'restart = "temporary"'),
                                        ("other", ["/bin/sleep", "1000"], "")])
        d, fifo = self.daemon_with_fifo(config)
        (orphan,) = fifo.wait_for("orphan")
        d.seen_pids.add(orphan)
        self.assertTrue(wait_gone(orphan), "the orphan outlived its worker")
        self.assertTrue(alive(d.pid("other")))

    def test_kill_9_of_otpsupd_leaves_no_worker_and_no_node_within_a_second(self):
        def config(dir_, fifo_path):
            return f"""
[supervisor.root]
children = ["top", "sub"]
[supervisor.sub]
children = ["w", "deeper"]
[supervisor.deeper]
children = ["w2"]
[worker.top]
command = ["/bin/sleep", "1000"]
[worker.w]
command = ["{forking_worker(dir_, fifo_path)}"]
[worker.w2]
command = ["/bin/sleep", "1000"]
"""
        d, fifo = self.daemon_with_fifo(config)
        helper, grandchild = fifo.wait_for("helper", "grandchild")
        d.seen_pids.update({helper, grandchild})
        pids = {
            "top": d.pid_of("root/top"),
            "sub": d.pid_of("root/sub"),
            "w": d.pid_of("root/sub/w"),
            "deeper": d.pid_of("root/sub/deeper"),
            "w2": d.pid_of("root/sub/deeper/w2"),
            "helper": helper,
            "grandchild": grandchild,
        }
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait()
        deadline = time.monotonic() + 1.0
        survivors = [name for name, pid in pids.items()
                     if not wait_gone(pid, max(0.0, deadline - time.monotonic()))]
        self.assertEqual(survivors, [])

    def test_a_stray_sighup_to_a_node_is_ignored(self):
        d = self.daemon(NESTED_SLEEPER)
        node, worker = d.pid_of("root/sub"), d.pid_of("root/sub/w")
        os.kill(node, signal.SIGHUP)  # its parent-death signal, but its parent lives
        d.ctl("restart", "root/sub/w")  # a round trip through the node's loop
        self.assertTrue(alive(node))
        self.assertEqual(d.pid_of("root/sub"), node)
        self.assertNotEqual(d.pid_of("root/sub/w"), worker)


class NoZombies(DaemonTestCase):
    def test_a_restart_storm_leaves_no_zombie_and_no_stray_process(self):
        restarts = int(os.environ.get("OTPSUP_STORM_RESTARTS", "2000"))
        mark = f"storm-{os.getpid()}-{time.monotonic_ns()}"
        # Each run leaves a helper in its group and a setsid grandchild behind.
        crasher = ["/bin/sh", "-c", "sleep 1000 & (setsid sleep 1000 &); exit 1"]
        text = f"""
[supervisor.root]
children = ["storm"]
[supervisor.storm]
intensity = 1000000
period = "1s"
children = ["w"]
[worker.w]
command = {json.dumps(crasher)}
stdout = "null"
stderr = "null"
env = {{ OTPSUP_TEST_MARK = "{mark}" }}
"""
        d = self.daemon(text)
        node = d.pid_of("root/storm")
        parents = {d.proc.pid, node}
        h = d.follow()
        self.addCleanup(h.close)
        h.wait_for("restarted", child="w", count=restarts, timeout=max(DEADLINE, 300))
        d.ctl("stop", "root/storm/w")
        # Exits are reaped as SIGCHLD arrives; give the last ones a deadline.
        end = time.monotonic() + DEADLINE
        while (zombies_of(parents) or marked(mark)) and time.monotonic() < end:
            select.select([], [], [], 0.05)
        self.assertEqual(zombies_of(parents), [])
        self.assertEqual(marked(mark), [])
        self.assertTrue(alive(node))


if __name__ == "__main__":
    unittest.main()
