#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "os/spawn.h"
#include "os/wait_status.h"
#include "otpsup/history_filter.h"

namespace otpsup {

namespace {

template <typename Handle>
uv_handle_t* as_handle(Handle* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

void warn(const std::string& message) {
  std::fprintf(stderr, "otpsupd: %s\n", message.c_str());
}

}  // namespace

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {
  uv_loop_init(&loop_);
  root_ = std::make_unique<Supervisor>(options_.config.root());
  server_ = std::make_unique<ControlServer>(
      &loop_, [this](ClientId c, const nlohmann::json& r) { on_request(c, r); },
      [this](ClientId c) { on_disconnect(c); });
}

Daemon::~Daemon() {
  server_.reset();
  uv_loop_close(&loop_);
}

DaemonExit Daemon::run() {
  started_at_ = now();
  const DaemonSettings& d = options_.config.daemon;
  HistoryOptions ho;
  ho.dir = options_.state_dir;
  ho.sync = d.history_sync;
  ho.max_size = d.history_max_size;
  ho.keep = d.history_keep;
  std::string error;
  std::vector<std::string> repairs;
  Status locked = lock_state_dir();
  if (!locked.ok()) return startup_failure(locked.message());
  history_ = HistoryWriter::open(ho, &error, &repairs);
  if (!history_) return startup_failure("cannot open the history log: " + error);
  for (const auto& r : repairs) warn("history: " + r);

  ::signal(SIGPIPE, SIG_IGN);
  // Orphans of our children are re-parented to us, so they are reaped too.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  Status listening = server_->listen(options_.socket_path);
  if (!listening.ok()) return startup_failure(listening.message());

  uv_signal_init(&loop_, &sigchld_);
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sighup_);
  sigchld_.data = sigterm_.data = sigint_.data = sighup_.data = this;
  uv_signal_start(
      &sigchld_, [](uv_signal_t* h, int) { static_cast<Daemon*>(h->data)->on_sigchld(); }, SIGCHLD);
  auto stop_cb = [](uv_signal_t* h, int signum) {
    static_cast<Daemon*>(h->data)->on_stop_signal(signum);
  };
  uv_signal_start(&sigterm_, stop_cb, SIGTERM);
  uv_signal_start(&sigint_, stop_cb, SIGINT);
  uv_signal_start(
      &sighup_, [](uv_signal_t*, int) { warn("SIGHUP: live reload is not implemented yet"); },
      SIGHUP);
  uv_timer_init(&loop_, &timer_);
  timer_.data = this;
  // Group commit: whatever the loop iteration appended is synced once.
  uv_check_init(&loop_, &sync_check_);
  sync_check_.data = this;
  uv_check_start(&sync_check_, [](uv_check_t* h) {
    auto* self = static_cast<Daemon*>(h->data);
    if (self->history_ && self->history_->dirty() && self->history_->poison().ok()) {
      Status s = self->history_->sync();
      if (!s.ok()) warn("history: " + s.message());
    }
  });

  nlohmann::ordered_json started{{"sup", root_path()},
                                 {"event", "daemon_started"},
                                 {"pid", ::getpid()},
                                 {"config", options_.config.source},
                                 {"socket", options_.socket_path}};
  if (!repairs.empty()) started["repairs"] = repairs;
  append_history(std::move(started));

  root_->boot(now());
  pump();
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (history_) (void)history_->sync();
  return exit_.value_or(DaemonExit::ok);
}

// One daemon per state directory: an flock held for the daemon's life.
Status Daemon::lock_state_dir() {
  // mkdir -p, each missing component 0700.
  for (std::size_t slash = 1;; ++slash) {
    slash = options_.state_dir.find('/', slash);
    const std::string part = options_.state_dir.substr(0, slash);
    if (!part.empty() && ::mkdir(part.c_str(), 0700) < 0 && errno != EEXIST) {
      return Status::from_errno("create state directory", part, errno);
    }
    if (slash == std::string::npos) break;
  }
  const std::string path = options_.state_dir + "/otpsupd.lock";
  state_lock_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!state_lock_) return Status::from_errno("open", path, errno);
  if (::flock(state_lock_.get(), LOCK_EX | LOCK_NB) < 0) {
    if (errno == EWOULDBLOCK) {
      return Status::error("another otpsupd is using the state directory " + options_.state_dir);
    }
    return Status::from_errno("flock", path, errno);
  }
  return Status::ok_status();
}

