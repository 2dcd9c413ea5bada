// A snapshot of one process from /proc (Linux): state, memory, threads, CPU
// time, open fds, start time and command line, for `otpsupctl info`.
//
// Reading is best effort and racy by nature: the process may exit while its
// files are read. /proc/PID/stat decides existence: if it cannot be read the
// result is nullopt. Once it has been read, a missing /proc/PID/status,
// /proc/PID/fd or /proc/PID/cmdline leaves the matching fields at their
// defaults (a zombie has no VmRSS and an empty cmdline; another user's fd
// directory is not readable), except that an ENOENT on status (the process
// has been reaped meanwhile) also gives nullopt. Never throws on I/O errors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace otpsup {

struct ProcessInfo {
  int pid = 0;
  char state = '?';                     // /proc/PID/stat field 3: R, S, D, Z, T, t, X, I, ...
  std::string state_name;               // state_name_of(state): "running", "sleeping", ...
  std::uint64_t rss_bytes = 0;          // VmRSS of /proc/PID/status (0 when absent, e.g. zombie)
  int threads = 0;                      // Threads of status (stat's num_threads if absent)
  double cpu_user_seconds = 0;          // utime / sysconf(_SC_CLK_TCK)
  double cpu_system_seconds = 0;        // stime / sysconf(_SC_CLK_TCK)
  int fd_count = 0;                     // entries of /proc/PID/fd (0 if unreadable)
  std::int64_t start_time_unix_ms = 0;  // btime (/proc/stat) + starttime / CLK_TCK
  double uptime_seconds = 0;            // CLOCK_BOOTTIME now - starttime / CLK_TCK, >= 0
  std::vector<std::string> cmdline;     // /proc/PID/cmdline split on NUL (split_cmdline)
  // Effective ids (2nd field of Uid:/Gid: of status; -1 when absent) and
  // their names from the passwd/group databases (empty when they have none).
  long uid = -1;
  long gid = -1;
  std::string user;
  std::string group;
};

// The fields of a /proc/PID/stat line that ProcessInfo uses.
struct ProcStat {
  int pid = 0;
  std::string comm;  // between the first '(' and the LAST ')': may hold spaces and ')'
  char state = '?';
  int ppid = 0;
  int session = 0;  // field 6: the session id (a supervised child's pid, see spawn)
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  long num_threads = 0;
  std::uint64_t starttime_ticks = 0;  // clock ticks after boot
};

// Parses one /proc/PID/stat line (a trailing '\n' is allowed). The comm is
// taken up to the LAST ')' of the line, so "(a) b)" gives comm "a) b". Returns
// false, leaving *out unspecified, when the line is malformed (no "(...)",
// fewer than 22 fields, a non-numeric field that is used).
bool parse_proc_stat(std::string_view line, ProcStat* out);

// Splits /proc/PID/cmdline contents: arguments are NUL-terminated, so one
// trailing NUL is dropped and the rest is split on NUL; empty arguments in
// the middle are kept. "" gives {} (a zombie or kernel thread); contents
// without any NUL (a process that rewrote its argv) give one element.
std::vector<std::string> split_cmdline(std::string_view raw);

// "running", "sleeping", "disk sleep", "zombie", "stopped", "tracing stop",
// "dead", "idle", "parked", "waking", "wakekill", "paging"; "unknown" for
// anything else.
std::string state_name_of(char state);

// Reads /proc for `pid`. Returns nullopt when the process does not exist
// (also: already reaped, pid <= 0) and, if `error` is non-null, sets it to
// "not_running: no process 123"; for other failures to read
// /proc/PID/stat (e.g. hidepid) sets "cannot read /proc/123/stat: <strerror>".
// A zombie (exited, not yet reaped) still exists: state 'Z'.
std::optional<ProcessInfo> read_process_info(int pid, std::string* error);

// Keys: pid, state (one-character string), state_name, rss_bytes, threads,
// cpu_user_s, cpu_system_s, fd_count, start_time (RFC 3339 UTC, as
// format_record_timestamp), uptime_s, cmdline (array of strings), and when
// known uid, gid, user, group.
nlohmann::json to_json(const ProcessInfo& info);

}  // namespace otpsup
