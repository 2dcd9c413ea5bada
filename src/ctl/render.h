// Human-readable output of otpsupctl: the status tree, history records, and
// the results of `info` and `stats`.
//
// Pure functions over the JSON of the control protocol
// (include/otpsup/protocol.h) and of history records (DESIGN §3). They only
// format; the caller prints. Missing or mistyped members never throw: they
// are shown as "-" or left out, so a newer daemon cannot crash an older
// client.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ctl/json_document.h"

namespace otpsup::ctl {

// Uptime as "0s", "45s", "3m12s", "2h05m", "4d07h" (two units at most,
// truncated, not rounded).
std::string format_uptime(std::uint64_t milliseconds);

// The status tree rooted at `node` (a protocol Node), one '\n'-terminated line
// per node, children indented by two more spaces per level under their supervisor
// (to any depth), columns aligned:
//   root            running  pid 41  up 42s  restarts 0  one_for_one  intensity 0/3 in 5s
//     tracking      running  pid 42  up 42s  restarts 0  one_for_all  intensity 1/3 in 5s  PAUSED
//       counter1    running  pid 50  up 9s   restarts 1
//     jobs          running  pid 43  up 42s  restarts 0  dynamic      intensity 0/3 in 5s
//       j7 (added)  running  pid 60  up 4s   restarts 0
// The top line shows the node's full path, the others their name; a child
// added at run time ("added": true) is marked "(added)". The pid and uptime
// are "-" when the node has no process.
std::string render_status_tree(const nlohmann::ordered_json& node);
// The same for a Node inside a JsonDocument: no nlohmann tree is built, for
// the status of thousands of nodes.
std::string render_status_tree(const JsonDocument& document, const JsonValue& node);

// A byte count as "512 B", "812 KiB", "1.7 MiB", "2.3 GiB" (binary units,
// one decimal from MiB on).
std::string format_bytes(std::uint64_t bytes);

// The result of `info` (protocol.h) as aligned "key  value" lines, each
// '\n'-terminated:
//   path     root/demo_tracking/counter1
//   kind     worker
//   pid      4250
//   state    sleeping (S)
//   rss      1.7 MiB
//   threads  1
//   cpu      user 0.01s  system 0.00s
//   fds      3
//   started  2026-11-26 12:00:01.234 UTC
//   uptime   3m12s
//   cmdline  otpsup-counter --interval 1s
// Arguments of cmdline holding spaces, quotes or nothing are single-quoted.
std::string render_process_info(const nlohmann::ordered_json& info);

// The result of `stats` (protocol.h) as aligned "key  value" lines:
//   path        root/demo_tracking
//   window      1m
//   restarts    2 (2.00/min)
//   exits       1
//   intensity   1/3 (33%) in 5s         (supervisors only)
//   last exit   2026-11-26 12:00:01.234 (killed by SIGKILL)
//   last event  2026-11-26 12:00:01.236
// "-" stands for a missing value (no exit recorded).
std::string render_stats(const nlohmann::ordered_json& stats);

// "2026-11-26T12:00:01.234567Z" -> "2026-11-26 12:00:01.234" (times stay in
// UTC, as stored). Text that does not look like a timestamp is returned as is.
std::string render_timestamp(std::string_view rfc3339);

// One history record (a parsed record object) as one line, no '\n':
//   2026-11-26 12:00:01.234 #42 root/counter1 restarted pid 1201 -> 1250 (killed by SIGKILL)
// Members other than the well-known ones (seq, ts, boot, sup, child, event,
// pid, old_pid, new_pid, reason, crc) are appended as key=value.
std::string render_history_record(const nlohmann::ordered_json& record);

// As render_history_record for a raw stored line; a line that is not a JSON
// object is returned unchanged.
std::string render_history_line(std::string_view raw_line);

}  // namespace otpsup::ctl
