// Human-readable output of otpsupctl: the status tree and history records.
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

namespace otpsup::ctl {

// Uptime as "0s", "45s", "3m12s", "2h05m", "4d07h" (two units at most,
// truncated, not rounded).
std::string format_uptime(std::uint64_t milliseconds);

// The status tree rooted at `node` (a protocol Node), one '\n'-terminated line
// per node, children indented by two spaces under their supervisor, columns
// aligned:
//   root              running  pid 4100  up 3m12s  restarts 0  one_for_one  intensity 0/3 in 5s
//     demo_tracking   running  pid 4101  up 3m12s  restarts 0  one_for_one  intensity 1/3 in 5s
//     PAUSED
//       counter1      running  pid 4250  up 12s    restarts 1
// The top line shows the node's full path, the others their name. The pid
// and uptime are "-" when the node has no process.
std::string render_status_tree(const nlohmann::ordered_json& node);

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
