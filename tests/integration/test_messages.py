"""Worker channels: call/cast through the supervisor, traced, at any depth."""
import json
import socket
import threading
import unittest

from otpsup_harness import COUNTER, DEADLINE, PRINTER, DaemonTestCase, wait_gone
from test_trees import supervisor, tree_config


def channel_worker(name, command):
    return ("worker", name, {"command": json.dumps(command), "channel": "true"})


TREE = tree_config([
    supervisor("root", ["c0", "mid"], intensity=10),
    supervisor("mid", ["c2", "p2", "mute", "noisy", "plain"], intensity=10),
    channel_worker("c0", [COUNTER]),
    channel_worker("c2", [COUNTER, "--start", "100"]),
    channel_worker("p2", [PRINTER, "--id", "p2"]),
    # Never reads its channel nor answers: calls time out.
    channel_worker("mute", ["sleep", "1000"]),
    # On its first call: garbage, an over-long line and a non-object on its
    # channel, then the reply (so the reply proves the rest was read first).
    channel_worker("noisy", ["sh", "-c",
                             "read l <&3; id=$(echo \"$l\" | sed 's/.*\"id\":\\([0-9]*\\).*/\\1/'); "
                             "echo 'not json' >&3; head -c 1500000 /dev/zero | tr '\\0' x >&3; "
                             "echo >&3; echo '[1,2]' >&3; echo \"{\\\"id\\\":$id,\\\"reply\\\":\\\"done\\\"}\" >&3; "
                             "exec sleep 1000"]),
    ("worker", "plain", {"command": json.dumps([COUNTER])}),
])


class Messages(DaemonTestCase):
    def call(self, d, path, *args, check=True):
        return d.ctl("call", path, *args, check=check)

    def test_call_and_cast_at_depth_one_and_two(self):
        d = self.daemon(TREE)
        self.assertEqual(self.call(d, "c0", "increment", "5").stdout.strip(), "5")
        self.assertEqual(self.call(d, "mid/c2", "increment", "5").stdout.strip(), "105")
        d.ctl("cast", "c2", "increment", "3")
        self.assertEqual(self.call(d, "c2", "get").stdout.strip(), "108")  # the cast came first
        self.assertEqual(json.loads(d.ctl("state", "c2", "--json").stdout), {"value": 108})

    def test_counter_value_is_lost_after_a_crash_and_restart(self):
        d = self.daemon(TREE)
        self.call(d, "c0", "increment", "41")
        h = d.follow()
        p = self.call(d, "c0", "crash", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("worker_exited", p.stderr)
        h.wait_for("restarted", "c0")
        self.assertEqual(self.call(d, "c0", "get").stdout.strip(), "0")

    def test_unknown_message_and_overflow_are_errors_and_the_worker_keeps_running(self):
        d = self.daemon(TREE)
        pid = d.pid_of("c0")
        p = self.call(d, "c0", "frobnicate", check=False)
        self.assertIn("unknown_message", p.stderr)
        self.call(d, "c0", "increment", str(2**63 - 1))
        p = self.call(d, "c0", "increment", check=False)
        self.assertIn("overflow", p.stderr)
        self.assertEqual(self.call(d, "c0", "get").stdout.strip(), str(2**63 - 1))
        self.assertEqual(d.pid_of("c0"), pid)

    def test_a_call_times_out_with_a_clear_error(self):
        d = self.daemon(TREE)
        p = d.ctl("--timeout", "300ms", "call", "mute", "get", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("timeout", p.stderr)
        trace = json.loads(d.ctl("trace", "mute", "--json").stdout)
        self.assertEqual([e["kind"] for e in trace["entries"]], ["call", "timeout"])

    def test_a_worker_dying_mid_call_fails_the_call_with_the_exit_reason(self):
        d = self.daemon(TREE)
        # One connection: the daemon handles the call (sent to the worker,
        # which never answers) before the kill that follows it.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(DEADLINE)
            s.connect(d.sock_path)
            f = s.makefile("rwb")
            f.write((json.dumps({"id": 1, "cmd": "call", "path": "mute", "name": "get",
                                 "timeout_ms": 20000}) + "\n").encode())
            f.write((json.dumps({"id": 2, "cmd": "kill", "path": "mute", "signal": "KILL"})
                     + "\n").encode())
            f.flush()
            replies = {}
            while len(replies) < 2:
                r = json.loads(f.readline())
                replies[r["id"]] = r
        self.assertTrue(replies[2]["ok"])
        self.assertEqual(replies[1]["error"]["code"], "worker_exited")
        self.assertIn("SIGKILL", replies[1]["error"]["message"])

    def test_garbage_and_oversized_lines_are_traced_and_counted(self):
        d = self.daemon(TREE)
        self.assertEqual(self.call(d, "noisy", "go").stdout.strip(), "done")
        trace = json.loads(d.ctl("trace", "noisy", "--json").stdout)
        self.assertEqual(trace["counts"]["garbage"], 3)
        payloads = [e["payload"] for e in trace["entries"] if e["kind"] == "garbage"]
        self.assertTrue(any("longer than" in p for p in payloads), payloads)
        self.assertEqual(d.status_json("noisy")["state"], "running")

    def test_a_worker_without_a_channel_is_not_a_server(self):
        d = self.daemon(TREE)
        p = d.ctl("state", "plain", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not_a_server", p.stderr)

    def test_trace_shows_exactly_the_messages_sent_in_order(self):
        d = self.daemon(TREE)
        self.call(d, "c0", "increment", "2")
        d.ctl("cast", "c0", "reset")
        self.call(d, "c0", "get")
        trace = json.loads(d.ctl("trace", "c0", "--json").stdout)
        kinds = [(e["dir"], e["kind"]) for e in trace["entries"]]
        self.assertEqual(kinds, [("out", "call"), ("in", "reply"), ("out", "cast"),
                                 ("out", "call"), ("in", "reply")])
        self.assertEqual(json.loads(trace["entries"][1]["payload"])["reply"], 2)
        self.assertEqual(trace["counts"], {"in": 2, "out": 3, "garbage": 0, "late_replies": 0})

    def test_five_clients_times_twenty_increments_give_exactly_100(self):
        d = self.daemon(TREE)

        def client():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(d.sock_path)
                f = s.makefile("rwb")
                for i in range(20):
                    f.write((json.dumps({"id": i, "cmd": "call", "path": "c0",
                                         "name": "increment", "args": [1]}) + "\n").encode())
                f.flush()
                for _ in range(20):
                    assert json.loads(f.readline())["ok"]

        threads = [threading.Thread(target=client) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=DEADLINE)
        self.assertEqual(self.call(d, "c0", "get").stdout.strip(), "100")

    def test_fifteen_thousand_prints_give_a_count_of_fifteen_thousand(self):
        d = self.daemon(TREE)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(d.sock_path)
            f = s.makefile("rwb")
            for i in range(15000):
                f.write((json.dumps({"id": i, "cmd": "cast", "path": "p2", "name": "print",
                                     "args": [i]}) + "\n").encode())
            f.flush()
            for _ in range(15000):
                assert json.loads(f.readline())["ok"]
        self.assertEqual(self.call(d, "p2", "count").stdout.strip(), "15000")


if __name__ == "__main__":
    unittest.main()
