// UniqueFd: the one owner of a file descriptor (RAII, move-only).
//
// The destructor closes the descriptor it owns. close(2) is never retried:
// on Linux the descriptor is released even when close reports EINTR, and a
// retry could close an fd another thread has just opened. Not thread-safe:
// one UniqueFd is used by one thread at a time, like the fd it owns.
#pragma once

#include <unistd.h>

#include <utility>

namespace otpsup {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  // Takes ownership of `fd` (may be -1, meaning "owns nothing").
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  // The descriptor, still owned by this object; -1 when empty.
  int get() const noexcept { return fd_; }
  // Gives up ownership without closing; returns the descriptor (or -1).
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the owned descriptor (if any) and takes ownership of `fd`.
  void reset(int fd = -1) noexcept {
    const int old = std::exchange(fd_, fd);
    if (old >= 0 && old != fd) ::close(old);
  }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace otpsup
