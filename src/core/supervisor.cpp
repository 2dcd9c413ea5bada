#include "otpsup/supervisor.h"

#include "otpsup/duration.h"
#include "otpsup/id_queue.h"

#include <algorithm>
#include <random>
#include <utility>

namespace otpsup {

namespace {
constexpr int kSigKill = 9;
constexpr int kSigCont = 18;
constexpr int kSigStop = 19;
constexpr double kJitter = 0.1;  // restart delays vary by ±10%
}  // namespace

const char* to_string(ChildState s) {
  switch (s) {
    case ChildState::down:
      return "down";
    case ChildState::starting:
      return "starting";
    case ChildState::running:
      return "running";
    case ChildState::stopping:
      return "stopping";
  }
  return "?";
}

// One serialised unit of work: first the stops (already in the order they
// must happen), then the starts (in start order).
struct Supervisor::Operation {
  enum class Kind {
    boot,
    restart,  // automatic: policy after a crash, or a retry after a failed start
    manual_start,
    manual_stop,
    manual_restart,
    reconfigure,
    pause_stop,
    resume,
    give_up,
    shutdown,
  };
  Kind kind;
  IdQueue to_stop;
  std::deque<std::string> to_start;
  std::string waiting;     // the child being stopped or started; empty: not waiting
  std::string stop_cause;  // reason recorded with each "stopped"
  std::string trigger;     // the child whose exit caused this restart
  std::string trigger_reason;
  std::optional<CommandToken> token;
  int reply_pid = 0;
  std::string failed_start;  // a start of this child failed: restart/resume retry it
  std::string failure;       // boot failure / give-up reason, for the ExitAction
  std::string exit_reason;   // shutdown: the ExitAction's reason (default "shutdown")
  std::string remove_after;  // manual_stop of an added child: delete its spec once down
  bool remove_after_failed_start = false;        // `add` whose start failed: forget the child
  std::vector<std::string> remove_after_reload;  // reconfigure: children that left the config

