"""The control socket: permissions, coded errors, bad clients cannot hurt others."""
import json
import os
import socket
import stat
import subprocess
import unittest

from otpsup_harness import DEADLINE, OTPSUPCTL, DaemonTestCase, flat_config


def raw(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(DEADLINE)
    s.connect(path)
    return s


def read_line(s):
    buf = b""
    while b"\n" not in buf:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    return json.loads(buf.split(b"\n", 1)[0])


class ControlSocket(DaemonTestCase):
    def test_socket_is_0600_in_a_0700_directory(self):
        d = self.daemon(flat_config())
        self.assertEqual(stat.S_IMODE(os.stat(d.sock_path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(d.sock_path)).st_mode), 0o700)

    def test_garbage_gets_a_coded_error_and_the_connection_stays_usable(self):
        d = self.daemon(flat_config())
        s = raw(d.sock_path)
        s.sendall(b"this is not json\n")
        reply = read_line(s)
        self.assertFalse(reply["ok"])
        self.assertEqual(reply["error"]["code"], "bad_request")
        s.sendall(b'{"id":7,"cmd":"frobnicate"}\n')
        self.assertEqual(read_line(s)["error"]["code"], "unknown_command")
        s.sendall(b'{"id":8,"cmd":"stop"}\n')
        self.assertEqual(read_line(s)["error"]["code"], "bad_request")
        s.sendall(b'{"id":9,"cmd":"kill","path":"a","signal":"SIGNOPE"}\n')
        self.assertEqual(read_line(s)["error"]["code"], "bad_request")
        s.sendall(b'{"id":10,"cmd":"ping"}\n')
        reply = read_line(s)
        self.assertEqual(reply["id"], 10)
        self.assertTrue(reply["ok"])
        s.close()

    def test_a_member_of_the_wrong_type_is_refused_and_the_daemon_loses_nothing(self):
        # Each of these once ended otpsupd (an uncaught JSON type error) and its tree.
        d = self.daemon(flat_config())
        before = d.status_json()
        s = raw(d.sock_path)
        for request, member in [({"cmd": "history", "n": None}, "n"),
                                ({"cmd": "history", "n": 1e300}, "n"),
                                ({"cmd": "status", "path": 5}, "path"),
                                ({"cmd": "kill", "path": "a", "force": "yes"}, "force"),
                                ({"cmd": "wait", "path": "a", "state": "ready", "timeout_ms": "1s"},
                                 "timeout_ms"),
                                ({"cmd": "add", "path": "root", "child_id": "x",
                                  "command": ["/bin/true", 1]}, "command"),
                                ({"cmd": "sandbox", "action": "create", "sandbox_id": "s",
                                  "intensity": 2 ** 40}, "intensity")]:
            s.sendall((json.dumps(dict(request, id=3)) + "\n").encode())
            reply = read_line(s)
            self.assertIsNotNone(reply, request)
            self.assertEqual(reply["error"]["code"], "bad_request", request)
            self.assertIn(f'member "{member}" must be', reply["error"]["message"], request)
        s.sendall(b'{"id":10,"cmd":"ping"}\n')
        self.assertTrue(read_line(s)["ok"])
        s.close()
        self.assertEqual([c["pid"] for c in d.status_json()["children"]],
                         [c["pid"] for c in before["children"]])

    def test_an_oversized_request_is_refused_and_the_daemon_loses_nothing(self):
        d = self.daemon(flat_config())
        before = d.status_json()
        s = raw(d.sock_path)
        try:
            s.sendall(b"x" * (200 * 1024))
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = read_line(s)
        self.assertEqual(reply["error"]["code"], "too_large")
        self.assertIsNone(read_line(s))  # then closed
        s.close()
        after = d.status_json()
        self.assertEqual([c["pid"] for c in after["children"]],
                         [c["pid"] for c in before["children"]])

    def test_a_stalled_client_does_not_block_other_clients(self):
        d = self.daemon(flat_config())
        stalled = raw(d.sock_path)
        stalled.sendall(b'{"id":1,"cmd":"sta')  # never finishes its line
        # A client that never reads a follow stream either.
        lazy = raw(d.sock_path)
        lazy.sendall(b'{"id":1,"cmd":"history","n":0,"follow":true}\n')
        h = d.follow()
        d.ctl("kill", "a", "-s", "KILL")
        h.wait_for("restarted", "a")
        self.assertEqual(d.status_json("a")["state"], "running")
        stalled.close()
        lazy.close()

    def test_otpsupctl_exit_codes(self):
        d = self.daemon(flat_config())
        self.assertEqual(d.ctl("status").returncode, 0)
        self.assertEqual(d.ctl("stop", "nope", check=False).returncode, 1)
        self.assertEqual(d.ctl("frobnicate", check=False).returncode, 2)
        self.assertEqual(d.ctl("status", check=False, timeout=DEADLINE).returncode, 0)
        p = subprocess.run([OTPSUPCTL, "--socket", os.path.join(d.dir, "nothing-here"), "status"],
                           capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(p.returncode, 3)
        self.assertIn("cannot connect", p.stderr)

    def test_status_of_many_children_shows_every_child(self):
        # Long names: ~280 KiB of reply from 300 children, more than one
        # socket buffer and more than one client read.
        names = [f"worker_{i:03d}_" + "with_a_long_name_" * 23 for i in range(300)]
        quiet = 'stdout = "null"\nstderr = "null"'
        d = self.daemon(flat_config(intensity=1000, workers=[
            (n, ["/bin/sleep", "1000"], quiet) for n in names]))
        tree = d.status_json()
        self.assertEqual([c["name"] for c in tree["children"]], names)
        pids = {c["name"]: c["pid"] for c in tree["children"]}
        self.assertTrue(all(c["state"] == "running" for c in tree["children"]))

        # --json prints the protocol's tree (only uptimes move between two asks).
        def without_uptimes(node):
            node = dict(node)
            node.pop("uptime_ms")
            if "children" in node:
                node["children"] = [without_uptimes(c) for c in node["children"]]
            return node
        raw_reply = d.request({"id": 3, "cmd": "status"})
        self.assertTrue(raw_reply["ok"])
        self.assertEqual(without_uptimes(raw_reply["result"]["tree"]), without_uptimes(tree))

        lines = d.ctl("status").stdout.split("\n")
        self.assertEqual(lines[-1], "")
        self.assertEqual(len(lines), 1 + len(names) + 1)
        self.assertTrue(lines[0].startswith("root "))
        for name, line in zip(names, lines[1:]):
            fields = line.split()
            self.assertEqual(fields[:4], [name, "running", "pid", str(pids[name])], line)


if __name__ == "__main__":
    unittest.main()
