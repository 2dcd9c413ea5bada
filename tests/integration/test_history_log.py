"""The history log on disk: sealed records, seq across restarts, torn tails, corruption."""
import json
import os
import unittest

from otpsup_harness import DaemonTestCase, flat_config


class HistoryLog(DaemonTestCase):
    def test_seq_is_strictly_increasing_across_daemon_restarts_with_new_boot_ids(self):
        d = self.daemon(flat_config())
        self.assertEqual(d.stop(), 0)
        first = d.history()
        d.start()
        self.assertEqual(d.stop(), 0)
        recs = d.history()
        seqs = [r["seq"] for r in recs]
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertGreater(len(recs), len(first))
        boots = {r["boot"] for r in recs}
        self.assertEqual(len(boots), 2)
        for line in open(d.history_path):
            self.assertTrue(line.rstrip("\n").endswith('"}'))
            self.assertIn(',"crc":"', line)

    def test_torn_tail_is_cut_and_reported_on_open(self):
        d = self.daemon(flat_config())
        self.assertEqual(d.stop(), 0)
        good = d.history()
        with open(d.history_path, "a") as f:
            f.write('{"seq":999,"ts":"2026-11-26T12:00:00.000000Z","boot":"x","sup":"root","ev')
        d.start()
        self.assertIn("torn", d.stderr())
        self.assertEqual(d.stop(), 0)
        recs = d.history()
        self.assertEqual(recs[:len(good)], good)
        self.assertNotIn(999, [r["seq"] for r in recs])
        started = [r for r in recs if r["event"] == "daemon_started"][-1]
        self.assertTrue(started.get("repairs"), started)
        self.assertEqual(started["seq"], good[-1]["seq"] + 1)

    def test_corruption_in_the_middle_is_reported_and_the_records_after_it_are_kept(self):
        d = self.daemon(flat_config())
        self.assertEqual(d.stop(), 0)
        lines = open(d.history_path).read().splitlines(keepends=True)
        victim = 2
        lines[victim] = lines[victim].replace('"event":"started"', '"event":"stArted"')
        open(d.history_path, "w").write("".join(lines))
        out = d.ctl("history", "--file", d.state_dir, "--json", "-n", "0")
        kept = [json.loads(l) for l in out.stdout.splitlines()]
        self.assertEqual(len(kept), len(lines) - 1)
        self.assertIn("crc", out.stderr.lower())
        # The daemon reopens the log without cutting the good records behind it.
        d.start()
        self.assertEqual(d.stop(), 0)
        after = open(d.history_path).read().splitlines(keepends=True)
        self.assertEqual(after[:len(lines)], lines)
        reply_recs = d.history()
        self.assertNotIn("stArted", [r["event"] for r in reply_recs])

    def test_history_filters_by_path_event_and_count(self):
        d = self.daemon(flat_config())
        h = d.follow()
        d.ctl("kill", "b", "-s", "KILL")
        h.wait_for("restarted", "b")
        only_b = d.history("b")
        self.assertTrue(only_b)
        self.assertTrue(all(r.get("child") == "b" for r in only_b))
        restarted = d.history("--event", "restarted")
        self.assertEqual([r["child"] for r in restarted], ["b"])
        last2 = json_lines(d.ctl("history", "--json", "-n", "2").stdout)
        self.assertEqual(len(last2), 2)
        self.assertEqual(last2[-1]["event"], "restarted")
        human = d.ctl("history", "-n", "1").stdout
        self.assertIn("root/b restarted", human)

    def test_history_follow_streams_new_records(self):
        d = self.daemon(flat_config())
        h = d.follow()
        d.ctl("stop", "c")
        rec = h.wait_for("stopped", "c")
        self.assertEqual(rec["reason"], "manual stop")


def json_lines(text):
    return [json.loads(l) for l in text.splitlines() if l.strip()]


if __name__ == "__main__":
    unittest.main()