  explicit Operation(Kind k) : kind(k) {}
  bool ends_supervisor() const { return kind == Kind::give_up || kind == Kind::shutdown; }
};

// Work that waits for the current operation to end (OTP's mailbox).
struct Supervisor::Deferred {
  // delayed_restart: a restart_delay timer fired; significant_exit: a
  // temporary significant child exited by itself (auto_shutdown).
  enum class Kind { exit, retry, command, delayed_restart, significant_exit };
  Kind kind;
  std::string child;
  int pid = 0;  // exit: the pid that exited (stale if the child was restarted since)
  ExitStatus status;
  Command command;
  TimerId timer = 0;   // delayed_restart: the timer that fired
  std::string reason;  // exit: why it died when not just its status ("watchdog timeout")
};

Supervisor::Supervisor(SupervisorSpec spec)
    : spec_(std::move(spec)), intensity_(spec_.intensity, spec_.period) {
  jitter_ = [rng = std::minstd_rand(1)]() mutable {
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  };
  // Each spec moves into its Child: one copy per child, not two.
  children_.reserve(spec_.children.size());
  by_id_.reserve(spec_.children.size());
  for (ChildSpec& cs : spec_.children) {
    auto child = std::make_unique<Child>();
    child->spec = std::move(cs);
    by_id_[child->spec.id] = child.get();
    children_.push_back(std::move(child));
  }
  std::vector<ChildSpec>().swap(spec_.children);  // (clear() would keep the capacity)
}

Supervisor::~Supervisor() = default;

std::vector<Action> Supervisor::take_actions() {
  return std::exchange(actions_, {});
}

const Child* Supervisor::find(const std::string& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

Child* Supervisor::find_mutable(const std::string& id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

std::size_t Supervisor::index_of(const std::string& id) const {
  for (std::size_t i = 0; i < children_.size(); ++i) {
    if (children_[i]->spec.id == id) return i;
  }
  return children_.size();
}

std::vector<std::string> Supervisor::running_in_reverse(std::size_t from) const {
  std::vector<std::string> ids;
  for (std::size_t i = children_.size(); i-- > from;) {
    const Child& c = *children_[i];
    if (c.state == ChildState::running || c.state == ChildState::stopping) ids.push_back(c.spec.id);
  }
  return ids;
}

std::vector<std::string> Supervisor::alive_in_reverse() const {
  std::vector<std::string> ids;
  for (std::size_t i = children_.size(); i-- > 0;) {
    if (children_[i]->state != ChildState::down) ids.push_back(children_[i]->spec.id);
  }
  return ids;
}

void Supervisor::reply_ok(CommandToken token, int pid) {
  emit(ReplyAction{token, true, "", "", pid});
}

void Supervisor::reply_error(CommandToken token, std::string code, std::string message) {
  emit(ReplyAction{token, false, std::move(code), std::move(message), 0});
}

bool Supervisor::is_normal_exit(const Child& c, const ExitStatus& status) const {
  if (status.signaled) return false;
  if (c.spec.is_supervisor && status.value == kSupervisorGaveUpExitCode) return true;
  const auto& codes = c.spec.normal_exit_codes;
  return std::find(codes.begin(), codes.end(), status.value) != codes.end();
}

bool Supervisor::restart_wanted(const Child& c, const ExitStatus& status) const {
  switch (c.spec.restart) {
    case RestartType::permanent:
      return true;
    case RestartType::transient:
      return !is_normal_exit(c, status);
    case RestartType::temporary:
      return false;
  }
  return false;
}

// ---------------------------------------------------------------- events --

void Supervisor::boot(TimePoint now) {
  auto op = std::make_unique<Operation>(Operation::Kind::boot);
  for (const auto& c : children_) op->to_start.push_back(c->spec.id);
  begin_operation(std::move(op));
  run(now);
}

void Supervisor::on_child_started(const std::string& id, int pid, TimePoint now) {
  Child* c = find_mutable(id);
  if (c == nullptr || c->state != ChildState::starting || !op_) return;
  const bool was_pause_stopped = c->stopped_by_pause;
  // A child with readiness stays `starting`, and the operation waits, until it
  // is ready — unless the supervisor is ending, which stops it at once.
  const bool awaits_ready =
      c->spec.ready != ReadyKind::none && !c->spec.is_supervisor && !op_->ends_supervisor();
  c->state = awaits_ready ? ChildState::starting : ChildState::running;
  c->pid = pid;
  c->started_at = now;
  c->stopped_by_hand = false;
  c->stopped_by_pause = false;
  c->died_while_paused = false;
  c->frozen = false;
  cancel_scheduled_restart(*c, "");  // started by someone else first (a group, `start`)
  by_pid_[pid] = c;
  if (op_->waiting == id && !awaits_ready) op_->waiting.clear();
  if (op_->kind == Operation::Kind::manual_start || op_->kind == Operation::Kind::manual_restart) {
    op_->reply_pid = pid;
  }

  RecordAction r{.event = "started", .child = id, .pid = pid};
  if (op_->kind == Operation::Kind::reconfigure) r.reason = "reload";
  switch (op_->kind) {
    case Operation::Kind::manual_restart:
      r = {.event = "manual_restart", .child = id, .old_pid = c->last_pid, .new_pid = pid};
      break;
    case Operation::Kind::restart:
    case Operation::Kind::resume:
      if (op_->kind == Operation::Kind::resume && was_pause_stopped) {
        r.reason = "resumed";
        break;
      }
      c->restarts++;
      r = {.event = "restarted", .child = id, .old_pid = c->last_pid, .new_pid = pid};
      r.reason = id == op_->trigger ? op_->trigger_reason
                                    : std::string(to_string(spec_.strategy)) + ": " + op_->trigger +
                                          " " + op_->trigger_reason;
      break;
    case Operation::Kind::give_up:
    case Operation::Kind::shutdown:
      // Started just as the supervisor began to end (readiness): stop it too.
      op_->to_stop.push_front(id);
      break;
    default:
      break;
  }
  record(std::move(r));
  if (awaits_ready) {
    arm_start_timer(*c);
  } else {
    arm_watchdog(*c);
  }
  run(now);
}

bool Supervisor::on_child_ready(int pid, TimePoint now) {
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end() || it->second->state != ChildState::starting) return false;
  Child& c = *it->second;
  cancel_child_timers(c);
  c.state = ChildState::running;
  record({.event = "ready", .child = c.spec.id, .pid = pid});
  arm_watchdog(c);
  if (op_ && op_->waiting == c.spec.id) op_->waiting.clear();
  run(now);
  return true;
}

bool Supervisor::on_child_watchdog(int pid, TimePoint /*now*/) {
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) return false;
  Child& c = *it->second;
  if (c.state != ChildState::running || !c.watchdog_timer) return false;
  emit(ArmTimerAction{*c.watchdog_timer, c.spec.watchdog});  // re-arms the same timer
  return true;
}

void Supervisor::arm_start_timer(Child& c) {
  if (c.spec.start_timeout.count() <= 0) return;  // no limit
  const TimerId t = new_timer();
  child_timers_[t] = c.spec.id;
  c.start_timer = t;
  emit(ArmTimerAction{t, c.spec.start_timeout});
}

void Supervisor::arm_watchdog(Child& c) {
  if (c.spec.watchdog.count() <= 0 || c.spec.is_supervisor) return;
  const TimerId t = new_timer();
  child_timers_[t] = c.spec.id;
  c.watchdog_timer = t;
  emit(ArmTimerAction{t, c.spec.watchdog});
}

void Supervisor::cancel_child_timers(Child& c) {
  for (std::optional<TimerId>* t : {&c.start_timer, &c.watchdog_timer}) {
    if (!*t) continue;
    emit(CancelTimerAction{**t});
    child_timers_.erase(**t);
    t->reset();
  }
}

// A readiness or watchdog deadline passed: SIGKILL; the exit then tells why.
bool Supervisor::on_child_timer(TimerId timer) {
  auto it = child_timers_.find(timer);
  if (it == child_timers_.end()) return false;
  Child* c = find_mutable(it->second);
  child_timers_.erase(it);
  if (c == nullptr || c->pid == 0) return true;
  if (c->start_timer == timer && c->state == ChildState::starting) {
    c->start_timer.reset();
    c->start_timed_out = true;
    emit(SignalAction{c->pid, kSigKill});
  } else if (c->watchdog_timer == timer && c->state == ChildState::running) {
    c->watchdog_timer.reset();
    c->watchdog_expired = true;
    emit(SignalAction{c->pid, kSigKill});
  }
  return true;
}

void Supervisor::on_child_start_failed(const std::string& id, const std::string& reason,
                                       TimePoint now, int pid) {
  Child* c = find_mutable(id);
  if (c == nullptr || c->state != ChildState::starting) return;
  c->state = ChildState::down;
  if (!op_ || op_->waiting != id) {  // the operation that started it was pre-empted
    record({.event = "start_failed", .child = id, .pid = pid, .reason = reason});
    run(now);
    return;
  }
  op_->waiting.clear();
  record({.event = "start_failed", .child = id, .pid = pid, .reason = reason});

  Operation& op = *op_;
  switch (op.kind) {
    case Operation::Kind::boot: {
      op.failure = "child " + id + " failed to start: " + reason;
      op.to_start.clear();
      op.to_stop.clear();
      for (auto& started : running_in_reverse(0)) op.to_stop.push_back(started);
      op.stop_cause = "boot failed";
      break;
    }
    case Operation::Kind::manual_start:
    case Operation::Kind::manual_restart:
      if (op.token) reply_error(*op.token, "start_failed", id + ": " + reason);
      op.token.reset();
      op.to_start.clear();
      if (op.remove_after_failed_start) {
        remove_child(id);
        record({.event = "removed", .child = id, .reason = "could not be started"});
      }
      break;
    case Operation::Kind::restart:
    case Operation::Kind::resume:
      op.to_start.clear();
      op.failed_start = id;
      break;
    case Operation::Kind::reconfigure:
      break;  // recorded; the other children of the reload still start
    default:
      op.to_start.clear();
      break;
  }
  run(now);
}

bool Supervisor::on_child_exited(int pid, ExitStatus status, TimePoint now) {
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) return false;
  Child& c = *it->second;
  by_pid_.erase(it);
  if (c.kill_timer) {
    emit(CancelTimerAction{*c.kill_timer});
    timers_.erase(*c.kill_timer);
    c.kill_timer.reset();
  }
  cancel_child_timers(c);
  c.last_pid = c.pid;
  c.pid = 0;
  c.last_exit = status;
  c.frozen = false;
  if (c.state == ChildState::starting) {
    // Spawned but never ready: a failed start.
    const std::string why = c.start_timed_out
                                ? "not ready within " + format_duration(c.spec.start_timeout)
                                : describe(status) + " before it was ready";
    c.start_timed_out = false;
    on_child_start_failed(c.spec.id, why, now, c.last_pid);
    return true;
  }
  if (c.state == ChildState::stopping) {
    c.state = ChildState::down;
    on_stopped(c, status);
  } else {
    c.state = ChildState::down;
    on_unexpected_exit(c, status, now);
  }
  run(now);
  return true;
}

