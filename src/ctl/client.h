// The otpsupctl side of the control protocol (include/otpsup/protocol.h):
// one connection to otpsupd's Unix socket, newline-delimited JSON both ways.
//
// A Client owns its socket fd and closes it when destroyed; it is movable,
// not copyable, and meant for one thread. Errors are Status values whose
// message is ready to print after "otpsupctl: ".
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ctl/json_document.h"
#include "otpsup/status.h"
#include "otpsup/unique_fd.h"

namespace otpsup::ctl {

using Clock = std::chrono::steady_clock;
// When to give up waiting for the daemon; nullopt = wait as long as it takes.
using Deadline = std::optional<Clock::time_point>;

// While an InterruptScope is alive, SIGINT and SIGTERM no longer kill the
// process: they are blocked and delivered only while a Client waits for the
// daemon, which then returns Incoming::Kind::interrupted. The destructor
// restores the previous mask and dispositions. At most one at a time.
class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  // Waits until `fd` is readable (true) or SIGINT/SIGTERM arrives (false).
  // REQUIRES: an InterruptScope is alive.
  static bool wait_readable(int fd);
};

// One message read from the daemon, or why there is none.
struct Incoming {
  enum class Kind {
    message,      // `message` holds a JSON object whose "id" matched
    closed,       // the daemon closed the connection
    timed_out,    // the deadline passed first
    interrupted,  // SIGINT/SIGTERM arrived inside an InterruptScope
  };
  Kind kind = Kind::closed;
  nlohmann::ordered_json message;
};

class Client {
 public:
  Client() = default;

  // Connects to the stream socket at `socket_path`. On failure the message
  // reads "cannot connect to PATH: strerror". REQUIRES: not yet connected.
  Status connect(const std::string& socket_path);

  // Gives `request` the next request id (1, 2, ...) as its "id" member, sends
  // it as one line and stores the id in `*id`. REQUIRES: connected.
  Status send(nlohmann::ordered_json request, std::uint64_t* id);

  // Reads lines until one is a JSON object whose "id" equals `id`; lines that
  // are not JSON objects, or carry another id, are skipped. A non-ok Status
  // means the connection failed (read error, or an overlong line).
  Status receive(std::uint64_t id, Deadline deadline, Incoming* out);

  // send + receive, for the usual one request / one reply exchange. A closed
  // connection or a passed deadline is an error here; `timeout_text` names
  // the deadline in the message ("no reply from otpsupd within 10s").
  Status call(nlohmann::ordered_json request, Deadline deadline, const std::string& timeout_text,
              nlohmann::ordered_json* reply);
  // As call, but the reply is kept as its text with a JsonDocument over it
  // instead of an nlohmann tree: for large replies (`status`).
  Status call(nlohmann::ordered_json request, Deadline deadline, const std::string& timeout_text,
              JsonDocument* reply);

 private:
  // Reads one line (without '\n') into `*line`; same outcomes as receive.
  Status read_line(Deadline deadline, std::string* line, Incoming::Kind* kind);
  // Reads lines until one is a JSON object whose "id" equals `id` into
  // `*document`; *kind says why there is none.
  Status receive_document(std::uint64_t id, Deadline deadline, JsonDocument* document,
                          Incoming::Kind* kind);

  UniqueFd socket_;
  std::uint64_t next_id_ = 1;
  std::string buffer_;       // bytes received but not yet returned as lines
  std::size_t scanned_ = 0;  // buffer_[0, scanned_) holds no '\n'
  std::string socket_path_;
};

}  // namespace otpsup::ctl
