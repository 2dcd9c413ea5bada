// Daemon: the root otpsupd process.
//
// It runs the root supervisor (a SupervisorNode, the same code as every node
// process) and adds what only the root has: the control socket, the history
// log (the single writer for the whole tree), the mirror of the tree that
// `status` reads, signals for orderly shutdown, readiness notification and
// the state-directory lock. Nothing here polls: an idle daemon sleeps in
// epoll_wait with no timer armed.
//
// Threading: single-threaded; everything runs on the loop thread.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/control_server.h"
#include "daemon/state_waiters.h"
#include "daemon/supervisor_node.h"
#include "os/pid_view.h"
#include "os/service_notify.h"
#include "otpsup/config.h"
#include "otpsup/history_filter.h"
#include "otpsup/history_writer.h"
#include "otpsup/tree_mirror.h"
#include "otpsup/unique_fd.h"

namespace otpsup {

// otpsupd's exit statuses (otpsupd(8), EXIT STATUS).
enum class DaemonExit : int {
  ok = 0,             // orderly shutdown
  config_error = 1,   // invalid configuration or command line (nothing started)
  startup_error = 2,  // cannot lock the state dir, open the history log or the socket
  gave_up = 3,        // the root supervisor exceeded its restart intensity
  boot_failed = 4,    // a child of the root could not be started at boot
};
static_assert(static_cast<int>(DaemonExit::gave_up) == kSupervisorGaveUpExitCode);

struct DaemonOptions {
  Config config;
  std::string socket_path;
  std::string state_dir;
  std::string config_path;  // -c FILE, read again by reload; empty: the built-in demo
  std::string self_exe;     // started again with --node for every sub-supervisor
  ConfigContext lookup;     // where `add` looks up commands (as the config does)
  bool foreground = false;
  int ready_fd = -1;  // background mode: "ok\n" or the error, once booted
  // --pid-namespace: ready_fd leads to the outer process, which relays to the
  // service manager; it stays open after "ok\n" to carry "stopping\n".
  bool ready_fd_relays_stopping = false;
  ServiceNotifier notifier;  // READY=1 once booted, STOPPING=1
  PidView pids;              // --pid-namespace: pids as seen outside (status, info, ping)
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
  // Where workers' output goes: STATE_DIR/logs, echoed in the foreground.
  OutputLogSettings log_settings() const;
  struct PendingReply {
    ClientId client;
    nlohmann::json request_id;
    nlohmann::json extra;       // merged into the result of an ok reply
    std::uint64_t fan_out = 0;  // a share of a fan-out (pause --recursive)
    // Instead of answering the client: continue with the reply (sandbox restart).
    std::function<void(const nlohmann::json& reply)> then;
  };
  struct FanOut {
    ClientId client;
    nlohmann::json request_id;
    int waiting = 0;
    nlohmann::json first_error;
    std::string target;                 // errors from supervisors below it that are
    std::vector<std::string> acted_on;  // down (not_running, shutting_down) are expected
    nlohmann::json result = nlohmann::json::object();  // sent with "supervisors" when done
  };
  struct Follower {
    ClientId client;
    nlohmann::json request_id;
    HistoryFilter filter;
  };
  // A client following a worker's trace (`trace -f`).
  struct TraceFollower {
    ClientId client;
    nlohmann::json request_id;
    std::string path;  // the worker
  };

  void on_stop_signal(int signum);
  void on_request(ClientId client, const nlohmann::json& request);
  // on_request once the request's members have the right types.
  void dispatch_request(ClientId client, const nlohmann::json& req, const std::string& cmd);
  void on_disconnect(ClientId client);

  // What the root supervisor produces.
  void on_record(nlohmann::ordered_json fields);
  void on_reply(CommandToken token, const nlohmann::json& reply);
  void on_booted();
  void on_orphan(int pid, const std::string& reason);
  // A live trace entry from the worker at `path`: to its followers.
  void on_trace(const std::string& path, const nlohmann::json& entry);
  void finish(const ExitAction& e);
  void append_history(nlohmann::ordered_json fields);
  // history_sync = batch: the group commit (daemon.cpp).
  void sync_history_soon();
  void sync_history();
  // --pid-namespace: the pids of a record as seen outside (see outside_pids_).
  void translate_record_pids(nlohmann::ordered_json* fields);