// A child this supervisor was stopping is down. Never triggers the policy.
void Supervisor::on_stopped(Child& c, ExitStatus status) {
  const std::string id = c.spec.id;
  record({.event = "stopped",
          .child = id,
          .pid = c.last_pid,
          .reason = op_ ? op_->stop_cause : "stopped",
          .status = status});
  bool keep_temporary = false;
  if (op_) {
    if (op_->waiting == id) op_->waiting.clear();
    op_->to_stop.erase(id);
    keep_temporary =
        op_->kind == Operation::Kind::pause_stop || op_->kind == Operation::Kind::manual_restart;
  }
  // OTP deletes a temporary child's spec whenever it terminates.
  if (c.spec.restart == RestartType::temporary && !keep_temporary) {
    remove_child(id);
    record({.event = "removed", .child = id, .reason = "temporary child terminated"});
  }
}

// A child died on its own (or from someone else's signal).
void Supervisor::on_unexpected_exit(Child& c, ExitStatus status, TimePoint now) {
  const std::string id = c.spec.id;
  // Up long enough: the next delayed restart starts again from restart_delay.
  if (now - c.started_at >= c.spec.backoff_reset) c.backoff_level = 0;
  const bool gave_up =
      c.spec.is_supervisor && !status.signaled && status.value == kSupervisorGaveUpExitCode;
  const std::string why = c.watchdog_expired ? "watchdog timeout" : "";
  c.watchdog_expired = false;
  record({.event = "exited",
          .child = id,
          .pid = c.last_pid,
          .reason = gave_up       ? "supervisor gave up (shutdown)"
                    : why.empty() ? describe(status)
                                  : why,
          .status = status});
  bool absorbed = false;
  if (op_) {
    // Dying while a group restart (or the end of the supervisor) was about to
    // terminate it: part of that operation, as OTP's shutdown/2 consumes it.
    absorbed = op_->to_stop.erase(id);
    absorbed = absorbed || op_->ends_supervisor();
    // Died while `pause --stop` was stopping it: resume must apply the policy.
    if (absorbed && op_->kind == Operation::Kind::pause_stop) {
      c.died_while_paused = restart_wanted(c, status);
    }
  }
  if (c.spec.restart == RestartType::temporary) {
    // OTP: any exit of a temporary significant child counts (when not caused
    // by its supervisor); handled in turn, like the exit message it is.
    if (c.spec.significant && !absorbed && !finished_) {
      deferred_.push_back({.kind = Deferred::Kind::significant_exit,
                           .child = id,
                           .pid = c.last_pid,
                           .status = status,
                           .command = {}});
    }
    remove_child(id);
    record({.event = "removed", .child = id, .reason = "temporary child terminated"});
    return;
  }
  if (absorbed || finished_) return;
  deferred_.push_back({.kind = Deferred::Kind::exit,
                       .child = id,
                       .pid = c.last_pid,
                       .status = status,
                       .command = {},
                       .reason = why});
}

