"""Bad configurations get precise errors before anything starts."""
import os
import subprocess
import tempfile
import unittest

from otpsup_harness import COUNTER, OTPSUPD, DaemonTestCase, flat_config


def check(text):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bad.toml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([OTPSUPD, "--check", path], capture_output=True, text=True, timeout=20)
        return p.returncode, p.stdout, p.stderr.replace(path, "FILE")


class ConfigErrors(unittest.TestCase):
    def test_valid_file_passes_check(self):
        code, out, err = check(flat_config())
        self.assertEqual(code, 0, err)
        self.assertIn("ok", out)

    def test_built_in_demo_passes_check(self):
        p = subprocess.run([OTPSUPD, "--check"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_misspelt_key_names_line_column_and_suggests(self):
        text = flat_config().replace("intensity = 3", "intensty = 3")
        code, _, err = check(text)
        self.assertEqual(code, 1)
        self.assertIn("FILE:3:1:", err)
        self.assertIn("did you mean 'intensity'", err)

    def test_unknown_strategy_lists_the_valid_ones(self):
        code, _, err = check(flat_config(strategy="one_for_some"))
        self.assertEqual(code, 1)
        self.assertIn("FILE:2:", err)
        self.assertIn("one_for_all", err)

    def test_bad_duration_is_explained(self):
        code, _, err = check(flat_config(period="5 parsecs"))
        self.assertEqual(code, 1)
        self.assertIn("FILE:4:", err)
        self.assertIn("duration", err)

    def test_missing_executable_is_reported_at_its_command(self):
        text = flat_config(workers=[("a", ["/no/such/binary"], "")])
        code, _, err = check(text)
        self.assertEqual(code, 1)
        self.assertIn("FILE:9:12:", err)
        self.assertIn("/no/such/binary", err)

    def test_undefined_child_and_wrong_type_are_both_reported(self):
        text = flat_config().replace('children = ["a", "b", "c"]', 'children = ["a", "b", "cc"]')
        text = text.replace("intensity = 3", 'intensity = "three"')
        code, _, err = check(text)
        self.assertEqual(code, 1)
        self.assertIn("'cc'", err)
        self.assertIn("integer", err)
        self.assertEqual(len([l for l in err.splitlines() if l.startswith("FILE:")]), 2, err)

    def test_cycle_is_reported(self):
        text = ('[supervisor.root]\nchildren = ["x"]\n\n'
                '[supervisor.x]\nchildren = ["y"]\n\n[supervisor.y]\nchildren = ["x"]\n')
        code, _, err = check(text)
        self.assertEqual(code, 1)
        self.assertIn("cycle", err)

    def test_toml_syntax_error_has_a_position(self):
        code, _, err = check("[supervisor.root\nchildren = []\n")
        self.assertEqual(code, 1)
        self.assertIn("FILE:1:", err)

    def test_daemon_refuses_to_start_on_a_bad_config_and_starts_nothing(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.toml")
            with open(path, "w") as f:
                f.write(flat_config(strategy="nope"))
            p = subprocess.run([OTPSUPD, "--foreground", "-c", path, "--socket",
                                os.path.join(d, "s"), "--state-dir", os.path.join(d, "st")],
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 1)
            self.assertFalse(os.path.exists(os.path.join(d, "st")))
            self.assertFalse(os.path.exists(os.path.join(d, "s")))


if __name__ == "__main__":
    unittest.main()
