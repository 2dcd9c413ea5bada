#include "os/pid_view.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>
#include <string_view>

namespace otpsup {

std::optional<int> PidView::find_outside(int pid) const {
  if (!outer_proc_ || pid <= 0) return std::nullopt;
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return std::nullopt;
  const std::string path = "self/fdinfo/" + std::to_string(pidfd.get());
  UniqueFd info(::openat(outer_proc_.get(), path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!info) return std::nullopt;
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(info.get(), buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return std::nullopt;
  const std::string_view text(buf, static_cast<std::size_t>(n));
  // "Pid:\t<n>": <n> is 0 when the process is not visible in that namespace
  // and -1 once it has exited.
  std::size_t at = text.find("\nPid:");
  at = at == std::string_view::npos ? (text.starts_with("Pid:") ? 0 : at) : at + 1;
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t digits = text.find_first_not_of(" \t", at + 4);
  if (digits == std::string_view::npos) return std::nullopt;
  int outer = 0;
  const auto [end, ec] = std::from_chars(text.data() + digits, text.data() + text.size(), outer);
  (void)end;
  if (ec != std::errc() || outer <= 0) return std::nullopt;
  return outer;
}

}  // namespace otpsup