void Supervisor::on_timer(TimerId timer, TimePoint now) {
  if (on_child_timer(timer)) {
    run(now);
    return;
  }
  auto it = timers_.find(timer);
  if (it == timers_.end()) return;
  TimerPurpose purpose = std::move(it->second);
  timers_.erase(it);
  if (purpose.delayed) {
    deferred_.push_back(
        {.kind = Deferred::Kind::delayed_restart, .child = purpose.child, .timer = timer});
  } else if (purpose.retry) {
    deferred_.push_back({.kind = Deferred::Kind::retry, .child = purpose.child});
  } else if (Child* c = find_mutable(purpose.child);
             c != nullptr && c->state == ChildState::stopping && c->kill_timer == timer) {
    c->kill_timer.reset();
    emit(SignalAction{c->pid, kSigKill});
  }
  run(now);
}

bool Supervisor::ending() const {
  return finished_ || (op_ && (op_->ends_supervisor() || !op_->failure.empty()));
}

void Supervisor::on_command(const Command& command, TimePoint now) {
  if (ending()) {
    reply_error(command.token, "shutting_down", "the supervisor is shutting down");
    return;
  }
  deferred_.push_back({.kind = Deferred::Kind::command, .command = command});
  run(now);
}

void Supervisor::shutdown(TimePoint now) {
  if (ending()) return;
  begin_shutdown("shutdown", "shutdown");
  run(now);
}

// Stops every child in reverse start order, then ExitAction{normal,
// exit_reason}. Pre-empts the operation in progress.
void Supervisor::begin_shutdown(const std::string& cause, const std::string& exit_reason) {
  auto op = std::make_unique<Operation>(Operation::Kind::shutdown);
  op->stop_cause = cause;
  op->exit_reason = exit_reason;
  if (op_ && !op_->waiting.empty()) {
    const Child* w = find(op_->waiting);
    if (w != nullptr && w->state == ChildState::stopping) op->waiting = op_->waiting;
  }
  for (auto& id : alive_in_reverse()) {
    if (id != op->waiting) op->to_stop.push_back(id);
  }
  refuse_pending_commands("shutting_down", "the supervisor is shutting down");
  cancel_all_scheduled_restarts(cause);
  cancel_retry_timers();
  begin_operation(std::move(op));
}

// ------------------------------------------------------------ operations --

void Supervisor::begin_operation(std::unique_ptr<Operation> op) {
  if (op_ && op_->token) {
    reply_error(*op_->token, "shutting_down", "the supervisor is shutting down");
  }
  op_ = std::move(op);
}

// Drives the current operation until it waits for the outside world, then
// serves deferred work while idle. The only loop; never recursive.
void Supervisor::run(TimePoint now) {
  for (;;) {
    if (op_) {
      if (!op_->waiting.empty()) return;
      step_operation(now);
      continue;
    }
    if (finished_ || deferred_.empty()) return;
    Deferred d = std::move(deferred_.front());
    deferred_.pop_front();
    handle_deferred(std::move(d), now);
  }
}

void Supervisor::step_operation(TimePoint now) {
  Operation& op = *op_;
  while (std::optional<std::string> next = op.to_stop.pop_front()) {
    const std::string& id = *next;
    Child* c = find_mutable(id);
    if (c == nullptr) continue;
    if (c->state == ChildState::running) {
      if (op.kind == Operation::Kind::pause_stop) c->stopped_by_pause = true;
      send_stop(*c);
      op.waiting = id;
      return;
    }
    if (c->state == ChildState::starting && c->pid != 0) {
      send_stop(*c);  // spawned, not ready yet (readiness): stop it now
      op.waiting = id;
      return;
    }
    if (c->state == ChildState::stopping || c->state == ChildState::starting) {
      op.waiting = id;  // a starting child is stopped once it has started
      return;
    }
  }
  while (!op.to_start.empty()) {
    std::string id = std::move(op.to_start.front());
    op.to_start.pop_front();
    Child* c = find_mutable(id);
    if (c == nullptr || c->state != ChildState::down) continue;
    if (c->pending_spec) {
      c->spec = std::move(*c->pending_spec);
      c->pending_spec.reset();
    }
    c->state = ChildState::starting;
    op.waiting = id;
    emit(StartAction{id});
    return;
  }
  finish_operation(now);
}

void Supervisor::send_stop(Child& c) {
  cancel_child_timers(c);
  c.state = ChildState::stopping;
  switch (c.spec.shutdown.kind) {
    case Shutdown::Kind::brutal_kill:
      emit(SignalAction{c.pid, kSigKill, true});
      break;
    case Shutdown::Kind::timeout: {
      // SIGCONT first, so that a stopped child acts on the stop signal, and
      // nothing is sent after it: a SIGCONT arriving while the child exits
      // would cancel the SIGSTOP of a ptrace attach in its exit path (as
      // LeakSanitizer's), which then never ends.
      if (c.spec.shutdown.timeout.count() != 0) emit(SignalAction{c.pid, kSigCont});
      emit(SignalAction{c.pid, c.spec.shutdown.timeout.count() == 0 ? kSigKill : c.spec.stop_signal,
                        true});
      const TimerId t = new_timer();
      timers_[t] = {.retry = false, .child = c.spec.id};
      c.kill_timer = t;
      emit(ArmTimerAction{t, c.spec.shutdown.timeout});
      break;
    }
    case Shutdown::Kind::infinity:
      emit(SignalAction{c.pid, kSigCont});
      emit(SignalAction{c.pid, c.spec.stop_signal, true});
      break;
  }
}

