// Supervisor: the pure state machine of one OTP supervisor.
//
// It makes no system calls. Events go in (boot, a child started or failed to
// start, a child exited, a timer fired, a command, shutdown), each with the
// current time; actions come out (start a child, signal a process group, arm
// or cancel a timer, record a history event, reply to a command, exit). The
// process shell (src/daemon) carries the actions out and feeds the results
// back as events; tests drive it with a fake clock and no processes.
//
// Semantics are Erlang/OTP's `supervisor` (see otpsupd(8) for the deviations):
//  * Work is serialised like OTP's gen_server: at most one operation (boot, a
//    restart, a manual stop, a give-up...) is in progress. A child exit that
//    does not belong to the operation, and every command, waits in a FIFO and
//    is handled when the operation ends — as EXIT messages wait in OTP's
//    mailbox. A child that dies while a group restart is terminating it is
//    absorbed into that restart (OTP's shutdown/2 consumes its EXIT).
//  * Terminations are sequential in reverse start order; starts in order.
//  * A failed start during a restart counts for intensity and is retried
//    through the event loop (ArmTimer with a zero delay), so commands and other
//    children are served between retries.
//  * Beyond OTP, off by default: a child with restart_delay has its restart
//    scheduled (ArmTimer, "restart_scheduled") instead of done at once, and
//    counted for intensity when the timer fires and the restart is attempted;
//    a group restart happens whole at the end of the delay. Stop, pause,
//    give-up and shutdown cancel it ("restart_cancelled"); a start of the
//    child by other means (start, restart, a group restart) supersedes it.
//  * OTP 24's significant children: with auto_shutdown, a significant child
//    that exits by itself (transient: normally; temporary: any exit) makes
//    the supervisor stop every child and exit normally ("auto_shutdown").
//  * Readiness (ChildSpec::ready): a worker that must say it is ready stays
//    `starting` after on_child_started (recorded "started", its pid known)
//    until on_child_ready ("ready"); the operation waits for it, so the next
//    sibling starts only then. start_timeout arms a timer: on expiry the child
//    gets SIGKILL and its exit is a failed start ("not ready within 5s"), as
//    is any exit before it was ready.
//  * Watchdog (ChildSpec::watchdog): once running, every on_child_watchdog
//    re-arms a deadline; on expiry the child gets SIGKILL and its exit is a
//    crash with the reason "watchdog timeout".
//
// Threading: none; one Supervisor is driven by one loop.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "otpsup/exit_status.h"
#include "otpsup/restart_intensity.h"
#include "otpsup/spec.h"