// Reports a failure to start (also to the waiting parent in background mode).
DaemonExit Daemon::startup_failure(const std::string& message) {
  warn(message);
  if (options_.ready_fd >= 0) {
    const std::string line = message + "\n";
    ssize_t ignored = ::write(options_.ready_fd, line.data(), line.size());
    (void)ignored;
    ::close(options_.ready_fd);
    options_.ready_fd = -1;
  }
  return DaemonExit::startup_error;
}

// ---------------------------------------------------------------- events --

void Daemon::on_sigchld() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) break;  // 0: nothing more to reap; -1/ECHILD: no children
    // Whatever the child left in its process group goes with it (a group
    // outliving its leader keeps the leader's pid from being reused, so this
    // can only reach that group).
    ::kill(-pid, SIGKILL);
    root_->on_child_exited(pid, decode_wait_status(status), now());
    pump();
  }
}

void Daemon::on_stop_signal(int signum) {
  begin_shutdown("received " + std::string(signum == SIGINT ? "SIGINT" : "SIGTERM"));
}

void Daemon::begin_shutdown(const std::string& why) {
  if (stopping_) return;
  stopping_ = true;
  if (root_->ending()) return;  // already giving up or failing its boot
  options_.notifier.notify("STOPPING=1");
  append_history({{"sup", root_path()}, {"event", "daemon_stopping"}, {"reason", why}});
  root_->shutdown(now());
  pump();
}

void Daemon::on_timer() {
  const TimePoint t = now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= t) {
    const TimerId id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    timers_.erase(id);
    root_->on_timer(id, t);
    pump();
  }
  rearm_uv_timer();
}

// -------------------------------------------------------------- actions --

void Daemon::pump() {
  for (;;) {
    std::vector<Action> actions = root_->take_actions();
    if (actions.empty()) break;
    for (Action& a : actions) execute(a);
  }
  rearm_uv_timer();
}

void Daemon::execute(Action& action) {
  if (auto* start = std::get_if<StartAction>(&action)) {
    start_child(*start);
  } else if (auto* sig = std::get_if<SignalAction>(&action)) {
    // Each child leads its own process group: signal the whole group.
    if (sig->pid > 0 && ::kill(-sig->pid, sig->signal) < 0 && errno == ESRCH) {
      ::kill(sig->pid, sig->signal);
    }
  } else if (auto* arm = std::get_if<ArmTimerAction>(&action)) {
    arm_timer(arm->timer, arm->after);
  } else if (auto* cancel = std::get_if<CancelTimerAction>(&action)) {
    cancel_timer(cancel->timer);
  } else if (auto* rec = std::get_if<RecordAction>(&action)) {
    record(*rec);
  } else if (auto* reply = std::get_if<ReplyAction>(&action)) {
    auto it = pending_.find(reply->token);
    if (it == pending_.end()) return;
    PendingReply p = std::move(it->second);
    pending_.erase(it);
    if (!reply->ok) {
      server_->send_error(p.client, p.request_id, reply->error_code, reply->message);
      return;
    }
    nlohmann::json result = p.extra.is_object() ? p.extra : nlohmann::json::object();
    if (reply->pid != 0) result["pid"] = reply->pid;
    server_->send(p.client, {{"id", p.request_id}, {"ok", true}, {"result", result}});
  } else if (std::get_if<BootCompletedAction>(&action)) {
    options_.notifier.notify("READY=1\nSTATUS=supervising " +
                             std::to_string(root_->children().size()) + " children");
    if (options_.ready_fd >= 0) {
      ssize_t ignored = ::write(options_.ready_fd, "ok\n", 3);
      (void)ignored;
      ::close(options_.ready_fd);
      options_.ready_fd = -1;
    }
  } else if (auto* exit = std::get_if<ExitAction>(&action)) {
    finish(*exit);
  }
}