void Supervisor::finish_operation(TimePoint now) {
  std::unique_ptr<Operation> op = std::move(op_);
  switch (op->kind) {
    case Operation::Kind::boot:
      if (!op->failure.empty()) {
        finished_ = true;
        emit(ExitAction{ExitAction::Kind::boot_failed, op->failure});
        return;
      }
      booted_ = true;
      emit(BootCompletedAction{});
      return;
    case Operation::Kind::give_up:
      finished_ = true;
      emit(ExitAction{ExitAction::Kind::gave_up, op->failure});
      return;
    case Operation::Kind::shutdown:
      finished_ = true;
      emit(ExitAction{ExitAction::Kind::normal,
                      op->exit_reason.empty() ? "shutdown" : op->exit_reason});
      return;
    default:
      break;
  }
  for (const std::string& id : op->remove_after_reload) {
    if (const Child* gone = find(id); gone && gone->state == ChildState::down) {
      remove_child(id);
      record({.event = "removed", .child = id, .reason = "reload: no longer in the configuration"});
    }
  }
  if (const Child* gone = find(op->remove_after); gone && gone->state == ChildState::down) {
    remove_child(op->remove_after);
    record({.event = "removed", .child = op->remove_after});
  }
  if (op->token) reply_ok(*op->token, op->reply_pid);
  if (!op->failed_start.empty()) {
    // A failed start during a restart counts for intensity and is retried
    // through the loop, so other work is served in between (OTP's
    // try_again_restart).
    const std::string& id = op->failed_start;
    if (Child* c = find_mutable(id); c != nullptr && c->spec.restart_delay.count() > 0) {
      schedule_restart(*c, "start failed, retrying", now);  // counted when attempted
      return;
    }
    if (!intensity_.add_restart(now)) {
      give_up("child " + id + " could not be restarted");
      return;
    }
    const TimerId t = new_timer();
    timers_[t] = {.retry = true, .child = id};
    emit(ArmTimerAction{t, Duration{0}});
  }
}

void Supervisor::handle_deferred(Deferred d, TimePoint now) {
  switch (d.kind) {
    case Deferred::Kind::exit: {
      Child* c = find_mutable(d.child);
      // Stale: restarted (or removed) since, e.g. by a group restart.
      if (c == nullptr || c->state != ChildState::down || c->last_pid != d.pid) return;
      if (!restart_wanted(*c, d.status)) {  // transient normal exit: stays down
        if (c->spec.significant) significant_child_exited(c->spec.id, describe(d.status));
        return;
      }
      apply_restart_policy(*c, d.reason.empty() ? describe(d.status) : d.reason, now);
      return;
    }
    case Deferred::Kind::significant_exit:
      significant_child_exited(d.child, describe(d.status));
      return;
    case Deferred::Kind::delayed_restart: {
      Child* c = find_mutable(d.child);
      if (c == nullptr || c->restart_timer != d.timer) return;  // cancelled or superseded
      c->restart_timer.reset();
      if (c->state != ChildState::down) return;
      delayed_restart(*c, now);
      return;
    }
    case Deferred::Kind::retry: {
      Child* c = find_mutable(d.child);
      if (c == nullptr || c->state != ChildState::down) return;
      if (paused_) {
        c->died_while_paused = true;
        return;
      }
      restart_with_strategy(*c, "start failed, retrying", true);
      return;
    }
    case Deferred::Kind::command:
      execute_command(d.command, now);
      return;
  }
}

void Supervisor::apply_restart_policy(Child& c, const std::string& reason, TimePoint now) {
  if (paused_) {
    c.died_while_paused = true;
    return;
  }
  if (c.spec.restart_delay.count() > 0) {
    schedule_restart(c, reason, now);  // counted for intensity when attempted
    return;
  }
  if (!intensity_.add_restart(now)) {
    give_up(c.spec.id + " " + reason);
    return;
  }
  restart_with_strategy(c, reason, false);
}

void Supervisor::restart_with_strategy(Child& failed, const std::string& reason, bool /*retry*/) {
  auto op = std::make_unique<Operation>(Operation::Kind::restart);
  op->trigger = failed.spec.id;
  op->trigger_reason = reason;
  op->stop_cause =
      std::string(to_string(spec_.strategy)) + " restart: " + failed.spec.id + " " + reason;
  std::size_t first_to_start = 0;
  switch (spec_.strategy) {
    case Strategy::one_for_one:
    case Strategy::dynamic:
      op->to_start.push_back(failed.spec.id);
      first_to_start = children_.size();
      break;
    case Strategy::one_for_all:
      for (auto& id : running_in_reverse(0)) op->to_stop.push_back(id);
      first_to_start = 0;
      break;
    case Strategy::rest_for_one: {
      const std::size_t idx = index_of(failed.spec.id);  // O(children), as the group is
      for (auto& id : running_in_reverse(idx + 1)) op->to_stop.push_back(id);
      first_to_start = idx;
      break;
    }
  }
  for (std::size_t i = first_to_start; i < children_.size(); ++i) {
    op->to_start.push_back(children_[i]->spec.id);
  }
  begin_operation(std::move(op));
}

void Supervisor::give_up(const std::string& reason) {
  const std::string why = "reached intensity " + std::to_string(spec_.intensity) + " in " +
                          format_duration(spec_.period) + ": " + reason;
  record({.event = "gave_up", .reason = why});
  if (op_ && op_->token) {
    reply_ok(*op_->token, op_->reply_pid);
    op_->token.reset();
  }
  refuse_pending_commands("shutting_down", "the supervisor gave up");
  cancel_all_scheduled_restarts("supervisor gave up");
  cancel_retry_timers();
  auto op = std::make_unique<Operation>(Operation::Kind::give_up);
  op->stop_cause = "supervisor gave up";
  op->failure = why;
  for (auto& id : alive_in_reverse()) op->to_stop.push_back(id);
  begin_operation(std::move(op));
}

