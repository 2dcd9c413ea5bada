// otpsup::worker::Server: the worker side of the message channel, a small
// GenServer-like loop for worker binaries (DESIGN.md §5).
//
// A worker declared with `channel = true` is started with one end of a
// connected socketpair at fd 3 and, in its environment, OTPSUP_CHANNEL_FD=3
// and OTPSUP_CHILD_PATH=root/... (its path in the tree). The protocol on that
// fd is newline-delimited JSON, one object per line:
//
//   call:  {"id":N,"call":"NAME","args":[...]}
//          -> {"id":N,"reply":VALUE}  or  {"id":N,"error":"MESSAGE"}
//   cast:  {"cast":"NAME","args":[...]}  -> no answer
//
// `args` may be omitted (an empty array); `id` is an integer, echoed as sent.
// Messages are handled strictly in arrival order, one at a time, on the
// thread that calls run(): a cast followed by a call is applied before the
// call is handled. Errors the loop itself answers with:
//   "unknown_message"  a call with no handler (also "$state" without on_state)
//   "bad_args"         `args` is not an array, or a handler threw a
//                      nlohmann::json exception (e.g. args[0].get<int>())
//   "internal_error"   a handler threw any other std::exception
// Anything else is logged on stderr and ignored, and the worker keeps going:
// a line that is not JSON or not an object, a call without an integer id, a
// message with neither (or both) "call" and "cast", an unknown cast, a cast
// whose args are not an array or whose handler threw. Blank lines are
// skipped silently. A line longer than kMaxLineBytes is dropped up to its
// newline with a note on stderr; the input buffer never grows past that.
//
// The loop waits in poll(2) on the channel and a self-pipe fed by the
// SIGTERM/SIGINT handlers, with a timeout only while a timer is registered:
// an idle worker without timers has zero wake-ups. Replies are queued and
// written without blocking (partial writes and EAGAIN are retried when the
// socket has room); while more than kMaxPendingOutputBytes wait, no more
// input is read, so a peer that does not read cannot grow the worker's
// memory without bound.
//
// run() ends, always after a best-effort flush of queued replies (at most
// kFlushTimeout):
//   - on SIGTERM or SIGINT: returns 0 (stop_signal() tells which);
//   - when the supervisor closes the channel (EOF, or the peer is gone on
//     write): returns 0, after handling every message received before EOF
//     (a last line without '\n' included);
//   - when a handler calls exit(code): returns `code`, once that handler has
//     returned (its own reply is still sent; later messages are not handled).
//
// A handler's exceptions are answered as above; an exception thrown by a
// timer or the ready hook propagates out of run() (a bug in the worker).
//
// Threading: a Server is used by one thread. Handlers run on the thread of
// run() and may call exit(); no method may be called from another thread
// while run() is active. Only one Server that handles signals may be in
// run() at a time in a process (the handlers are process-wide).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "otpsup/unique_fd.h"

namespace otpsup::worker {

using Duration = std::chrono::milliseconds;

// A message's arguments: always a JSON array (empty when omitted).
using Args = nlohmann::json;

// Returned by a call handler to answer {"id":N,"error":message}. Use short
// snake_case codes, e.g. "bad_args", "overflow".
struct CallError {
  std::string message;
};

// What a call handler answers: a reply value or an error.
using CallResult = std::variant<nlohmann::json, CallError>;

using CallHandler = std::function<CallResult(const Args&)>;
using CastHandler = std::function<void(const Args&)>;

// The name of the reserved call answered by on_state's handler.
inline constexpr const char* kStateCall = "$state";

// Longest line accepted on the channel, excluding its '\n' (1 MiB).
inline constexpr std::size_t kMaxLineBytes = std::size_t{1} << 20;
// Input is not read while more reply bytes than this wait to be written.
inline constexpr std::size_t kMaxPendingOutputBytes = std::size_t{1} << 20;
// How long run() tries to deliver queued replies before it returns.
inline constexpr Duration kFlushTimeout{1000};

class Server {
 public:
  // The worker as its supervisor starts it: the channel is the fd named by
  // $OTPSUP_CHANNEL_FD (none when unset; an invalid value is reported on
  // stderr and ignored), and run() handles SIGTERM and SIGINT: it installs
  // its handlers and unblocks both signals in the calling thread for its
  // duration, then restores the previous dispositions and mask. `name` (and
  // $OTPSUP_CHILD_PATH when set) prefix the worker's stderr lines.
  explicit Server(std::string name);

