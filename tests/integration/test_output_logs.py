"""Workers' stdout/stderr captured by their supervisor; `log`, `log -f`, `trace -f`."""
import json
import os
import select
import signal
import subprocess
import unittest

from otpsup_harness import DEADLINE, OTPSUPCTL, PRINTER, COUNTER, DaemonTestCase
from test_trees import supervisor, tree_config


def sh_worker(name, script, **keys):
    return ("worker", name, {"command": json.dumps(["sh", "-c", script]), **keys})


class LiveOutput:
    """An `otpsupctl ... -f` process whose stdout lines are awaited with a deadline."""

    def __init__(self, testcase, d, *args):
        self.proc = subprocess.Popen([OTPSUPCTL, "--socket", d.sock_path, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        d.seen_pids.add(self.proc.pid)
        testcase.addCleanup(self.close)
        self.buffer = b""
        self.lines = []

    def wait_for(self, predicate, timeout=DEADLINE):
        """Reads lines until one satisfies predicate; returns the lines read so far."""
        fd = self.proc.stdout.fileno()
        while True:
            for line in self._split():
                self.lines.append(line)
                if predicate(line):
                    return self.lines
            r, _, _ = select.select([fd], [], [], timeout)
            if not r:
                raise TimeoutError(f"no matching line; got {self.lines!r}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"stream ended; got {self.lines!r} "
                                     f"stderr {self.proc.stderr.read()!r}")
            self.buffer += chunk

    def _split(self):
        *done, self.buffer = self.buffer.split(b"\n")
        return [l.decode(errors="replace") for l in done]

    def interrupt(self):
        """SIGINT, as Ctrl-C: the command must end cleanly with status 0."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=DEADLINE)
        self.close()
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def record_text(line):
    """'2026-...Z out text' -> ('out', 'text')."""
    _, tag, text = (line.split(" ", 2) + [""])[:3]
    return tag, text


TREE = tree_config([
    supervisor("root", ["mid"], intensity=10),
    supervisor("mid", ["p", "both", "quiet"], intensity=10),
    ("worker", "p", {"command": json.dumps([PRINTER, "--id", "p"]), "channel": "true"}),
    sh_worker("both", "echo to-out; echo to-err >&2; printf partial; exec sleep 1000"),
    sh_worker("quiet", "echo dropped; echo inherited-marker >&2; exec sleep 1000",
              stdout='"null"', stderr='"inherit"'),
])


class OutputLogs(DaemonTestCase):
    def test_output_goes_to_the_log_file_with_timestamps_streams_and_echo(self):
        d = self.daemon(TREE)
        live = LiveOutput(self, d, "log", "mid/p", "-n", "1", "-f")
        live.wait_for(lambda l: "[Printer p] started" in l)  # following from here on
        d.ctl("call", "mid/p", "print", "hello")
        live.wait_for(lambda l: l.endswith("[Printer p] hello"))
        self.assertEqual(live.interrupt(), 0)
        both = d.ctl("log", "both", "-n", "10").stdout.splitlines()
        self.assertIn(("out", "to-out"), [record_text(l) for l in both])
        self.assertIn(("err", "to-err"), [record_text(l) for l in both])
        self.assertRegex(both[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (out|err) ")
        log_file = os.path.join(d.state_dir, "logs", "root", "mid", "p.log")
        with open(log_file) as f:
            self.assertIn("[Printer p] hello", f.read())
        self.assertEqual(d.stop(), 0)
        # The unterminated last line is written when the worker stops, flagged '%'.
        with open(os.path.join(d.state_dir, "logs", "root", "mid", "both.log")) as f:
            self.assertIn(("out%", "partial"), [record_text(l.rstrip("\n")) for l in f])
        # --foreground echoes every line, prefixed by the child's path.
        with open(d.stdout_path) as f:
            echoed = f.read()
        self.assertIn("root/mid/p | [Printer p] hello", echoed)
        self.assertIn("root/mid/both | to-err", echoed)

    def test_null_and_inherit_opt_out_of_the_log(self):
        d = self.daemon(TREE)
        d.ctl("stop", "mid/quiet")
        self.assertEqual(d.stop(), 0)
        self.assertIn("inherited-marker", d.stderr())
        quiet_log = os.path.join(d.state_dir, "logs", "root", "mid", "quiet.log")
        self.assertFalse(os.path.exists(quiet_log))
        with open(d.stdout_path) as f:
            self.assertNotIn("dropped", f.read())

    def test_rotation_keeps_log_keep_files_and_log_reads_across_them(self):
        lines = 400
        config = tree_config([
            ("daemon", "", {}),
            supervisor("root", ["w"], intensity=10),
            sh_worker("w", f"i=1; while [ $i -le {lines} ]; do "
                           "echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
                           "i=$((i+1)); done; echo done; exec sleep 1000"),
        ]).replace("[daemon.]", "[daemon]\nlog_max_size = 4096\nlog_keep = 2")
        d = self.daemon(config)
        live = LiveOutput(self, d, "log", "w", "-n", "5", "-f")
        seen = live.wait_for(lambda l: l.endswith(" out done"))
        self.assertEqual(live.interrupt(), 0)
        texts = [record_text(l)[1] for l in seen]
        # What -f printed is in order, each line once (the tail, then the rest).
        numbered = [int(t.split("-")[1]) for t in texts if t.startswith("line-")]
        self.assertEqual(numbered, sorted(set(numbered)))
        base = os.path.join(d.state_dir, "logs", "root", "w.log")
        self.assertTrue(os.path.exists(base + ".1"))
        self.assertTrue(os.path.exists(base + ".2"))
        self.assertFalse(os.path.exists(base + ".3"))
        for f in (base, base + ".1", base + ".2"):
            self.assertLessEqual(os.path.getsize(f), 4096)
        tail = [record_text(l)[1] for l in d.ctl("log", "w", "-n", "30").stdout.splitlines()]
        self.assertEqual(tail[-1], "done")
        self.assertEqual([int(t.split("-")[1]) for t in tail[:-1]],
                         list(range(lines - 28, lines + 1)))

    def test_a_worker_flooding_its_output_does_not_hold_up_its_supervisor(self):
        config = tree_config([
            ("daemon", "", {}),
            supervisor("root", ["flood", "c"], intensity=10),
            ("worker", "flood", {"command": json.dumps(["yes", "x" * 200])}),
            ("worker", "c", {"command": json.dumps([COUNTER]), "channel": "true"}),
        ]).replace("[daemon.]", "[daemon]\nlog_max_size = 1048576\nlog_keep = 1")
        d = self.daemon(config)
        # The supervisor that reads the flood serves calls, commands and the
        # flooder's own restart all the while.
        for n in range(1, 51):
            self.assertEqual(d.ctl("call", "c", "increment").stdout.strip(), str(n))
        h = d.follow()
        d.ctl("restart", "flood")
        h.wait_for("manual_restart", "flood")
        self.assertEqual(d.ctl("call", "c", "get").stdout.strip(), "50")
        base = os.path.join(d.state_dir, "logs", "root", "flood.log")
        self.assertLessEqual(os.path.getsize(base + ".1"), 1048576)
        self.assertFalse(os.path.exists(base + ".2"))
        self.assertEqual(d.stop(), 0)

    def test_log_of_a_supervisor_or_unknown_path_is_an_error(self):
        d = self.daemon(TREE)
        p = d.ctl("log", "mid", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("only workers have output logs", p.stderr)
        p = d.ctl("log", "nosuch", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no node", p.stderr)


CHANNELS = tree_config([
    supervisor("root", ["mid"], intensity=10),
    supervisor("mid", ["c"], intensity=10),
    ("worker", "c", {"command": json.dumps([COUNTER]), "channel": "true"}),
])


class TraceFollow(DaemonTestCase):
    def test_trace_follow_shows_exactly_the_messages_sent_in_order(self):
        d = self.daemon(CHANNELS)
        d.ctl("call", "mid/c", "increment", "7")
        live = LiveOutput(self, d, "trace", "mid/c", "-f")  # the whole ring, then live
        live.wait_for(lambda l: l.startswith("-- following"))
        for n in (1, 2, 3):
            d.ctl("cast", "mid/c", "increment", str(n))
        self.assertEqual(d.ctl("call", "mid/c", "get").stdout.strip(), "13")
        lines = live.wait_for(lambda l: '"reply":13' in l)
        lines = lines[lines.index("-- following (Ctrl-C to stop) --") + 1:]
        entries = [l.split()[1:3] for l in lines if l[:1].isdigit()]
        self.assertEqual(entries, [["out", "cast"]] * 3 + [["out", "call"], ["in", "reply"]])
        payloads = [l for l in lines if "  cast  " in l]
        self.assertTrue(all('"cast":"increment"' in p for p in payloads))
        self.assertEqual([json.loads(p.split("B  ", 1)[1])["args"] for p in payloads],
                         [[1], [2], [3]])
        self.assertEqual(live.interrupt(), 0)
        # The follower is gone: the next one still works, the daemon is fine.
        again = LiveOutput(self, d, "trace", "mid/c", "-n", "1", "-f", "--json")
        again.wait_for(lambda l: '"kind":"reply"' in l)
        d.ctl("cast", "mid/c", "reset")
        entry = json.loads(again.wait_for(lambda l: 'reset' in l)[-1])
        self.assertEqual((entry["dir"], entry["kind"]), ("out", "cast"))
        self.assertEqual(again.interrupt(), 0)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
