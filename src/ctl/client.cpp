#include "ctl/client.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace otpsup::ctl {
namespace {

// A reply longer than this is treated as a broken connection (a status tree
// of thousands of nodes is a few MiB; this is only a guard against garbage).
constexpr std::size_t kMaxReplyBytes = 64 * 1024 * 1024;
// The least read(2) asks for; a reply already larger asks for as much again.
constexpr std::size_t kReadChunk = 256 * 1024;

// InterruptScope state. The handler only records.
volatile sig_atomic_t g_interrupted = 0;
bool g_interrupt_scope_active = false;
sigset_t g_wait_mask;      // the mask to wait with: SIGINT/SIGTERM unblocked
sigset_t g_previous_mask;  // restored by ~InterruptScope
struct sigaction g_previous_int_action;
struct sigaction g_previous_term_action;

extern "C" void record_interrupt(int) {
  g_interrupted = 1;
}

Status errno_status(const std::string& what, int err) {
  return Status::error(what + ": " + std::strerror(err));
}

// Time left until `deadline` as a ppoll(2) timeout (zero once passed);
// nullopt = wait forever.
std::optional<timespec> time_left(Deadline deadline) {
  if (!deadline) return std::nullopt;
  auto remaining = *deadline - Clock::now();
  if (remaining < Clock::duration::zero()) remaining = Clock::duration::zero();
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(remaining);
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining - seconds);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(seconds.count());
  ts.tv_nsec = static_cast<long>(nanos.count());
  return ts;
}

}  // namespace

InterruptScope::InterruptScope() {
  g_interrupted = 0;
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop_signals, &g_previous_mask);
  g_wait_mask = g_previous_mask;
  sigdelset(&g_wait_mask, SIGINT);
  sigdelset(&g_wait_mask, SIGTERM);

  struct sigaction action {};
  action.sa_handler = record_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &g_previous_int_action);
  sigaction(SIGTERM, &action, &g_previous_term_action);
  g_interrupt_scope_active = true;
}