  // For tests and embedding: takes ownership of `channel` (a connected
  // stream socket; empty = no channel) and leaves signal dispositions alone.
  Server(std::string name, UniqueFd channel);

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  // Registers the handler of call `name` (replacing an earlier one).
  void on_call(std::string name, CallHandler handler);
  // Registers the handler of cast `name` (replacing an earlier one).
  void on_cast(std::string name, CastHandler handler);
  // Answers the reserved call "$state" with what `state` returns.
  void on_state(std::function<nlohmann::json()> state);
  // Calls `tick` every `every` after run() starts, drift-free; ticks missed
  // while the process could not run are skipped, not replayed in a burst.
  // May be called several times (independent timers). REQUIRES: every > 0.
  void on_tick(Duration every, std::function<void()> tick);
  // Calls `fire` once, `delay` after run() starts (e.g. --crash-after).
  // REQUIRES: delay >= 0.
  void after(Duration delay, std::function<void()> fire);
  // Called once by run() when the loop is set up (signal handlers in place),
  // before any message or timer is handled: the worker is ready. run() then
  // sends READY=1 to $NOTIFY_SOCKET when it is set (ready = "notify"), and a
  // Server made with the one-argument constructor sends WATCHDOG=1 every
  // half $WATCHDOG_USEC (see otpsup/sd_notify.h).
  void on_ready(std::function<void()> ready);

  // Runs the loop until one of the ends listed above; returns the exit code
  // for main. Meant to be called once per Server. REQUIRES: not running.
  int run();
  // Ends run() with `code` once the current handler returns. The first
  // call wins. REQUIRES: called on the thread of run() (from a handler).
  void exit(int code);

  // True when the Server has a channel (false once it has been closed).
  bool has_channel() const { return static_cast<bool>(channel_); }
  // The signal that ended run() (SIGTERM or SIGINT), or 0.
  int stop_signal() const { return stop_signal_; }

 private:
  struct Timer {
    Duration delay;   // from the start of run() to the first firing
    Duration period;  // between firings; zero for a one-shot timer
    std::function<void()> fire;
    std::chrono::steady_clock::time_point next{};
    bool done = false;
  };

  void log(const std::string& text) const;
  void fire_due_timers();
  std::optional<std::chrono::steady_clock::time_point> next_deadline() const;
  void read_channel();
  void write_channel();
  void take_lines();
  void handle_line(std::string_view line);
  void handle_call(const nlohmann::json& id, const std::string& name, const nlohmann::json& args);
  void handle_cast(const std::string& name, const nlohmann::json& args);
  void queue_reply(const nlohmann::json& id, const char* key, const nlohmann::json& value);
  void close_channel();
  void flush_output();
  bool stopping();  // also picks up a stop signal recorded by the handler

  std::string name_;
  std::string log_prefix_;
  UniqueFd channel_;
  bool handle_signals_ = false;
  std::map<std::string, CallHandler, std::less<>> calls_;
  std::map<std::string, CastHandler, std::less<>> casts_;
  std::vector<Timer> timers_;
  std::function<void()> ready_;

  std::string input_;        // bytes read, not yet handled
  std::size_t scanned_ = 0;  // input_[0, scanned_) holds no '\n'
  bool discarding_ = false;  // dropping an over-long line up to its '\n'
  std::string output_;       // replies not yet written
  std::size_t written_ = 0;  // output_[0, written_) already written
  bool running_ = false;
  bool input_closed_ = false;   // EOF (or reset) on the channel
  bool output_closed_ = false;  // the peer cannot take replies any more (EPIPE)
  std::optional<int> exit_code_;
  int stop_signal_ = 0;
};

}  // namespace otpsup::worker
