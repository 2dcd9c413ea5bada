// LineChannel: newline-delimited JSON over one end of a socketpair — the
// uplink between a supervisor and a node process it started.
//
// Receiving is event-driven on the loop (libuv watches the fd); drain() reads
// what is already queued synchronously, so a parent can take every message a
// node wrote before it exited ahead of that node's exit. Sending is
// synchronous (write, waiting for room with poll when the socket is full), so
// messages are in the socket, in order, when send() returns; both ends always
// read, so this cannot stall for long. Owns the fd and the libuv handle.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "otpsup/status.h"
#include "otpsup/unique_fd.h"

namespace otpsup {

class LineChannel {
 public:
  using MessageHandler = std::function<void(const nlohmann::json&)>;
  using ClosedHandler = std::function<void()>;
  // A line that is not a JSON object, or longer than max_line_bytes (then
  // dropped up to its newline): what was wrong and how many bytes.
  using GarbageHandler = std::function<void(const std::string& what, std::size_t bytes)>;

  // Takes ownership of `fd` (a connected stream socket).
  LineChannel(uv_loop_t* loop, UniqueFd fd, MessageHandler on_message, ClosedHandler on_closed);
  ~LineChannel();
  LineChannel(const LineChannel&) = delete;
  LineChannel& operator=(const LineChannel&) = delete;

  // Starts delivering messages from the loop.
  void start();
  // Delivers every complete message already readable, without waiting.
  void drain();
  // Writes `message` + '\n' completely, or fails (peer gone).
  Status send(const nlohmann::json& message);
  // Never blocks: writes what fits now and queues the rest on the loop; fails
  // when more than `max_queued` bytes would wait (a peer that does not read).
  Status send_nonblocking(const nlohmann::json& message, std::size_t max_queued);
  void set_max_line(std::size_t bytes) { max_line_ = bytes; }
  void on_garbage(GarbageHandler handler) { on_garbage_ = std::move(handler); }
  bool open() const { return open_; }
  // Stops reading and releases the fd; the handle is freed after the loop
  // has processed the close (the object may be destroyed right away).
  void close();

 private:
  struct Handle;
  void on_bytes(const char* data, std::size_t n);
  void closed_by_peer();

  std::unique_ptr<Handle> handle_;
  MessageHandler on_message_;
  ClosedHandler on_closed_;
  std::string inbox_;
  bool open_ = true;
  bool skipping_ = false;  // dropping the rest of an over-long line
  std::size_t max_line_ = 16u << 20;
  GarbageHandler on_garbage_;
};

}  // namespace otpsup