namespace otpsup {

using TimerId = std::uint64_t;
using CommandToken = std::uint64_t;

// ---- Actions (outputs) ----

// Spawn child `id` (spec from Supervisor::find(id)). REQUIRES: the shell
// answers with on_child_started or on_child_start_failed before any other event.
struct StartAction {
  std::string id;
};
// kill(-pid, signal): signal the child's whole process group.
struct SignalAction {
  int pid = 0;
  int signal = 0;
  bool stop = false;  // part of a stop this supervisor decided (not `kill`)
};
struct ArmTimerAction {
  TimerId timer = 0;
  Duration after{0};
};
struct CancelTimerAction {
  TimerId timer = 0;
};
// A history event about this supervisor (child empty) or one of its children.
struct RecordAction {
  std::string event;  // started, exited, restarted, start_failed, stopped, manual_restart,
                      // paused, resumed, gave_up, removed, restart_scheduled,
                      // restart_cancelled, auto_shutdown, frozen, thawed
  std::string child;
  int pid = 0;
  int old_pid = 0;
  int new_pid = 0;
  std::string reason;
  std::optional<ExitStatus> status;
  std::optional<Duration> delay;  // restart_scheduled: how long until the restart
};
// The answer to a command (sent after the command has been applied).
struct ReplyAction {
  CommandToken token = 0;
  bool ok = true;
  std::string error_code;  // protocol error code when !ok
  std::string message;
  int pid = 0;  // pid of the started child for start/restart/kill, else 0
};
// Every child of the first boot is up.
struct BootCompletedAction {};
// The supervisor is finished: every child is down. The shell exits the process
// (root) or reports to the parent (node).
struct ExitAction {
  enum class Kind { normal, gave_up, boot_failed };
  Kind kind = Kind::normal;
  std::string reason;
};

using Action = std::variant<StartAction, SignalAction, ArmTimerAction, CancelTimerAction,
                            RecordAction, ReplyAction, BootCompletedAction, ExitAction>;

// ---- Commands (inputs from the control socket) ----
struct Command {
  enum class Kind {
    start,
    stop,
    restart,
    remove,
    kill,
    pause,
    pause_stop,
    resume,
    add,
    reconfigure,
    freeze,  // SIGSTOP to a running child's group (not pause: the policy is untouched)
    thaw,    // SIGCONT to a frozen child's group; a no-op for a child not frozen
  };
  Kind kind = Kind::start;
  std::string child;  // empty for pause/resume (the supervisor itself)
  int signal = 15;    // kill only
  CommandToken token = 0;
  std::optional<ChildSpec> spec;  // add only: the new child (goes last in start order)
  // reconfigure only (live reload): the supervisor's new spec. Children that
  // left it stop and are deleted, children whose spec changed restart with the
  // new one, new children start in their place in start order, untouched
  // children are not disturbed; policy (strategy, intensity, period) is
  // updated in place. Children added at run time are kept.
  std::optional<SupervisorSpec> new_spec;
};

// The exit status of a node process whose supervisor gave up: its parent
// treats it as OTP's reason `shutdown` (a transient subtree that gave up is
// not restarted, a permanent one is).
inline constexpr int kSupervisorGaveUpExitCode = 3;

// ---- Observable child state ----
enum class ChildState { down, starting, running, stopping };
const char* to_string(ChildState s);

struct Child {
  ChildSpec spec;
  ChildState state = ChildState::down;
  int pid = 0;
  int last_pid = 0;
  std::optional<ExitStatus> last_exit;
  TimePoint started_at{};
  int restarts = 0;                // automatic restarts of this child
  bool stopped_by_hand = false;    // `stop`: not restarted by one_for_one
  bool stopped_by_pause = false;   // `pause --stop`: started again by resume
  bool died_while_paused = false;  // policy deferred to resume
  bool added = false;              // added at run time (`add`): `remove` stops and deletes it
  // reload: the spec it restarts with. On the heap, so a child without one
  // (nearly all) does not carry a second ChildSpec.
  std::unique_ptr<ChildSpec> pending_spec;
  std::optional<TimerId> kill_timer;
  bool frozen = false;  // `freeze` sent SIGSTOP; cleared by thaw or its exit
  // restart_delay: a restart is scheduled (the child is down, "restarting").
  std::optional<TimerId> restart_timer;
  TimePoint restart_at{};
  std::string restart_reason;             // why it is restarted, for the "restarted" record
  int backoff_level = 0;                  // k in restart_delay * 2^k
  std::optional<TimerId> start_timer;     // readiness deadline (start_timeout)
  std::optional<TimerId> watchdog_timer;  // WATCHDOG=1 deadline
  bool start_timed_out = false;           // killed for not being ready in time
  bool watchdog_expired = false;          // killed by the watchdog
};

// Returns a number in [0, 1): the jitter of restart delays (±10%).
using JitterSource = std::function<double()>;

class Supervisor {
 public:
  // REQUIRES: spec is valid (config validation has run).
  explicit Supervisor(SupervisorSpec spec);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // ---- Events ----
  void boot(TimePoint now);
  void on_child_started(const std::string& id, int pid, TimePoint now);
  // `pid`: the process when it had been spawned (readiness: it exited before
  // it was ready), recorded with the start_failed; 0 when it never ran.
  void on_child_start_failed(const std::string& id, const std::string& reason, TimePoint now,
                             int pid = 0);
  // `pid` need not be ours (an adopted orphan): unknown pids are ignored and
  // false is returned.
  bool on_child_exited(int pid, ExitStatus status, TimePoint now);
  // The process `pid` (a child of ours, spawned and `starting`) says it is
  // ready (READY=1, or a newline on its ready fd). Ignored (false) for an
  // unknown pid or a child that is not starting (already ready, exited).
  bool on_child_ready(int pid, TimePoint now);
  // WATCHDOG=1 from `pid`: re-arms its watchdog deadline. Ignored (false)
  // unless the child is running with a watchdog.
  bool on_child_watchdog(int pid, TimePoint now);
  void on_timer(TimerId timer, TimePoint now);
  void on_command(const Command& command, TimePoint now);
  // Orderly shutdown: pre-empts any operation; children stop in reverse start
  // order; ends with ExitAction{normal}. Pending commands are refused.
  void shutdown(TimePoint now);

  // Moves the actions produced so far out, in order.
  std::vector<Action> take_actions();