void Supervisor::refuse_pending_commands(std::string_view code, const std::string& why) {
  for (const Deferred& d : deferred_) {
    if (d.kind == Deferred::Kind::command) reply_error(d.command.token, std::string(code), why);
  }
  deferred_.clear();
}

void Supervisor::cancel_retry_timers() {
  for (auto it = timers_.begin(); it != timers_.end();) {
    if (it->second.retry) {
      emit(CancelTimerAction{it->first});
      it = timers_.erase(it);
    } else {
      ++it;
    }
  }
}

void Supervisor::remove_child(const std::string& id) {
  const Child* child = find(id);
  if (child == nullptr) return;
  auto it = std::find_if(children_.begin(), children_.end(),
                         [&](const auto& c) { return c.get() == child; });
  cancel_scheduled_restart(**it, "");
  by_id_.erase(id);
  children_.erase(it);
}

// -------------------------------------------------------------- commands --

void Supervisor::execute_command(const Command& cmd, TimePoint now) {
  using K = Command::Kind;
  if (cmd.kind == K::pause || cmd.kind == K::pause_stop) {
    if (!paused_) {
      paused_ = true;
      record({.event = "paused", .reason = cmd.kind == K::pause_stop ? "with --stop" : ""});
      // A scheduled restart is policy too: it waits for resume.
      for (auto& child : children_) {
        if (!child->restart_timer) continue;
        cancel_scheduled_restart(*child, "paused: deferred to resume");
        child->died_while_paused = true;
      }
    }
    if (cmd.kind == K::pause) {
      reply_ok(cmd.token);
      return;
    }
    auto op = std::make_unique<Operation>(Operation::Kind::pause_stop);
    op->token = cmd.token;
    op->stop_cause = "paused with --stop";
    for (auto& id : running_in_reverse(0)) op->to_stop.push_back(id);
    begin_operation(std::move(op));
    return;
  }
  if (cmd.kind == K::resume) {
    resume(cmd, now);
    return;
  }
  if (cmd.kind == K::add) {
    add_child(cmd);
    return;
  }
  if (cmd.kind == K::reconfigure) {
    reconfigure(cmd);
    return;
  }

  Child* c = find_mutable(cmd.child);
  if (c == nullptr) {
    reply_error(cmd.token, "not_found", "no child '" + cmd.child + "' under '" + spec_.name + "'");
    return;
  }
  switch (cmd.kind) {
    case K::start: {
      if (c->state != ChildState::down) {
        reply_error(cmd.token, "already_running", cmd.child + " is already running");
        return;
      }
      auto op = std::make_unique<Operation>(Operation::Kind::manual_start);
      op->token = cmd.token;
      op->to_start.push_back(cmd.child);
      begin_operation(std::move(op));
      return;
    }
    case K::stop: {
      c->stopped_by_hand = true;
      cancel_scheduled_restart(*c, "manual stop");
      if (c->state == ChildState::down) {
        reply_ok(cmd.token);
        return;
      }
      auto op = std::make_unique<Operation>(Operation::Kind::manual_stop);
      op->token = cmd.token;
      op->stop_cause = "manual stop";
      op->to_stop.push_back(cmd.child);
      begin_operation(std::move(op));
      return;
    }
    case K::restart: {
      auto op = std::make_unique<Operation>(Operation::Kind::manual_restart);
      op->token = cmd.token;
      op->stop_cause = "manual restart";
      op->to_stop.push_back(cmd.child);
      op->to_start.push_back(cmd.child);
      begin_operation(std::move(op));
      return;
    }
    case K::remove:
      if (c->added && c->state != ChildState::down) {
        // A child added at run time is stopped and deleted in one go.
        c->stopped_by_hand = true;
        auto op = std::make_unique<Operation>(Operation::Kind::manual_stop);
        op->token = cmd.token;
        op->stop_cause = "removed";
        op->remove_after = cmd.child;
        op->to_stop.push_back(cmd.child);
        begin_operation(std::move(op));
        return;
      }
      if (c->state != ChildState::down) {
        reply_error(cmd.token, "running", cmd.child + " is running; stop it first");
        return;
      }
      remove_child(cmd.child);
      record({.event = "removed", .child = cmd.child});
      reply_ok(cmd.token);
      return;
    case K::kill:
      if (c->state != ChildState::running) {
        reply_error(cmd.token, "not_running", cmd.child + " is not running");
        return;
      }
      emit(SignalAction{c->pid, cmd.signal});
      emit(ReplyAction{cmd.token, true, "", "", c->pid});
      return;
    case K::freeze:
    case K::thaw:
      freeze_or_thaw(*c, cmd);
      return;
    default:
      return;
  }
}

