#include "daemon/control_server.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "otpsup/protocol.h"
#include "otpsup/unique_fd.h"

namespace otpsup {

struct ControlServer::Client {
  ControlServer* server = nullptr;
  ClientId id = 0;
  uv_pipe_t pipe{};
  std::string inbox;  // bytes of an incomplete request line
  bool closing = false;
  std::size_t send_buffer = 0;  // SO_SNDBUF asked for; 0 = the system's default
};

struct ControlServer::WriteRequest {
  uv_write_t req{};
  std::string data;
};

namespace {

Status uv_error(const std::string& what, const std::string& object, int code) {
  return Status::error(what + ": " + object + ": " + uv_strerror(code));
}

// True when something already answers on `path` (another daemon).
bool socket_answers(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

// Creates the socket's directory 0700 when it is missing. An existing
// directory is used as it is, never re-moded (it may be /tmp or /run); the
// socket itself is 0600 either way.
Status ensure_socket_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return Status::ok_status();
  if (errno != EEXIST) return Status::from_errno("create socket directory", dir, errno);
  struct stat st {};
  if (::stat(dir.c_str(), &st) < 0) return Status::from_errno("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) return Status::error("socket directory " + dir + " is not a directory");
  return Status::ok_status();
}

}  // namespace

ControlServer::ControlServer(uv_loop_t* loop, RequestHandler on_request,
                             DisconnectHandler on_disconnect)
    : loop_(loop), on_request_(std::move(on_request)), on_disconnect_(std::move(on_disconnect)) {
  read_buffer_.resize(64 * 1024);
}

ControlServer::~ControlServer() = default;

Status ControlServer::listen(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Status::error("socket path too long: " + path);
  }
  const auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    Status s = ensure_socket_dir(path.substr(0, slash));
    if (!s.ok()) return s;
  }
  if (socket_answers(path)) {
    return Status::error("another otpsupd is already listening on " + path);
  }
  ::unlink(path.c_str());

  listener_ = std::make_unique<uv_pipe_t>();
  uv_pipe_init(loop_, listener_.get(), 0);
  listener_->data = this;
  const mode_t old_mask = ::umask(0177);  // the socket is created 0600
  const int rc = uv_pipe_bind(listener_.get(), path.c_str());
  ::umask(old_mask);
  if (rc < 0) return uv_error("bind", path, rc);
  path_ = path;
  const int lrc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_.get()), 128,
                            [](uv_stream_t* server, int status) {
                              if (status == 0)
                                static_cast<ControlServer*>(server->data)->on_connection();
                            });
  if (lrc < 0) return uv_error("listen", path, lrc);
  return Status::ok_status();
}

void ControlServer::on_connection() {
  auto client = std::make_unique<Client>();
  client->server = this;
  client->id = ++next_id_;
  uv_pipe_init(loop_, &client->pipe, 0);
  client->pipe.data = client.get();
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_.get()),
                reinterpret_cast<uv_stream_t*>(&client->pipe)) != 0) {
    // The handle must outlive uv_close: keep the client until its callback.
    Client* raw = client.get();
    clients_[raw->id] = std::move(client);
    drop(*raw);
    return;
  }
  Client& c = *client;
  clients_[c.id] = std::move(client);

  uv_os_fd_t fd;
  uv_fileno(reinterpret_cast<uv_handle_t*>(&c.pipe), &fd);
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
      (cred.uid != ::geteuid() && cred.uid != 0)) {
    send_error(c.id, nullptr, protocol::kPermissionDenied,
               "uid " + std::to_string(cred.uid) + " may not control this daemon");
    close_after_flush(c.id);
    return;
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c.pipe), &ControlServer::alloc_cb,
                [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
                  auto* client = static_cast<Client*>(stream->data);
                  client->server->on_read(*client, nread, buf);
                });
}

void ControlServer::alloc_cb(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* client = static_cast<Client*>(handle->data);
  std::string& b = client->server->read_buffer_;
  *buf = uv_buf_init(b.data(), static_cast<unsigned>(b.size()));
}

void ControlServer::on_read(Client& c, ssize_t nread, const uv_buf_t* buf) {
  if (nread < 0) {
    drop(c);
    return;
  }
  const ClientId id = c.id;
  c.inbox.append(buf->base, static_cast<std::size_t>(nread));
  std::size_t start = 0;
  for (;;) {
    const auto nl = c.inbox.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(c.inbox.data() + start, nl - start);
    start = nl + 1;
    if (line.size() > protocol::kMaxRequestBytes) {
      send_error(id, nullptr, protocol::kTooLarge, "request longer than 64 KiB");
      close_after_flush(id);
      return;
    }
    if (line.empty()) continue;
    nlohmann::json request = nlohmann::json::parse(line, nullptr, false);
    if (request.is_discarded() || !request.is_object()) {
      send_error(id, nullptr, protocol::kBadRequest, "not a JSON object");
      continue;
    }
    on_request_(id, request);
    if (!connected(id)) return;  // the handler closed it
  }
  c.inbox.erase(0, start);
  if (c.inbox.size() > protocol::kMaxRequestBytes) {
    send_error(id, nullptr, protocol::kTooLarge, "request longer than 64 KiB");
    close_after_flush(id);
  }
}

