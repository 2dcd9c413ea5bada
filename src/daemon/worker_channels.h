// WorkerChannels: the message channels of one supervisor's workers
// (DESIGN §5), with tracing built into the route.
//
// A worker with `channel = true` gets one end of a socketpair at fd 3
// (OTPSUP_CHANNEL_FD=3). Calls and casts from otpsupctl reach it through its
// supervisor, here: a call is sent as {"id":N,"call":NAME,"args":[...]} with
// an id of this supervisor's, and answered when {"id":N,"reply":V} or
// {"id":N,"error":E} comes back, when its timeout passes, or when the worker
// exits (the call fails with the exit reason). A reply after the timeout is
// dropped (and traced). Every message in or out is recorded in the child's
// trace ring (direction, time, kind, size, payload cut at 512 bytes) and
// counted. Garbage and over-long lines from a worker are traced and counted,
// and the channel stays up; a worker that does not read its channel makes
// calls fail (bounded queue), never blocks the supervisor.
//
// Threading: the supervisor's loop thread.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/line_channel.h"
#include "otpsup/supervisor.h"

namespace otpsup {

class WorkerChannels {
 public:
  using Reply = std::function<void(CommandToken, nlohmann::json)>;
  // A new trace entry of a followed child (see follow()).
  using TraceSink = std::function<void(const std::string& child, const nlohmann::json& entry)>;

  WorkerChannels(uv_loop_t* loop, std::string supervisor_path, Reply reply, TraceSink trace_sink);
  ~WorkerChannels();
  WorkerChannels(const WorkerChannels&) = delete;
  WorkerChannels& operator=(const WorkerChannels&) = delete;

  // Before spawning `child`: the socketpair; returns the worker's end (to
  // become its fd 3). Ours waits for attached() or abandoned().
  UniqueFd prepare(const std::string& child, int trace_size);
  void attached(const std::string& child);   // spawned: start reading
  void abandoned(const std::string& child);  // the spawn failed
  // The worker exited: read what it wrote, fail its calls, close.
  void exited(const std::string& child, const std::string& reason);
  void forget(const std::string& child);  // spec removed: drop its ring too

  // REQUIRES: has_channel(child) for call/cast.
  bool has_channel(const std::string& child) const;
  bool connected(const std::string& child) const;
  void call(CommandToken token, const std::string& child, const std::string& name,
            const nlohmann::json& args, Duration timeout);
  void cast(CommandToken token, const std::string& child, const std::string& name,
            const nlohmann::json& args);
  // The last `n` trace entries (0 = all) and the counters.
  nlohmann::json trace(const std::string& child, std::size_t n) const;
  // Followers of `child`'s trace: +1 / -1. While it has any, every new entry
  // also goes to the trace sink (live `trace -f`). Survives restarts of the
  // child.
  void follow(const std::string& child, int delta);
  void close();

 private:
  struct PendingCall {
    CommandToken token;
    std::string child;
    TimePoint deadline;
  };
  struct Channel {
    std::unique_ptr<LineChannel> line;
    bool open = false;
    std::deque<nlohmann::json> ring;
    std::size_t ring_size = 100;
    std::uint64_t in = 0, out = 0, garbage = 0, late = 0;
  };

  void on_message(const std::string& child, const nlohmann::json& m);
  void note(const std::string& child, Channel& c, const std::string& direction,
            const std::string& kind, const std::string& payload);
  void fail(std::uint64_t call_id, const std::string& code, const std::string& message);
  void on_timer();
  void rearm();

  uv_loop_t* loop_;
  std::string path_;
  Reply reply_;
  TraceSink trace_sink_;
  std::map<std::string, int> followers_;  // by child; only counts > 0
  std::map<std::string, Channel> channels_;
  std::map<std::uint64_t, PendingCall> calls_;  // by our message id
  std::uint64_t next_call_id_ = 0;
  std::unique_ptr<uv_timer_t> timer_;
};

}  // namespace otpsup
