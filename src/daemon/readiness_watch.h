// ReadinessWatch: how one supervisor process hears its workers say "ready"
// (and "still alive") — the shell side of ChildSpec::ready and ::watchdog.
//
//  * ready = "notify": systemd's sd_notify protocol. The supervisor owns one
//    datagram socket in the abstract namespace ("@otpsup/<pid>/<random>", so
//    no path-length limit and nothing to clean up), with SO_PASSCRED on, and
//    gives its address to such children as NOTIFY_SOCKET. A datagram is
//    newline-separated KEY=VALUE assignments; READY=1, WATCHDOG=1 and
//    STATUS=text are understood, everything else is ignored. The sender is
//    known from the kernel-checked SCM_CREDENTIALS pid; it counts only if it
//    is one of our children or a descendant of one (Events::child_of
//    decides), so no other process can make a child ready.
//  * ready = { fd = N }: s6's notification fd. prepare_fd() makes a pipe
//    whose write end the child gets at fd N; a newline read from it makes the
//    child ready; EOF before one is ignored (start_timeout still applies).
//
// Threading: the supervisor's loop thread. No handle exists until a child
// needs one, so a tree without readiness costs nothing.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "otpsup/status.h"
#include "otpsup/unique_fd.h"

namespace otpsup {

class ReadinessWatch {
 public:
  struct Events {
    // Maps the pid of a sender to the pid of our child it belongs to (itself
    // or an ancestor); 0: not one of ours.
    std::function<int(int sender_pid)> child_of;
    std::function<void(int child_pid)> ready;
    std::function<void(int child_pid)> watchdog;
    std::function<void(int child_pid, const std::string& text)> status;  // STATUS=, bounded
  };
  // The longest STATUS= text kept (longer text is cut).
  static constexpr std::size_t kMaxStatus = 256;

  ReadinessWatch(uv_loop_t* loop, Events events);
  ~ReadinessWatch();
  ReadinessWatch(const ReadinessWatch&) = delete;
  ReadinessWatch& operator=(const ReadinessWatch&) = delete;

  // The NOTIFY_SOCKET value for children; opens the socket on first use.
  Status notify_address(std::string* address);

  // ready = { fd = N }: a pipe; returns the write end for the child (close it
  // after the spawn). Then exactly one of attached(pid) / abandoned().
  Status prepare_fd(UniqueFd* write_end);
  void attached(int pid);
  void abandoned();
  // The child `pid` exited: stop reading its ready fd.
  void exited(int pid);
  // Closes every handle (shutdown).
  void close();

 private:
  void on_datagram();
  void on_fd_readable(int pid);
  void stop_fd(int pid);

  uv_loop_t* loop_;
  Events events_;
  std::string address_;
  struct PollHandle;
  PollHandle* socket_ = nullptr;  // owned by libuv between init and close
  UniqueFd pending_read_end_;
  std::unordered_map<int, PollHandle*> fds_;  // ready-fd read ends, by child pid
};

// Reads /proc/PID/stat: the session and parent of `pid` (false if gone).
bool read_session_and_parent(int pid, int* session, int* ppid);

}  // namespace otpsup
