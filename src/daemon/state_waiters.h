// StateWaiters: the clients blocked in `otpsupctl wait PATH ready|down`.
//
// A waiter is satisfied when the root's mirror shows its node in the wanted
// state — `ready`: running (a worker with readiness once it said so, a
// supervisor once booted); `down`: down or stopped, or gone from the tree —
// and fails with the code `timeout` when its deadline passes first. The
// daemon calls check() after every change of the mirror. One uv timer serves
// every deadline; none is armed without a waiter that has one.
//
// Threading: the daemon's loop thread.
#pragma once

#include <uv.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/control_server.h"
#include "otpsup/spec.h"
#include "otpsup/tree_mirror.h"

namespace otpsup {

class StateWaiters {
 public:
  enum class Target { ready, down };
  // Sends one reply (a whole protocol message) to a client.
  using Send = std::function<void(ClientId, nlohmann::json)>;

  StateWaiters(uv_loop_t* loop, Send send);
  ~StateWaiters();
  StateWaiters(const StateWaiters&) = delete;
  StateWaiters& operator=(const StateWaiters&) = delete;

  // "ready" / "down", or nullopt.
  static std::optional<Target> parse_target(const std::string& text);
  // True when `path` is in `target` state in `mirror` now.
  static bool reached(const TreeMirror& mirror, const std::string& path, Target target);

  // Answers at once when the state is reached, else waits (timeout 0: no limit).
  void add(ClientId client, nlohmann::json request_id, std::string path, Target target,
           Duration timeout, const TreeMirror& mirror);
  void check(const TreeMirror& mirror);
  void drop(ClientId client);
  // Fails every waiter with `shutting_down` and closes the timer.
  void close();

 private:
  struct Waiter {
    ClientId client;
    nlohmann::json request_id;
    std::string path;
    Target target;
    std::optional<TimePoint> deadline;
  };
  void reply_ok(const Waiter& w);
  void on_timer();
  void rearm();

  uv_loop_t* loop_;
  Send send_;
  uv_timer_t* timer_ = nullptr;  // owned by libuv between init and close
  std::vector<Waiter> waiters_;
};

}  // namespace otpsup
