// Daemon: the process shell around the pure supervisor core.
//
// It owns the libuv loop, the signal watchers (SIGCHLD, SIGTERM, SIGINT,
// SIGHUP), the one timer that serves every core deadline, the history writer
// and the control socket. It feeds events into the core and carries out the
// actions the core returns: fork/exec, kill(-pgid), timers, history records,
// replies. Nothing here polls: an idle daemon sleeps in epoll_wait with no
// timer armed.
//
// Threading: single-threaded; everything runs on the loop thread.
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/control_server.h"
#include "os/service_notify.h"
#include "otpsup/config.h"
#include "otpsup/history_filter.h"
#include "otpsup/history_writer.h"
#include "otpsup/supervisor.h"
#include "otpsup/unique_fd.h"

namespace otpsup {

// otpsupd's exit statuses (otpsupd(8), EXIT STATUS).
enum class DaemonExit : int {
  ok = 0,             // orderly shutdown
  config_error = 1,   // invalid configuration or command line (nothing started)
  startup_error = 2,  // cannot open the history log or the control socket
  gave_up = 3,        // the root supervisor exceeded its restart intensity
  boot_failed = 4,    // a child of the root could not be started at boot
};

struct DaemonOptions {
  Config config;
  std::string socket_path;
  std::string state_dir;
  bool foreground = false;
  int ready_fd = -1;         // background mode: "ok\n" or the error is written here once booted
  ServiceNotifier notifier;  // foreground mode: READY=1 once booted, STOPPING=1
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Opens the history and the socket, boots the tree and runs until the tree
  // is down. Returns the process exit status.
  DaemonExit run();

 private:
  struct PendingReply {
    ClientId client;
    nlohmann::json request_id;
    nlohmann::json extra;  // merged into the result of an ok reply
  };
  struct Follower {
    ClientId client;
    nlohmann::json request_id;
    HistoryFilter filter;
  };

  // Event sources.
  void on_sigchld();
  void on_stop_signal(int signum);
  void on_timer();
  void on_request(ClientId client, const nlohmann::json& request);
  void on_disconnect(ClientId client);

  // Carrying out the core's actions.
  void pump();
  void execute(Action& action);
  void start_child(const StartAction& a);
  void arm_timer(TimerId id, Duration after);
  void cancel_timer(TimerId id);
  void rearm_uv_timer();
  void record(const RecordAction& r);
  void append_history(nlohmann::ordered_json fields);
  void finish(const ExitAction& e);

  // Requests (requests.cpp).
  void handle_status(ClientId client, const nlohmann::json& req);
  void handle_history(ClientId client, const nlohmann::json& req);
  void handle_child_command(ClientId client, const nlohmann::json& req, const std::string& cmd);
  void handle_shutdown(ClientId client, const nlohmann::json& req);
  nlohmann::json status_tree(const std::string& only_path) const;

  // Paths (tree_paths.cpp): "counter1" -> "root/counter1".
  struct Resolved {
    std::string path;   // full path
    std::string child;  // empty: the root supervisor itself
  };
  std::optional<Resolved> resolve(ClientId client, const nlohmann::json& req);
  std::vector<std::string> all_paths() const;

  void begin_shutdown(const std::string& why);
  Status lock_state_dir();
  DaemonExit startup_failure(const std::string& message);
  TimePoint now() const { return Clock::now(); }
  std::string root_path() const { return "root"; }

  DaemonOptions options_;
  uv_loop_t loop_{};
  uv_signal_t sigchld_{}, sigterm_{}, sigint_{}, sighup_{};
  uv_timer_t timer_{};
  uv_check_t sync_check_{};
  std::unique_ptr<Supervisor> root_;
  UniqueFd state_lock_;
  std::unique_ptr<HistoryWriter> history_;
  std::unique_ptr<ControlServer> server_;

  std::multimap<TimePoint, TimerId> deadlines_;
  std::unordered_map<TimerId, std::multimap<TimePoint, TimerId>::iterator> timers_;
  std::unordered_map<CommandToken, PendingReply> pending_;
  CommandToken next_token_ = 0;
  std::vector<PendingReply> shutdown_waiters_;
  std::vector<Follower> followers_;
  TimePoint started_at_{};
  bool stopping_ = false;
  std::optional<DaemonExit> exit_;
};

}  // namespace otpsup