// OTP's start_child: the new child goes last in start order and is started
// now; it is lost when this supervisor restarts.
void Supervisor::add_child(const Command& cmd) {
  if (!cmd.spec) {
    reply_error(cmd.token, "bad_request", "add without a child spec");
    return;
  }
  const ChildSpec& spec = *cmd.spec;
  if (spec_.strategy != Strategy::dynamic && !spec_.allow_add) {
    reply_error(cmd.token, "refused",
                spec_.name +
                    " is a static supervisor; children can be added only to a dynamic one "
                    "or where allow_add = true");
    return;
  }
  if (find(spec.id) != nullptr) {
    reply_error(cmd.token, "already_exists", spec_.name + " already has a child '" + spec.id + "'");
    return;
  }
  // OTP 24: no significant child under a dynamic supervisor, nor where
  // auto_shutdown = never (the configuration refuses both the same way).
  if (spec.significant &&
      (spec_.strategy == Strategy::dynamic || spec_.auto_shutdown == AutoShutdown::never)) {
    reply_error(cmd.token, "bad_request",
                "significant: " + spec_.name +
                    (spec_.strategy == Strategy::dynamic
                         ? " is a dynamic supervisor, which may have no significant child"
                         : " has auto_shutdown = \"never\", which allows no significant child"));
    return;
  }
  if (spec_.max_children > 0 && static_cast<int>(children_.size()) >= spec_.max_children) {
    reply_error(cmd.token, "max_children",
                spec_.name + " has reached max_children = " + std::to_string(spec_.max_children));
    return;
  }
  auto child = std::make_unique<Child>();
  child->spec = spec;
  child->added = true;
  by_id_[spec.id] = child.get();
  children_.push_back(std::move(child));
  record({.event = "added", .child = spec.id});
  auto op = std::make_unique<Operation>(Operation::Kind::manual_start);
  op->token = cmd.token;
  op->to_start.push_back(spec.id);
  op->remove_after_failed_start = true;
  begin_operation(std::move(op));
}

void Supervisor::reconfigure(const Command& cmd) {
  if (!cmd.new_spec) {
    reply_error(cmd.token, "bad_request", "reconfigure without a spec");
    return;
  }
  const SupervisorSpec& next = *cmd.new_spec;
  auto op = std::make_unique<Operation>(Operation::Kind::reconfigure);
  op->token = cmd.token;
  op->stop_cause = "reload";
  std::map<std::string, const ChildSpec*> wanted;
  for (const ChildSpec& c : next.children) wanted[c.id] = &c;

  // Stops first, in reverse start order: children that left, and workers
  // whose spec changed.
  std::vector<std::string> leaving;
  for (std::size_t i = children_.size(); i-- > 0;) {
    Child& c = *children_[i];
    auto w = wanted.find(c.spec.id);
    if (w == wanted.end()) {
      if (c.added) continue;  // added at run time: not the config's to remove
      leaving.push_back(c.spec.id);
      c.stopped_by_hand = true;
      op->to_stop.push_back(c.spec.id);
    } else if (!(c.spec == *w->second)) {
      if (c.spec.is_supervisor && w->second->is_supervisor) {
        // Its restart/shutdown settings: used from now on, no restart. What
        // changed inside it is reloaded by that supervisor itself.
        c.spec = *w->second;
        continue;
      }
      c.pending_spec = std::make_unique<ChildSpec>(*w->second);  // used at its next start
      if (c.state != ChildState::down) {
        op->to_stop.push_back(c.spec.id);
        op->to_start.push_back(c.spec.id);  // re-ordered below
      }
    }
  }
  op->remove_after_reload = leaving;

  // New start order: the config's, then children added at run time.
  std::unordered_map<std::string, std::size_t> old_position;
  for (std::size_t i = 0; i < children_.size(); ++i) old_position[children_[i]->spec.id] = i;
  std::vector<std::unique_ptr<Child>> ordered;
  for (const ChildSpec& spec : next.children) {
    auto known = old_position.find(spec.id);
    if (known != old_position.end() && children_[known->second]) {
      ordered.push_back(std::move(children_[known->second]));
    } else {
      auto child = std::make_unique<Child>();
      child->spec = spec;
      by_id_[spec.id] = child.get();
      ordered.push_back(std::move(child));
      op->to_start.push_back(spec.id);
    }
  }
  for (auto& c : children_) {
    if (c) ordered.push_back(std::move(c));  // leaving and added-at-run-time children
  }
  children_ = std::move(ordered);
  // Starts happen in the new start order.
  std::unordered_map<std::string, std::size_t> position;
  for (std::size_t i = 0; i < children_.size(); ++i) position[children_[i]->spec.id] = i;
  std::sort(op->to_start.begin(), op->to_start.end(),
            [&](const std::string& a, const std::string& b) { return position[a] < position[b]; });

  spec_.strategy = next.strategy;
  spec_.max_children = next.max_children;
  spec_.allow_add = next.allow_add;
  spec_.auto_shutdown = next.auto_shutdown;
  if (spec_.intensity != next.intensity || spec_.period != next.period) {
    spec_.intensity = next.intensity;
    spec_.period = next.period;
    intensity_.reset_limits(next.intensity, next.period);
  }
  begin_operation(std::move(op));
}

