// How a process ended, as a value (decoded from waitpid's status by the shell).
#pragma once

#include <string>

namespace otpsup {

struct ExitStatus {
  bool signaled = false;  // true: killed by `value` (a signal number)
  int value = 0;          // exit code, or signal number when signaled
  bool core_dumped = false;

  static ExitStatus exited(int code) { return {false, code, false}; }
  static ExitStatus killed(int sig, bool core = false) { return {true, sig, core}; }
  bool operator==(const ExitStatus&) const = default;
};

// "exited with code 1", "killed by SIGKILL", "killed by SIGSEGV (core dumped)".
std::string describe(const ExitStatus& s);

// "SIGTERM" for 15; "SIG42" for a number without a name. Pure (no libc state).
std::string signal_name(int sig);

// 15 for "TERM", "SIGTERM", "sigterm" or "15"; -1 when unknown.
int parse_signal(const std::string& text);

}  // namespace otpsup