  // Requests (requests.cpp).
  void handle_status(ClientId client, const nlohmann::json& req);
  void handle_history(ClientId client, const nlohmann::json& req);
  void handle_tree_command(ClientId client, const nlohmann::json& req, const std::string& cmd);
  void handle_add(ClientId client, const nlohmann::json& req);
  // call, cast, state, trace: messages to a worker, routed to its supervisor.
  void handle_message(ClientId client, const nlohmann::json& req, const std::string& cmd);
  void handle_info(ClientId client, const nlohmann::json& req);
  // log PATH: where the worker's output log is, and its last lines.
  void handle_log(ClientId client, const nlohmann::json& req);
  void handle_stats(ClientId client, const nlohmann::json& req);
  void handle_shutdown(ClientId client, const nlohmann::json& req);
  // `wait PATH ready|down [timeout_ms]`: answered when the mirror shows it.
  void handle_wait(ClientId client, const nlohmann::json& req);
  // Live reload (SIGHUP: client 0, errors to stderr).
  void handle_reload(ClientId client, const nlohmann::json& req);
  // Sandboxes (sandboxes.cpp): copies of a configured subtree added under a
  // dynamic supervisor.
  void handle_sandbox(ClientId client, const nlohmann::json& req);
  // A sandbox ready to be added: every option checked, `under` resolved.
  struct SandboxPlan {
    std::string name;
    std::string under;  // the supervisor to add it to, e.g. root/demo_dynamic
    std::string template_name;
    SupervisorSpec spec;
    nlohmann::json kept_options;  // what `sandbox info` and a later restart use
  };
  struct SandboxRefusal {
    std::string code;  // protocol error code
    std::string message;
  };
  // Checks `options` (template, strategy, intensity, period, under) for a
  // sandbox `name` against the configuration and the mirror. Changes nothing.
  std::variant<SandboxPlan, SandboxRefusal> plan_sandbox(const std::string& name,
                                                         const nlohmann::json& options) const;
  void create_sandbox(ClientId client, const nlohmann::json& id, SandboxPlan plan, int restarts);
  void send_command(ClientId client, const nlohmann::json& id, nlohmann::json command,
                    nlohmann::json extra, std::uint64_t fan_out = 0);
  // Resolves req["path"] in the mirror; on failure sends the error itself.
  std::optional<std::string> resolve(ClientId client, const nlohmann::json& req);
  std::optional<std::string> resolve_or_root(ClientId client, const nlohmann::json& req);

  void begin_shutdown(const std::string& why);
  Status lock_state_dir();
  DaemonExit startup_failure(const std::string& message);
  void write_ready(const std::string& line);

  DaemonOptions options_;
  uv_loop_t loop_{};
  uv_signal_t sigterm_{}, sigint_{}, sighup_{};
  uv_prepare_t sync_before_poll_{};
  uv_timer_t sync_timer_{};  // a deferred group commit, see sync_history_soon()
  TimePoint last_sync_{};
  UniqueFd state_lock_;
  std::unique_ptr<HistoryWriter> history_;
  std::unique_ptr<ControlServer> server_;
  std::unique_ptr<SupervisorNode> root_;
  TreeMirror mirror_;
  std::unique_ptr<StateWaiters> waiters_;

  std::unordered_map<CommandToken, PendingReply> pending_;
  CommandToken next_token_ = 0;
  std::unordered_map<std::uint64_t, FanOut> fan_outs_;
  std::uint64_t next_fan_out_ = 0;
  std::vector<PendingReply> shutdown_waiters_;
  std::vector<Follower> followers_;
  std::vector<TraceFollower> trace_followers_;
  struct Sandbox {
    std::string path;  // root/demo_dynamic/ID
    std::string template_name;
    nlohmann::json options;  // strategy, intensity, period as given at create
  };
  std::map<std::string, Sandbox> sandboxes_;
  bool stopping_ = false;
  bool relay_stopping_ = false;  // "ok\n" went to the outer process (--pid-namespace)
  std::optional<DaemonExit> exit_;
  // --pid-namespace: inner pid -> pid outside, learnt while each process was
  // alive, for the records of its exit (written once it has been reaped).
  std::unordered_map<int, int> outside_pids_;
};

}  // namespace otpsup