// Applies the policy deferred while paused; the whole resume counts as one
// restart for intensity.
void Supervisor::resume(const Command& cmd, TimePoint now) {
  if (!paused_) {
    reply_ok(cmd.token);
    return;
  }
  paused_ = false;
  record({.event = "resumed"});
  std::size_t first_dead = children_.size();
  bool any_pause_stopped = false;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    const Child& c = *children_[i];
    if (c.state != ChildState::down) continue;
    if (c.died_while_paused && first_dead == children_.size()) first_dead = i;
    any_pause_stopped = any_pause_stopped || c.stopped_by_pause;
  }
  if (first_dead == children_.size() && !any_pause_stopped) {
    reply_ok(cmd.token);
    return;
  }
  if (first_dead < children_.size() && !intensity_.add_restart(now)) {
    reply_ok(cmd.token);
    give_up("deferred restarts on resume");
    return;
  }
  auto op = std::make_unique<Operation>(Operation::Kind::resume);
  op->token = cmd.token;
  op->stop_cause = "resume";
  if (first_dead < children_.size()) {
    const Child& trigger = *children_[first_dead];
    op->trigger = trigger.spec.id;
    op->trigger_reason =
        "deferred while paused (" + (trigger.last_exit ? describe(*trigger.last_exit) : "") + ")";
    op->stop_cause = std::string(to_string(spec_.strategy)) + " restart on resume";
  }
  // Which children the deferred policy restarts.
  std::size_t group_from = children_.size();
  if (first_dead < children_.size()) {
    if (spec_.strategy == Strategy::one_for_all) group_from = 0;
    if (spec_.strategy == Strategy::rest_for_one) group_from = first_dead;
  }
  for (auto& id : running_in_reverse(group_from)) op->to_stop.push_back(id);
  for (std::size_t i = 0; i < children_.size(); ++i) {
    Child& c = *children_[i];
    if (i >= group_from || c.died_while_paused || c.stopped_by_pause) {
      op->to_start.push_back(c.spec.id);
    }
    c.died_while_paused = false;
  }
  begin_operation(std::move(op));
}

// ------------------------------------------------ restart delay, backoff --

// restart_delay * 2^k capped at backoff_max (or restart_delay when unset),
// then ±10% jitter; k grows with every delayed restart until the child stays
// up for backoff_reset.
Duration Supervisor::next_restart_delay(Child& c) {
  const Duration base = c.spec.restart_delay;
  const Duration cap = std::max(base, c.spec.backoff_max);
  Duration d = base;
  for (int k = 0; k < c.backoff_level && d < cap; ++k) d *= 2;
  d = std::min(d, cap);
  if (c.backoff_level < 62) c.backoff_level++;
  const double factor = 1.0 + kJitter * (2.0 * jitter_() - 1.0);
  return Duration{static_cast<Duration::rep>(static_cast<double>(d.count()) * factor + 0.5)};
}

void Supervisor::schedule_restart(Child& c, const std::string& reason, TimePoint now) {
  cancel_scheduled_restart(c, "");
  const Duration delay = next_restart_delay(c);
  const TimerId t = new_timer();
  timers_[t] = {.retry = true, .child = c.spec.id, .delayed = true};
  c.restart_timer = t;
  c.restart_at = now + delay;
  c.restart_reason = reason;
  record({.event = "restart_scheduled", .child = c.spec.id, .reason = reason, .delay = delay});
  emit(ArmTimerAction{t, delay});
}

void Supervisor::cancel_scheduled_restart(Child& c, const std::string& why) {
  if (!c.restart_timer) return;
  emit(CancelTimerAction{*c.restart_timer});
  timers_.erase(*c.restart_timer);
  c.restart_timer.reset();
  if (!why.empty()) record({.event = "restart_cancelled", .child = c.spec.id, .reason = why});
}

void Supervisor::cancel_all_scheduled_restarts(const std::string& why) {
  for (auto& c : children_) cancel_scheduled_restart(*c, why);
}

// The timer fired with the supervisor idle: the restart is attempted now, so
// it is counted now (and may make the supervisor give up).
void Supervisor::delayed_restart(Child& c, TimePoint now) {
  if (paused_) {
    c.died_while_paused = true;
    return;
  }
  if (!intensity_.add_restart(now)) {
    give_up(c.spec.id + " " + c.restart_reason);
    return;
  }
  restart_with_strategy(c, c.restart_reason, false);
}

// ------------------------------------------ significant children (OTP 24) --

// A significant child ended by itself (transient: normally; temporary: in
// any way). any_significant ends the supervisor now; all_significant when no
// significant child is left running (or about to restart).
void Supervisor::significant_child_exited(const std::string& id, const std::string& how) {
  if (spec_.auto_shutdown == AutoShutdown::never || ending()) return;
  if (spec_.auto_shutdown == AutoShutdown::all_significant) {
    for (const auto& c : children_) {
      if (c->spec.significant && (c->state != ChildState::down || c->restart_timer)) return;
    }
  }
  const std::string why = std::string(to_string(spec_.auto_shutdown)) + ": significant child " +
                          id + " exited (" + how + ")";
  record({.event = "auto_shutdown", .reason = why});
  begin_shutdown("auto_shutdown", "auto_shutdown: " + why);
}

// ---------------------------------------------------------- freeze, thaw --

void Supervisor::freeze_or_thaw(Child& c, const Command& cmd) {
  if (cmd.kind == Command::Kind::freeze) {
    if (c.state != ChildState::running) {
      reply_error(cmd.token, "not_running", c.spec.id + " is not running");
      return;
    }
    if (!c.frozen) {
      c.frozen = true;
      emit(SignalAction{c.pid, kSigStop});
      record({.event = "frozen", .child = c.spec.id, .pid = c.pid});
    }
    reply_ok(cmd.token, c.pid);
    return;
  }
  if (c.frozen && c.state == ChildState::running) {
    c.frozen = false;
    emit(SignalAction{c.pid, kSigCont});
    record({.event = "thawed", .child = c.spec.id, .pid = c.pid});
  }
  reply_ok(cmd.token, c.pid);
}

}  // namespace otpsup