bool ControlServer::connected(ClientId client) const {
  auto it = clients_.find(client);
  return it != clients_.end() && !it->second->closing;
}

void ControlServer::send(ClientId client, const nlohmann::json& message) {
  send_line(client, message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void ControlServer::send_error(ClientId client, const nlohmann::json& id, std::string_view code,
                               const std::string& message) {
  send(client,
       {{"id", id}, {"ok", false}, {"error", {{"code", std::string(code)}, {"message", message}}}});
}

void ControlServer::send_line(ClientId client, std::string line) {
  auto it = clients_.find(client);
  if (it == clients_.end() || it->second->closing) return;
  Client& c = *it->second;
  auto* stream = reinterpret_cast<uv_stream_t*>(&c.pipe);
  if (uv_stream_get_write_queue_size(stream) > kMaxQueuedReplyBytes) {
    drop(c);  // it does not read: drop it rather than grow without bound
    return;
  }
  line.push_back('\n');
  if (line.size() > kDefaultSendBuffer && line.size() > c.send_buffer)
    grow_send_buffer(c, line.size());
  auto w = std::make_unique<WriteRequest>();
  w->data = std::move(line);
  w->req.data = w.get();
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int rc = uv_write(&w->req, stream, &buf, 1, [](uv_write_t* req, int) {
    std::unique_ptr<WriteRequest> done(static_cast<WriteRequest*>(req->data));
  });
  if (rc == 0) {
    (void)w.release();  // owned by the write callback now
  } else {
    drop(c);
  }
}

// A large reply (the status of thousands of nodes) then goes into the socket
// in one write instead of one default buffer's worth (~200 KiB) per loop
// iteration and client read. Only clients that get such replies pay for the
// larger buffer; the kernel caps it at net.core.wmem_max.
void ControlServer::grow_send_buffer(Client& c, std::size_t reply_bytes) {
  const int size = static_cast<int>(std::min(reply_bytes, kMaxSendBuffer));
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c.pipe), &fd) == 0 &&
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) == 0) {
    c.send_buffer = static_cast<std::size_t>(size);
  }
}

void ControlServer::close_after_flush(ClientId client) {
  auto it = clients_.find(client);
  if (it == clients_.end() || it->second->closing) return;
  Client& c = *it->second;
  c.closing = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.pipe));
  auto req = std::make_unique<uv_shutdown_t>();
  req->data = &c;
  const int rc =
      uv_shutdown(req.get(), reinterpret_cast<uv_stream_t*>(&c.pipe), [](uv_shutdown_t* r, int) {
        std::unique_ptr<uv_shutdown_t> done(r);
        auto* cl = static_cast<Client*>(r->data);
        // Cancelled because close() gave up waiting: already being closed.
        if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&cl->pipe))) return;
        cl->closing = false;
        cl->server->drop(*cl);
      });
  if (rc == 0) {
    (void)req.release();
  } else {
    c.closing = false;
    drop(c);
  }
}

// Closes the handle; the Client is destroyed in the close callback.
void ControlServer::drop(Client& c) {
  if (c.closing) return;
  c.closing = true;
  const ClientId id = c.id;
  close_handle(c);
  if (on_disconnect_) on_disconnect_(id);
}

// The Client is destroyed in the close callback; the last one also ends the
// linger timer, so a closed server leaves no handle behind.
void ControlServer::close_handle(Client& c) {
  uv_close(reinterpret_cast<uv_handle_t*>(&c.pipe), [](uv_handle_t* h) {
    auto* cl = static_cast<Client*>(h->data);
    ControlServer* server = cl->server;
    server->clients_.erase(cl->id);
    if (server->clients_.empty()) server->stop_linger();
  });
}

void ControlServer::stop_linger() {
  if (!linger_) return;
  uv_timer_t* t = linger_.release();
  uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
    std::unique_ptr<uv_timer_t> done(reinterpret_cast<uv_timer_t*>(h));
  });
}

void ControlServer::close() {
  if (listener_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(listener_.get()))) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_.get()), nullptr);
    // Only a socket we bound is ours to remove (not another daemon's).
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  std::vector<Client*> all;
  for (auto& [id, c] : clients_) all.push_back(c.get());
  for (Client* c : all) {
    if (!c->closing) drop(*c);
  }
  // Clients still flushing (close_after_flush: final replies, followers) get
  // kLingerMs to read what is left; one that does not read is then cut off,
  // so that it cannot keep the daemon from exiting.
  if (!clients_.empty() && !linger_) {
    linger_ = std::make_unique<uv_timer_t>();
    uv_timer_init(loop_, linger_.get());
    linger_->data = this;
    uv_timer_start(
        linger_.get(),
        [](uv_timer_t* t) {
          auto* server = static_cast<ControlServer*>(t->data);
          std::vector<Client*> left;
          for (auto& [id, c] : server->clients_) left.push_back(c.get());
          for (Client* c : left) {
            if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->pipe))) server->close_handle(*c);
          }
        },
        kLingerMs, 0);
  }
}

}  // namespace otpsup
