// ControlServer: the daemon's Unix control socket (DESIGN §4, protocol.h).
//
// Accepts clients of the same uid (or root) only (SO_PEERCRED), frames
// newline-delimited JSON requests, bounds every buffer: a request line longer
// than protocol::kMaxRequestBytes gets a `too_large` error and the connection
// is closed; a client that does not read its replies is dropped once
// kMaxQueuedReplyBytes are waiting. A bad client never stalls the loop or
// other clients. Owns its libuv handles; runs on the daemon's loop thread.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "otpsup/status.h"

namespace otpsup {

using ClientId = std::uint64_t;

class ControlServer {
 public:
  // Called once per complete, well-formed JSON request object.
  using RequestHandler = std::function<void(ClientId, const nlohmann::json& request)>;
  // Called when a client is gone (hung up, dropped, or closed by us).
  using DisconnectHandler = std::function<void(ClientId)>;

  static constexpr std::size_t kMaxQueuedReplyBytes = 8 << 20;
  // Replies longer than kDefaultSendBuffer grow the client's SO_SNDBUF to
  // their size, at most kMaxSendBuffer (grow_send_buffer).
  static constexpr std::size_t kDefaultSendBuffer = 200 << 10;
  static constexpr std::size_t kMaxSendBuffer = 4 << 20;

  ControlServer(uv_loop_t* loop, RequestHandler on_request, DisconnectHandler on_disconnect);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Creates the socket's directory (0700) if missing, refuses to start when
  // another daemon answers on `path`, removes a stale socket, binds (0600)
  // and listens.
  Status listen(const std::string& path);

  // Queues `message` + '\n' to the client. Unknown/closing clients: ignored.
  void send(ClientId client, const nlohmann::json& message);
  void send_line(ClientId client, std::string line);
  // Sends an error reply {"id":id,"ok":false,"error":{code,message}}.
  void send_error(ClientId client, const nlohmann::json& id, std::string_view code,
                  const std::string& message);
  // Flushes what is queued, then closes the connection.
  void close_after_flush(ClientId client);
  bool connected(ClientId client) const;

  // Stops listening, closes every client and removes the socket file. A
  // client still flushing (close_after_flush) gets up to kLingerMs more.
  void close();
  static constexpr unsigned kLingerMs = 2000;

 private:
  struct Client;
  struct WriteRequest;
  void on_connection();
  void on_read(Client& c, ssize_t nread, const uv_buf_t* buf);
  void drop(Client& c);
  void grow_send_buffer(Client& c, std::size_t reply_bytes);
  void close_handle(Client& c);  // uv_close; the Client is freed in the callback
  void stop_linger();
  static void alloc_cb(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);

  uv_loop_t* loop_;
  RequestHandler on_request_;
  DisconnectHandler on_disconnect_;
  std::unique_ptr<uv_pipe_t> listener_;
  std::string path_;
  ClientId next_id_ = 0;
  std::unordered_map<ClientId, std::unique_ptr<Client>> clients_;
  std::unique_ptr<uv_timer_t> linger_;  // see close()
  std::string read_buffer_;
};

}  // namespace otpsup
