#include "otpsup/exit_status.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

namespace otpsup {

namespace {
// Linux x86-64/arm64 numbering (asm-generic). Index = signal number.
constexpr std::array<std::string_view, 32> kSignalNames = {
    "",          "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP", "SIGABRT", "SIGBUS",
    "SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",  "SIGPIPE", "SIGALRM", "SIGTERM",
    "SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",  "SIGTTIN", "SIGTTOU", "SIGURG",
    "SIGXCPU",   "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",   "SIGPWR",  "SIGSYS"};
}  // namespace

std::string signal_name(int sig) {
  if (sig > 0 && sig < static_cast<int>(kSignalNames.size())) return std::string(kSignalNames[sig]);
  return "SIG" + std::to_string(sig);
}

int parse_signal(const std::string& text) {
  if (text.empty()) return -1;
  if (std::all_of(text.begin(), text.end(), [](unsigned char ch) { return std::isdigit(ch); })) {
    if (text.size() > 2) return -1;
    const int n = std::stoi(text);
    return n > 0 && n < 65 ? n : -1;
  }
  std::string upper;
  for (unsigned char ch : text) upper.push_back(static_cast<char>(std::toupper(ch)));
  if (upper.rfind("SIG", 0) != 0) upper = "SIG" + upper;
  for (std::size_t i = 1; i < kSignalNames.size(); ++i) {
    if (kSignalNames[i] == upper) return static_cast<int>(i);
  }
  return -1;
}

std::string describe(const ExitStatus& s) {
  if (!s.signaled) return "exited with code " + std::to_string(s.value);
  std::string text = "killed by " + signal_name(s.value);
  if (s.core_dumped) text += " (core dumped)";
  return text;
}

}  // namespace otpsup
