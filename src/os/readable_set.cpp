#include "os/readable_set.h"

#include <errno.h>
#include <sys/epoll.h>

#include <array>
#include <cstring>

#include "otpsup/unique_fd.h"

namespace otpsup {

namespace {
// Events handed out per loop turn.
constexpr int kBatch = 256;
}  // namespace

struct ReadableSet::Handle {
  uv_poll_t poll{};
  UniqueFd epoll;
  ReadableSet* owner = nullptr;  // null once the set is gone

  static void on_closed(uv_handle_t* h) {
    std::unique_ptr<Handle> owned(static_cast<Handle*>(h->data));
  }
};

ReadableSet::ReadableSet(PassKey, uv_loop_t* loop) : loop_(loop) {}

std::unique_ptr<ReadableSet> ReadableSet::create(uv_loop_t* loop, std::string* error) {
  auto set = std::make_unique<ReadableSet>(PassKey(), loop);
  auto h = std::make_unique<Handle>();
  h->epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!h->epoll) {
    if (error) *error = std::string("epoll_create1: ") + std::strerror(errno);
    return nullptr;
  }
  const int rc = uv_poll_init(loop, &h->poll, h->epoll.get());
  if (rc != 0) {
    if (error) *error = std::string("uv_poll_init: ") + uv_strerror(rc);
    return nullptr;
  }
  h->poll.data = h.get();
  h->owner = set.get();
  set->handle_ = h.release();
  return set;
}

ReadableSet::~ReadableSet() {
  handle_->owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_->poll), &Handle::on_closed);
}

bool ReadableSet::add(int fd, Listener* listener, std::string* error) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (::epoll_ctl(handle_->epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    if (error) *error = std::string("epoll_ctl: ") + std::strerror(errno);
    return false;
  }
  if (static_cast<std::size_t>(fd) >= listeners_.size()) {
    listeners_.resize(static_cast<std::size_t>(fd) + 1 + listeners_.size() / 2, nullptr);
  }
  listeners_[static_cast<std::size_t>(fd)] = listener;
  if (++watched_ == 1) activate(true);
  return true;
}

void ReadableSet::remove(int fd) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= listeners_.size() ||
      listeners_[static_cast<std::size_t>(fd)] == nullptr) {
    return;
  }
  (void)::epoll_ctl(handle_->epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
  listeners_[static_cast<std::size_t>(fd)] = nullptr;
  if (--watched_ == 0) activate(false);
}

void ReadableSet::activate(bool on) {
  if (on == active_) return;
  active_ = on;
  if (!on) {
    uv_poll_stop(&handle_->poll);
    return;
  }
  uv_poll_start(&handle_->poll, UV_READABLE, [](uv_poll_t* p, int, int) {
    auto* h = static_cast<Handle*>(p->data);
    if (h->owner != nullptr) h->owner->on_ready();
  });
}

void ReadableSet::on_ready() {
  std::array<epoll_event, kBatch> events;
  int n;
  do {
    n = ::epoll_wait(handle_->epoll.get(), events.data(), kBatch, 0);
  } while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; ++i) {
    const int fd = events[static_cast<std::size_t>(i)].data.fd;
    // Looked up at each event: an earlier callback may have removed it.
    Listener* listener = static_cast<std::size_t>(fd) < listeners_.size()
                             ? listeners_[static_cast<std::size_t>(fd)]
                             : nullptr;
    if (listener != nullptr) listener->on_readable(fd);
  }
}

}  // namespace otpsup
