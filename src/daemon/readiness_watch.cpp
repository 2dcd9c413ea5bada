#include "daemon/readiness_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string_view>

#include "os/proc_info.h"

namespace otpsup {

namespace {
// The largest datagram read; sd_notify messages are far smaller.
constexpr std::size_t kMaxDatagram = 4096;
}  // namespace

// A uv_poll_t and the descriptor it watches. Owned by libuv from uv_poll_init
// until the close callback, which frees it (closing the fd after libuv has
// stopped watching it).
struct ReadinessWatch::PollHandle {
  uv_poll_t poll{};
  UniqueFd fd;
  ReadinessWatch* owner = nullptr;
  int pid = 0;  // ready fd: the child; 0 for the notify socket

  static void on_closed(uv_handle_t* h) {
    std::unique_ptr<PollHandle> owned(static_cast<PollHandle*>(h->data));
  }
  // Starts watching; on failure frees itself and returns false.
  static PollHandle* start(uv_loop_t* loop, UniqueFd fd, ReadinessWatch* owner, int pid,
                           uv_poll_cb cb) {
    auto h = std::make_unique<PollHandle>();
    h->fd = std::move(fd);
    h->owner = owner;
    h->pid = pid;
    h->poll.data = h.get();
    if (uv_poll_init(loop, &h->poll, h->fd.get()) != 0) return nullptr;
    PollHandle* raw = h.release();  // libuv's until on_closed
    uv_poll_start(&raw->poll, UV_READABLE, cb);
    return raw;
  }
  static void close(PollHandle* h) {
    if (h == nullptr) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&h->poll), &PollHandle::on_closed);
  }
};

bool read_session_and_parent(int pid, int* session, int* ppid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(fd.get(), buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  ProcStat stat;
  if (!parse_proc_stat(std::string_view(buf, static_cast<std::size_t>(n)), &stat)) return false;
  *session = stat.session;
  *ppid = stat.ppid;
  return true;
}

ReadinessWatch::ReadinessWatch(uv_loop_t* loop, Events events)
    : loop_(loop), events_(std::move(events)) {}

ReadinessWatch::~ReadinessWatch() {
  close();
}

Status ReadinessWatch::notify_address(std::string* address) {
  if (socket_ != nullptr) {
    *address = address_;
    return Status::ok_status();
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Status::from_errno("socket", "(notify)", errno);
  const int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0) {
    return Status::from_errno("setsockopt(SO_PASSCRED)", "(notify)", errno);
  }
  // Abstract names are shared by every process of the network namespace
  // (several daemons, PID namespaces): a random part makes ours unique.
  std::random_device random;
  std::string name;
  for (int attempt = 0;; ++attempt) {
    char text[80];
    std::snprintf(text, sizeof text, "otpsup/%d/%08x%08x", static_cast<int>(::getpid()), random(),
                  random());
    name = text;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0) break;
    if (errno != EADDRINUSE || attempt >= 8) {
      return Status::from_errno("bind", "@" + name, errno);
    }
  }
  socket_ = PollHandle::start(loop_, std::move(fd), this, 0, [](uv_poll_t* p, int, int) {
    static_cast<PollHandle*>(p->data)->owner->on_datagram();
  });
  if (socket_ == nullptr) return Status::error("uv_poll_init failed for the notify socket");
  address_ = "@" + name;
  *address = address_;
  return Status::ok_status();
}

void ReadinessWatch::on_datagram() {
  for (;;) {
    char data[kMaxDatagram];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(socket_->fd.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: drained
    }
    int sender = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        sender = cred.pid;
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        // sd_pid_notify_with_fds: we keep no fd store; close what was sent.
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
          int passed;
          std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
          ::close(passed);
        }
      }
    }
    const int child = sender > 0 && events_.child_of ? events_.child_of(sender) : 0;
    if (child == 0) continue;  // not one of ours
    std::string_view text(data, static_cast<std::size_t>(n));
    bool ready = false, watchdog = false;
    while (!text.empty()) {
      const auto nl = text.find('\n');
      const std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
      if (line == "READY=1") ready = true;
      if (line == "WATCHDOG=1") watchdog = true;
      if (line.substr(0, 7) == "STATUS=" && events_.status) {
        events_.status(child, std::string(line.substr(7, kMaxStatus)));
      }
    }
    // READY before WATCHDOG: "READY=1\nWATCHDOG=1" starts the watchdog then pings it.
    if (ready && events_.ready) events_.ready(child);
    if (watchdog && events_.watchdog) events_.watchdog(child);
  }
}

Status ReadinessWatch::prepare_fd(UniqueFd* write_end) {
  pending_read_end_.reset();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
    return Status::from_errno("pipe2", "(ready fd)", errno);
  }
  pending_read_end_.reset(fds[0]);
  write_end->reset(fds[1]);
  // The child's end blocks as an ordinary pipe would.
  ::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) & ~O_NONBLOCK);
  return Status::ok_status();
}

void ReadinessWatch::attached(int pid) {
  if (!pending_read_end_) return;
  stop_fd(pid);
  PollHandle* h =
      PollHandle::start(loop_, std::move(pending_read_end_), this, pid, [](uv_poll_t* p, int, int) {
        auto* self = static_cast<PollHandle*>(p->data);
        self->owner->on_fd_readable(self->pid);
      });
  if (h != nullptr) fds_[pid] = h;
}

void ReadinessWatch::abandoned() {
  pending_read_end_.reset();
}

void ReadinessWatch::on_fd_readable(int pid) {
  auto it = fds_.find(pid);
  if (it == fds_.end()) return;
  char buf[256];
  ssize_t n;
  do {
    n = ::read(it->second->fd.get(), buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return;
  if (n > 0 && std::memchr(buf, '\n', static_cast<std::size_t>(n)) == nullptr) return;
  // A newline: ready (and nothing more to hear); EOF or an error: never ready.
  stop_fd(pid);
  if (n > 0 && events_.ready) events_.ready(pid);
}

void ReadinessWatch::stop_fd(int pid) {
  auto it = fds_.find(pid);
  if (it == fds_.end()) return;
  PollHandle::close(it->second);
  fds_.erase(it);
}

void ReadinessWatch::exited(int pid) {
  stop_fd(pid);
}

void ReadinessWatch::close() {
  pending_read_end_.reset();
  for (auto& [pid, h] : fds_) PollHandle::close(h);
  fds_.clear();
  PollHandle::close(socket_);
  socket_ = nullptr;
}

}  // namespace otpsup
