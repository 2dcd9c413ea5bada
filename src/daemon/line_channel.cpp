#include "daemon/line_channel.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace otpsup {

// The libuv handle lives on the heap until its close callback, which may run
// after the LineChannel is gone.
struct LineChannel::Handle {
  uv_pipe_t pipe{};
  LineChannel* owner = nullptr;
  char buffer[64 * 1024];
};

LineChannel::LineChannel(uv_loop_t* loop, UniqueFd fd, MessageHandler on_message,
                         ClosedHandler on_closed)
    : handle_(std::make_unique<Handle>()),
      on_message_(std::move(on_message)),
      on_closed_(std::move(on_closed)) {
  handle_->owner = this;
  uv_pipe_init(loop, &handle_->pipe, 0);
  handle_->pipe.data = handle_.get();
  uv_pipe_open(&handle_->pipe, fd.release());
}

LineChannel::~LineChannel() {
  close();
}

void LineChannel::start() {
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&handle_->pipe),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* handle = static_cast<Handle*>(h->data);
        *buf = uv_buf_init(handle->buffer, sizeof handle->buffer);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* handle = static_cast<Handle*>(s->data);
        if (handle->owner == nullptr) return;
        if (n < 0) {
          handle->owner->closed_by_peer();
        } else if (n > 0) {
          handle->owner->on_bytes(buf->base, static_cast<std::size_t>(n));
        }
      });
}

void LineChannel::drain() {
  if (!open_) return;
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&handle_->pipe), &fd) != 0) return;
  for (;;) {
    const ssize_t n = ::recv(fd, handle_->buffer, sizeof handle_->buffer, MSG_DONTWAIT);
    if (n > 0) {
      on_bytes(handle_->buffer, static_cast<std::size_t>(n));
      if (!open_) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;  // EAGAIN: nothing more now; 0: EOF (reported by the read callback)
  }
}

void LineChannel::on_bytes(const char* data, std::size_t n) {
  inbox_.append(data, n);
  std::size_t start = 0;
  for (;;) {
    const auto nl = inbox_.find('\n', start);
    if (nl == std::string::npos) break;
    if (skipping_) {  // the end of a line already reported as too long
      skipping_ = false;
      start = nl + 1;
      continue;
    }
    nlohmann::json message =
        nlohmann::json::parse(inbox_.begin() + static_cast<std::ptrdiff_t>(start),
                              inbox_.begin() + static_cast<std::ptrdiff_t>(nl), nullptr, false);
    const std::size_t length = nl - start;
    start = nl + 1;
    if (message.is_discarded() || !message.is_object()) {
      if (on_garbage_ && length > 0) on_garbage_("not a JSON object", length);
    } else if (on_message_) {
      on_message_(message);
    }
    if (!open_) return;
  }
  inbox_.erase(0, start);
  if (inbox_.size() > max_line_) {
    if (on_garbage_ && !skipping_) on_garbage_("line longer than the limit", inbox_.size());
    skipping_ = true;
    inbox_.clear();
  }
}

namespace {
struct QueuedWrite {
  uv_write_t req{};
  std::string data;
};
}  // namespace

Status LineChannel::send_nonblocking(const nlohmann::json& message, std::size_t max_queued) {
  if (!open_) return Status::error("channel closed");
  auto* stream = reinterpret_cast<uv_stream_t*>(&handle_->pipe);
  std::string line = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  if (uv_stream_get_write_queue_size(stream) + line.size() > max_queued) {
    return Status::error("the worker is not reading its channel (" +
                         std::to_string(uv_stream_get_write_queue_size(stream)) +
                         " bytes waiting)");
  }
  auto w = std::make_unique<QueuedWrite>();
  w->data = std::move(line);
  w->req.data = w.get();
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int rc = uv_write(&w->req, stream, &buf, 1, [](uv_write_t* req, int) {
    std::unique_ptr<QueuedWrite> done(static_cast<QueuedWrite*>(req->data));
  });
  if (rc != 0) return Status::error(std::string("write: ") + uv_strerror(rc));
  (void)w.release();  // owned by the write callback
  return Status::ok_status();
}

Status LineChannel::send(const nlohmann::json& message) {
  if (!open_) return Status::error("uplink closed");
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&handle_->pipe), &fd) != 0) {
    return Status::error("uplink closed");
  }
  std::string line = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::send(fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, -1);
    } else {
      return Status::from_errno("send", "uplink", errno);
    }
  }
  return Status::ok_status();
}

void LineChannel::closed_by_peer() {
  if (!open_) return;
  close();
  if (on_closed_) on_closed_();
}

void LineChannel::close() {
  if (!open_) return;
  open_ = false;
  handle_->owner = nullptr;
  Handle* h = handle_.release();
  uv_close(reinterpret_cast<uv_handle_t*>(&h->pipe), [](uv_handle_t* closed) {
    std::unique_ptr<Handle> done(static_cast<Handle*>(closed->data));
  });
}

}  // namespace otpsup
