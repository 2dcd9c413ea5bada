// Child and supervisor specifications: what a supervisor is told to run.
//
// These are plain values shared by the config loader (which builds them from
// TOML), the pure supervisor core (which decides what to do with them) and the
// process shell (which turns a WorkerSpec into fork/execve). They carry no
// behaviour and own no resources.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace otpsup {

// All durations are milliseconds; "5s", "250ms", "2m" parse into this.
using Duration = std::chrono::milliseconds;

enum class Strategy { one_for_one, one_for_all, rest_for_one, dynamic };
enum class RestartType { permanent, transient, temporary };
// OTP 24's auto_shutdown: whether a supervisor ends when significant children
// exit by themselves.
enum class AutoShutdown { never, any_significant, all_significant };

// How a supervisor terminates one child (OTP's `shutdown` child-spec key).
struct Shutdown {
  enum class Kind { timeout, brutal_kill, infinity };
  Kind kind = Kind::timeout;
  Duration timeout{5000};  // meaningful only for Kind::timeout
  bool operator==(const Shutdown&) const = default;
};

// Where a worker's stdout or stderr goes (DESIGN §6): through a pipe to its
// supervisor, into STATE_DIR/logs/<path>.log (the default); straight to the
// supervisor's own descriptor; or to /dev/null.
enum class OutputTarget { log, inherit, null };

// One resource limit of a worker (setrlimit): soft and hard value, where
// kUnlimited stands for RLIM_INFINITY.
struct ResourceLimit {
  static constexpr std::uint64_t kUnlimited = UINT64_MAX;
  std::uint64_t soft = kUnlimited;
  std::uint64_t hard = kUnlimited;
  bool operator==(const ResourceLimit&) const = default;
};

// The limits a worker may set, as written in `rlimits` (RLIMIT_NOFILE,
// RLIMIT_NPROC, RLIMIT_CORE, RLIMIT_AS, RLIMIT_CPU).
inline constexpr std::array<const char*, 5> kResourceLimitNames{"nofile", "nproc", "core", "as",
                                                                "cpu"};
// When a worker counts as started (DESIGN §2, start order and readiness):
// `none` as soon as it is spawned; `notify` when it sends READY=1 to
// $NOTIFY_SOCKET (systemd's sd_notify protocol); `fd` when it writes a newline
// to its descriptor ChildSpec::ready_fd (s6's notification-fd).
enum class ReadyKind { none, notify, fd };

// Where something was written in the config file, for error messages.
struct SourcePos {
  int line = 0;
  int column = 0;
  bool operator==(const SourcePos&) const = default;
};

// One child of a supervisor: a worker (a command to exec) or a nested
// supervisor (is_supervisor = true; `command` is then empty).
struct ChildSpec {
  std::string id;
  bool is_supervisor = false;
  RestartType restart = RestartType::permanent;
  Shutdown shutdown;
  int stop_signal = 15;                   // SIGTERM
  std::vector<int> normal_exit_codes{0};  // exit codes that count as a normal exit

  // Worker only.
  std::vector<std::string> command;        // argv as written in the config
  std::string executable;                  // command[0] resolved to an absolute path
  std::map<std::string, std::string> env;  // added to (or replacing) the daemon's env
  bool clear_env = false;                  // start from an empty environment
  std::optional<std::string> cwd;
  // A message channel at fd 3 (call/cast through the supervisor, traced).
  bool channel = false;
  int trace_size = 100;  // messages kept in the child's trace ring
  OutputTarget stdout_target = OutputTarget::log;
  OutputTarget stderr_target = OutputTarget::log;
  // Credentials and limits, applied between fork and execve (DESIGN §1).
  // Names (or numbers) are resolved when the worker starts; the config
  // loader checks that they exist.
  std::optional<std::string> user;               // setuid; also its groups unless `group`
  std::optional<std::string> group;              // setgid (the user's primary group by default)
  std::optional<int> umask;                      // 0 .. 0777
  std::map<std::string, ResourceLimit> rlimits;  // keys from kResourceLimitNames
  std::optional<int> nice;                       // -20 .. 19, absolute
  bool no_new_privs = false;                     // PR_SET_NO_NEW_PRIVS

  // Restart delay with exponential backoff (beyond OTP; 0 = off, OTP's
  // immediate restart). A restart is scheduled restart_delay * 2^k later,
  // capped at backoff_max, with jitter; k counts the delayed restarts since
  // the child last stayed up for backoff_reset.
  Duration restart_delay{0};
  Duration backoff_max{0};        // 0: restart_delay (a constant delay)
  Duration backoff_reset{30000};  // uptime that forgets the backoff
  // OTP 24: a transient or temporary child whose own exit (a normal one for
  // transient) ends its supervisor when that supervisor has auto_shutdown.
  bool significant = false;
  // Readiness: with ready != none the child is `starting` until it says it is
  // ready, and the next sibling waits for it. ready_fd (>= 3) only for fd.
  ReadyKind ready = ReadyKind::none;
  int ready_fd = 0;
  // How long a child with readiness may take to become ready; past it the
  // child is killed and the start has failed. 0: no limit ("infinity").
  Duration start_timeout{60000};
  // > 0: the child must send WATCHDOG=1 at least this often once running, or
  // it is killed and handled as a crash ("watchdog timeout"). 0: off.
  Duration watchdog{0};

  bool operator==(const ChildSpec&) const = default;
};

// One supervisor: its policy and its children in start order.
struct SupervisorSpec {
  std::string name;
  Strategy strategy = Strategy::one_for_one;
  int intensity = 1;      // OTP default: 1 restart ...
  Duration period{5000};  // ... in 5 s
  std::vector<ChildSpec> children;
  int max_children = 0;  // dynamic supervisors only; 0 = unlimited
  bool allow_add = false;
  AutoShutdown auto_shutdown = AutoShutdown::never;
  SourcePos pos;

  bool operator==(const SupervisorSpec&) const = default;
};

const char* to_string(Strategy s);
const char* to_string(RestartType r);
const char* to_string(AutoShutdown a);
const char* to_string(OutputTarget t);
const char* to_string(ReadyKind r);
std::string to_string(const Shutdown& s);

}  // namespace otpsup