bool InterruptScope::wait_readable(int fd) {
  for (;;) {
    if (g_interrupted) return false;
    pollfd readable{fd, POLLIN, 0};
    const int ready = ::ppoll(&readable, 1, nullptr, &g_wait_mask);
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

InterruptScope::~InterruptScope() {
  g_interrupt_scope_active = false;
  sigaction(SIGINT, &g_previous_int_action, nullptr);
  sigaction(SIGTERM, &g_previous_term_action, nullptr);
  sigprocmask(SIG_SETMASK, &g_previous_mask, nullptr);
}

Status Client::connect(const std::string& socket_path) {
  socket_path_ = socket_path;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(address.sun_path)) {
    return Status::error("cannot connect to " + socket_path +
                         ": socket path is empty or longer than " +
                         std::to_string(sizeof(address.sun_path) - 1) + " bytes");
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);

  socket_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket_) return errno_status("cannot create a socket", errno);
  int rc;
  do {
    rc = ::connect(socket_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return errno_status("cannot connect to " + socket_path, errno);
  return Status::ok_status();
}

Status Client::send(nlohmann::ordered_json request, std::uint64_t* id) {
  *id = next_id_++;
  request["id"] = *id;
  std::string line = request.dump() + "\n";
  std::size_t sent = 0;
  while (sent < line.size()) {
    ssize_t n = ::send(socket_.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("cannot send to otpsupd at " + socket_path_, errno);
    }
    sent += static_cast<std::size_t>(n);
  }
  return Status::ok_status();
}

Status Client::read_line(Deadline deadline, std::string* line, Incoming::Kind* kind) {
  for (;;) {
    if (auto newline = buffer_.find('\n', scanned_); newline != std::string::npos) {
      if (newline + 1 == buffer_.size()) {
        // The usual case, one reply and nothing after it: no copy.
        buffer_.pop_back();
        line->swap(buffer_);
        buffer_.clear();
      } else {
        line->assign(buffer_, 0, newline);
        buffer_.erase(0, newline + 1);
      }
      scanned_ = 0;
      *kind = Incoming::Kind::message;
      return Status::ok_status();
    }
    scanned_ = buffer_.size();
    if (buffer_.size() > kMaxReplyBytes) {
      return Status::error("reply from otpsupd is longer than " + std::to_string(kMaxReplyBytes) +
                           " bytes");
    }
    if (g_interrupt_scope_active && g_interrupted) {
      *kind = Incoming::Kind::interrupted;
      return Status::ok_status();
    }

    // Read what is there first; wait (ppoll) only when nothing is. A large
    // reply is read in large pieces straight into the buffer.
    const std::size_t used = buffer_.size();
    buffer_.resize(used + std::max<std::size_t>(kReadChunk, used));
    ssize_t n = ::recv(socket_.get(), buffer_.data() + used, buffer_.size() - used, MSG_DONTWAIT);
    const int read_errno = errno;
    buffer_.resize(used + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    if (n > 0) continue;
    if (n == 0) {
      // A last line without '\n' is incomplete: it does not count.
      *kind = Incoming::Kind::closed;
      return Status::ok_status();
    }
    if (read_errno == EINTR) continue;
    if (read_errno != EAGAIN && read_errno != EWOULDBLOCK) {
      return errno_status("cannot read from otpsupd at " + socket_path_, read_errno);
    }

    pollfd readable{socket_.get(), POLLIN, 0};
    std::optional<timespec> timeout = time_left(deadline);
    int ready = ::ppoll(&readable, 1, timeout ? &*timeout : nullptr,
                        g_interrupt_scope_active ? &g_wait_mask : nullptr);
    if (ready < 0) {
      if (errno == EINTR) continue;  // an interrupt is checked at the top
      return errno_status("cannot wait for otpsupd", errno);
    }
    if (ready == 0) {
      *kind = Incoming::Kind::timed_out;
      return Status::ok_status();
    }
  }
}

Status Client::receive(std::uint64_t id, Deadline deadline, Incoming* out) {
  for (;;) {
    std::string line;
    Incoming::Kind kind;
    if (Status status = read_line(deadline, &line, &kind); !status.ok()) return status;
    if (kind != Incoming::Kind::message) {
      out->kind = kind;
      out->message = nullptr;
      return Status::ok_status();
    }
    auto message = nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (message.is_discarded() || !message.is_object()) continue;
    auto found = message.find("id");
    if (found == message.end() || !found->is_number_unsigned() ||
        found->get<std::uint64_t>() != id) {
      continue;
    }
    out->kind = Incoming::Kind::message;
    out->message = std::move(message);
    return Status::ok_status();
  }
}

namespace {
// What a call ending with `kind` returns: ok for a reply, else why there is none.
Status outcome(Incoming::Kind kind, const std::string& timeout_text) {
  switch (kind) {
    case Incoming::Kind::message:
      return Status::ok_status();
    case Incoming::Kind::closed:
      return Status::error("otpsupd closed the connection before replying");
    case Incoming::Kind::timed_out:
      return Status::error("no reply from otpsupd within " + timeout_text);
    case Incoming::Kind::interrupted:
      return Status::error("interrupted");
  }
  return Status::error("internal error: unknown reply kind");
}
}  // namespace

Status Client::call(nlohmann::ordered_json request, Deadline deadline,
                    const std::string& timeout_text, nlohmann::ordered_json* reply) {
  std::uint64_t id = 0;
  if (Status status = send(std::move(request), &id); !status.ok()) return status;
  Incoming incoming;
  if (Status status = receive(id, deadline, &incoming); !status.ok()) return status;
  if (incoming.kind == Incoming::Kind::message) *reply = std::move(incoming.message);
  return outcome(incoming.kind, timeout_text);
}

Status Client::receive_document(std::uint64_t id, Deadline deadline, JsonDocument* document,
                                Incoming::Kind* kind) {
  for (;;) {
    std::string line;
    if (Status status = read_line(deadline, &line, kind); !status.ok()) return status;
    if (*kind != Incoming::Kind::message) return Status::ok_status();
    if (!document->parse(std::move(line))) continue;
    const JsonValue* found = document->find(document->root(), "id");
    if (found != nullptr && found->text.front() != '-' && JsonDocument::count(*found) == id) {
      return Status::ok_status();
    }
  }
}

Status Client::call(nlohmann::ordered_json request, Deadline deadline,
                    const std::string& timeout_text, JsonDocument* reply) {
  std::uint64_t id = 0;
  if (Status status = send(std::move(request), &id); !status.ok()) return status;
  Incoming::Kind kind = Incoming::Kind::closed;
  if (Status status = receive_document(id, deadline, reply, &kind); !status.ok()) return status;
  return outcome(kind, timeout_text);
}

}  // namespace otpsup::ctl