void Daemon::start_child(const StartAction& a) {
  const Child* child = root_->find(a.id);
  if (child == nullptr) return;
  int pid = 0;
  Status s = spawn_worker(child->spec, root_path() + "/" + a.id, &pid);
  if (s.ok()) {
    root_->on_child_started(a.id, pid, now());
  } else {
    root_->on_child_start_failed(a.id, s.message(), now());
  }
}

void Daemon::arm_timer(TimerId id, Duration after) {
  cancel_timer(id);
  timers_[id] = deadlines_.emplace(now() + after, id);
}

void Daemon::cancel_timer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  deadlines_.erase(it->second);
  timers_.erase(it);
}

// One uv timer serves every deadline: armed for the earliest, stopped when
// there is none (an idle daemon has no timer at all).
void Daemon::rearm_uv_timer() {
  if (uv_is_closing(as_handle(&timer_))) return;
  if (deadlines_.empty()) {
    uv_timer_stop(&timer_);
    return;
  }
  uv_update_time(&loop_);
  const auto wait = deadlines_.begin()->first - now();
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  uv_timer_start(
      &timer_, [](uv_timer_t* h) { static_cast<Daemon*>(h->data)->on_timer(); },
      static_cast<std::uint64_t>(ms < 0 ? 0 : ms), 0);
}

void Daemon::record(const RecordAction& r) {
  nlohmann::ordered_json fields{{"sup", root_path()}};
  if (!r.child.empty()) fields["child"] = r.child;
  fields["event"] = r.event;
  if (r.pid != 0) fields["pid"] = r.pid;
  if (r.old_pid != 0) fields["old_pid"] = r.old_pid;
  if (r.new_pid != 0) fields["new_pid"] = r.new_pid;
  if (!r.reason.empty()) fields["reason"] = r.reason;
  if (r.status) {
    if (r.status->signaled) {
      fields["signal"] = signal_name(r.status->value);
    } else {
      fields["exit_code"] = r.status->value;
    }
  }
  append_history(std::move(fields));
}

void Daemon::append_history(nlohmann::ordered_json fields) {
  if (!history_) return;
  std::string line;
  Status s = history_->append(fields, &line);
  if (!s.ok()) {
    warn("history: " + s.message());
    return;
  }
  if (followers_.empty()) return;
  const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
  for (const Follower& f : followers_) {
    if (f.filter.matches(parsed)) server_->send(f.client, {{"id", f.request_id}, {"stream", line}});
  }
}

void Daemon::finish(const ExitAction& e) {
  switch (e.kind) {
    case ExitAction::Kind::normal:
      exit_ = DaemonExit::ok;
      break;
    case ExitAction::Kind::gave_up:
      exit_ = DaemonExit::gave_up;
      break;
    case ExitAction::Kind::boot_failed:
      exit_ = DaemonExit::boot_failed;
      break;
  }
  if (e.kind != ExitAction::Kind::normal) {
    warn(std::string(e.kind == ExitAction::Kind::gave_up ? "root supervisor gave up: "
                                                         : "boot failed: ") +
         e.reason);
    append_history({{"sup", root_path()}, {"event", "daemon_stopping"}, {"reason", e.reason}});
  }
  if (options_.ready_fd >= 0) {
    const std::string msg = e.reason + "\n";
    ssize_t ignored = ::write(options_.ready_fd, msg.data(), msg.size());
    (void)ignored;
    ::close(options_.ready_fd);
    options_.ready_fd = -1;
  }
  if (history_) (void)history_->sync();
  for (const PendingReply& w : shutdown_waiters_) {
    server_->send(w.client,
                  {{"id", w.request_id}, {"ok", true}, {"result", nlohmann::json::object()}});
    server_->close_after_flush(w.client);
  }
  shutdown_waiters_.clear();
  for (const Follower& f : followers_) server_->close_after_flush(f.client);
  followers_.clear();
  server_->close();
  uv_close(as_handle(&sigchld_), nullptr);
  uv_close(as_handle(&sigterm_), nullptr);
  uv_close(as_handle(&sigint_), nullptr);
  uv_close(as_handle(&sighup_), nullptr);
  uv_close(as_handle(&timer_), nullptr);
  uv_close(as_handle(&sync_check_), nullptr);
}

}  // namespace otpsup
