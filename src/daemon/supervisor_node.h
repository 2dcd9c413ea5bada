// SupervisorNode: one supervisor of the tree, run by the process it lives in —
// the same code in the root otpsupd and in every `otpsupd --node` process.
//
// It owns the pure core (Supervisor) and carries its actions out: fork/exec of
// workers, fork/exec of sub-supervisors as node processes linked by a
// socketpair uplink (fd 3 in the node), kill(-pgid) of process groups, one
// timer for every core deadline. It reaps with waitpid(-1, WNOHANG) on
// SIGCHLD; orphans of its tree re-parented to it (it is a subreaper) are
// killed after each SIGCHLD and when it exits. A sub-supervisor counts as started when its node
// reports that its own boot completed (OTP: a supervisor's start returns after its init). A worker
// with `ready` is started when it says so (ReadinessWatch: its READY=1 on this process's notify
// socket, or a newline on its ready fd); its WATCHDOG=1 pings and STATUS= text arrive the same way.
// Before a node's exit is handed to the core, every message the node wrote
// is read, so its records (its children's stops, its give-up) come first.
//
// Everything the node produces for the outside world — history records,
// command replies, supervisor state for the root's mirror — goes to Output;
// the root writes it to the history and to clients, a node sends it up its
// uplink. Commands arrive through route(), addressed by the path of the
// supervisor that owns them, and are forwarded down to the child node on the
// way when they are not for this one.
//
// Threading: single-threaded, on the process's libuv loop.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "daemon/child_outputs.h"
#include "daemon/line_channel.h"
#include "daemon/readiness_watch.h"
#include "daemon/worker_channels.h"
#include "otpsup/supervisor.h"

namespace otpsup {

using SpecLibrary = std::map<std::string, SupervisorSpec>;

class SupervisorNode {
 public:
  struct Output {
    // A history record: ordered fields without seq/ts/boot (the root adds them).
    std::function<void(nlohmann::ordered_json)> record;
    // The reply to a routed command: {"ok":true,"result":{...}} or
    // {"ok":false,"error":{"code":...,"message":...}}.
    std::function<void(CommandToken, nlohmann::json)> reply;
    // Supervisor state for the root's mirror: {"path","paused","restart_times_ns":[...],
    // "child_status":{"id":"STATUS= text",...}}.
    std::function<void(nlohmann::json)> state;
    std::function<void()> booted;
    std::function<void(const ExitAction&)> exited;
    // A process reaped here that is not a child of this supervisor (an
    // orphan re-parented to us as subreaper).
    // Nodes pass these up, so the root can name the process from its mirror.
    std::function<void(int pid, const std::string& reason)> orphan_reaped;
    // A live trace entry of a followed worker (`trace -f`), by its path.
    std::function<void(const std::string& path, const nlohmann::json& entry)> trace;
  };

  // REQUIRES: every supervisor child of `spec` (and below) is in `library`
  // (which need not hold `spec` itself: it is dropped from it).
  // `logs`: where workers' output goes; passed on to the nodes below.
  SupervisorNode(uv_loop_t* loop, std::string path, SupervisorSpec spec, SpecLibrary library,
                 std::string self_exe, OutputLogSettings logs, Output output);
  ~SupervisorNode();
  SupervisorNode(const SupervisorNode&) = delete;
  SupervisorNode& operator=(const SupervisorNode&) = delete;

  // Installs the SIGCHLD watcher and boots the children in order.
  void start();
  // Orderly shutdown of this subtree (reverse start order, depth-first).
  void shutdown();
  // A command addressed to the supervisor at command["owner"] (this one or
  // one below). Members: owner, kind, child, signal, token, spec (add).
  void route(const nlohmann::json& command);
  // Closes the libuv handles (after `exited`).
  void close();

  const std::string& path() const { return path_; }
  const Supervisor& core() const { return *core_; }

 private:
  struct NodeLink {
    int pid = 0;
    bool booted = false;
    std::string boot_failure;
    std::unique_ptr<LineChannel> uplink;
    std::set<CommandToken> routed;  // commands sent down, not yet answered
  };

  void on_sigchld();
  void reap();
  int reap_expected();
  void reap_any();
  void reaped_exit(int pid, int wait_status);
  void on_child_exited(int pid, ExitStatus status);
  // SIGKILLs (with their groups) the children of this process that are not
  // children of the tree: orphans it adopted as a subreaper.
  void kill_adopted_orphans();
  void sweep_soon();
  void sweep();
  void on_timer();
  void pump();
  void execute(Action& action);
  void start_child(const std::string& id);
  void start_worker(const Child& child);
  void start_node(const Child& child);
  void on_node_message(const std::string& id, const nlohmann::json& message);
  void forget_node(std::string id, const std::string& why);
  void arm_timer(TimerId id, Duration after);
  void cancel_timer(TimerId id);
  void rearm_uv_timer();
  void publish_state();
  // publish_state() once, just before the loop waits for events again: a
  // burst of exits and restarts (one pump each) publishes once per turn,
  // not once per child.
  void publish_state_soon();
  void forget_own_spec();
  // Readiness: the child (our pid) a notify sender belongs to, or 0.
  int child_of_sender(int sender) const;
  Status prepare_readiness(const ChildSpec& spec, ChildSpec* env_spec, ChildIo* io,
                           UniqueFd* ready_end);
  void reply_error(CommandToken token, const std::string& code, const std::string& message);
  // call, cast, trace, untrace: messages to a worker, handled here, not by
  // the core. `trace` with "follow": true also streams new entries (Output
  // trace) until an `untrace` for the same child (which gets no reply).
  bool route_message(const nlohmann::json& command);

  uv_loop_t* loop_;
  std::string path_;
  SpecLibrary library_;
  std::string self_exe_;
  OutputLogSettings log_settings_;
  Output out_;
  std::unique_ptr<Supervisor> core_;
  std::unique_ptr<WorkerChannels> channels_;
  std::unique_ptr<ChildOutputs> outputs_;
  std::unique_ptr<ReadinessWatch> readiness_;
  std::map<std::string, std::string> status_texts_;  // STATUS= of workers, by id
  uv_signal_t sigchld_{};
  uv_idle_t reap_more_{};     // active only while exits are left to reap
  uv_timer_t sweep_timer_{};  // a deferred sweep, see sweep_soon()
  uv_prepare_t publish_{};    // active only while a publish_state_soon() is due
  TimePoint next_sweep_{};
  // Reaping (see reap()): pids this supervisor stopped or SIGKILLed, reaped
  // by pid; SIGCHLDs caught since the last reap; a waitpid(-1) scan cut
  // short (scan_due_) or owed to the next sweep (rescan_due_).
  std::unordered_set<int> expected_exits_;
  int sigchld_caught_ = 0;
  bool scan_due_ = false;
  bool rescan_due_ = false;
  uv_timer_t timer_{};
  bool handles_open_ = false;
  std::multimap<TimePoint, TimerId> deadlines_;
  std::unordered_map<TimerId, std::multimap<TimePoint, TimerId>::iterator> timers_;
  std::unordered_map<std::string, NodeLink> nodes_;      // supervisor children, by id
  std::unordered_map<int, std::string> starting_nodes_;  // pid -> id until booted
  std::unordered_map<int, std::string> node_pids_;       // pid -> id of every node in nodes_
  nlohmann::json last_state_;
};

}  // namespace otpsup