  // Replaces the jitter source (default: a fixed-seed PRNG). The shell seeds
  // one from the OS; tests pass a constant.
  void set_jitter_source(JitterSource source) { jitter_ = std::move(source); }

  // ---- Queries ----
  // The supervisor's policy. Its `children` are not kept here (each spec
  // lives once, in its Child: see children()), so spec().children is empty.
  const SupervisorSpec& spec() const { return spec_; }
  const std::vector<std::unique_ptr<Child>>& children() const { return children_; }
  const Child* find(const std::string& id) const;
  const Child* find_by_pid(int pid) const {
    auto it = by_pid_.find(pid);
    return it == by_pid_.end() ? nullptr : it->second;
  }
  bool paused() const { return paused_; }
  bool finished() const { return finished_; }
  bool busy() const { return op_ != nullptr; }
  // True once the supervisor is on its way out (giving up, shutting down, or
  // a failed boot stopping what it started) or gone.
  bool ending() const;
  int restarts_in_period(TimePoint now) const { return intensity_.used(now); }
  const std::deque<TimePoint>& intensity_window() const { return intensity_.times(); }

 private:
  struct Operation;
  struct Deferred;

  Child* find_mutable(const std::string& id);
  template <typename A>
  void emit(A a) {
    actions_.emplace_back(std::in_place_type<A>, std::move(a));
  }
  void record(RecordAction r) { emit(std::move(r)); }
  void reply_ok(CommandToken token, int pid = 0);
  void reply_error(CommandToken token, std::string code, std::string message);

  void run(TimePoint now);
  void step_operation(TimePoint now);
  void finish_operation(TimePoint now);
  void handle_deferred(Deferred d, TimePoint now);

  void begin_operation(std::unique_ptr<Operation> op);
  void send_stop(Child& c);
  void on_stopped(Child& c, ExitStatus status);
  void arm_start_timer(Child& c);
  void arm_watchdog(Child& c);
  void cancel_child_timers(Child& c);
  bool on_child_timer(TimerId timer);
  void on_unexpected_exit(Child& c, ExitStatus status, TimePoint now);
  void apply_restart_policy(Child& c, const std::string& reason, TimePoint now);
  void restart_with_strategy(Child& failed, const std::string& reason, bool retry);
  void give_up(const std::string& reason);
  void refuse_pending_commands(std::string_view code, const std::string& why);
  void cancel_retry_timers();
  // restart_delay (backoff) and auto_shutdown (significant children).
  void schedule_restart(Child& c, const std::string& reason, TimePoint now);
  Duration next_restart_delay(Child& c);
  void cancel_scheduled_restart(Child& c, const std::string& why);  // why empty: no record
  void cancel_all_scheduled_restarts(const std::string& why);
  void delayed_restart(Child& c, TimePoint now);
  void significant_child_exited(const std::string& id, const std::string& how);
  void begin_shutdown(const std::string& cause, const std::string& exit_reason);
  void freeze_or_thaw(Child& c, const Command& cmd);
  void execute_command(const Command& cmd, TimePoint now);
  void resume(const Command& cmd, TimePoint now);
  void remove_child(const std::string& id);
  bool restart_wanted(const Child& c, const ExitStatus& status) const;
  bool is_normal_exit(const Child& c, const ExitStatus& status) const;
  std::vector<std::string> running_in_reverse(std::size_t from = 0) const;
  std::vector<std::string> alive_in_reverse() const;  // running, stopping or starting
  void add_child(const Command& cmd);
  void reconfigure(const Command& cmd);
  std::size_t index_of(const std::string& id) const;
  TimerId new_timer() { return ++last_timer_; }

  SupervisorSpec spec_;
  std::vector<std::unique_ptr<Child>> children_;  // start order
  std::unordered_map<std::string, Child*> by_id_;
  std::unordered_map<int, Child*> by_pid_;
  RestartIntensity intensity_;
  bool paused_ = false;
  bool finished_ = false;
  bool booted_ = false;
  std::unique_ptr<Operation> op_;
  std::deque<Deferred> deferred_;
  struct TimerPurpose {
    bool retry = false;  // true: retry a failed start; false: SIGKILL after shutdown timeout
    std::string child;
    bool delayed = false;  // retry: a restart scheduled by restart_delay
  };
  std::unordered_map<TimerId, TimerPurpose> timers_;
  // Readiness and watchdog deadlines: timer -> child id.
  std::unordered_map<TimerId, std::string> child_timers_;
  TimerId last_timer_ = 0;
  std::vector<Action> actions_;
  JitterSource jitter_;
};

}  // namespace otpsup
