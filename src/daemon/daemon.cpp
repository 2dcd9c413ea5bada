#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>

#include "os/pid_namespace.h"
#include "os/private_dirs.h"
#include "os/release_memory.h"

namespace otpsup {

namespace {

template <typename Handle>
uv_handle_t* as_handle(Handle* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

void warn(const std::string& message) {
  std::fprintf(stderr, "otpsupd: %s\n", message.c_str());
}

// history_sync = batch: at most one fdatasync per this much time while
// records keep coming (see sync_history_soon).
constexpr auto kGroupCommitWindow = std::chrono::milliseconds(5);

}  // namespace

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {
  uv_loop_init(&loop_);
  server_ = std::make_unique<ControlServer>(
      &loop_, [this](ClientId c, const nlohmann::json& r) { on_request(c, r); },
      [this](ClientId c) { on_disconnect(c); });
  waiters_ = std::make_unique<StateWaiters>(
      &loop_, [this](ClientId c, nlohmann::json m) { server_->send(c, m); });
  SupervisorNode::Output out;
  out.record = [this](nlohmann::ordered_json r) { on_record(std::move(r)); };
  out.reply = [this](CommandToken t, nlohmann::json r) { on_reply(t, r); };
  out.state = [this](nlohmann::json s) {
    mirror_.apply_state(s);
    waiters_->check(mirror_);
  };
  out.booted = [this] { on_booted(); };
  out.exited = [this](const ExitAction& e) { finish(e); };
  out.orphan_reaped = [this](int pid, const std::string& reason) { on_orphan(pid, reason); };
  out.trace = [this](const std::string& path, const nlohmann::json& e) { on_trace(path, e); };
  // The daemon looks templates up in `supervisors`, never in child_specs: a
  // copy of every worker's spec it would keep for nothing.
  options_.config.child_specs.clear();
  // The root's own spec is not part of its library (SupervisorNode drops it):
  // not copying it saves a copy of every top-level child spec.
  SpecLibrary below_root;
  for (const auto& [name, spec] : options_.config.supervisors) {
    if (name != options_.config.root().name) below_root.emplace(name, spec);
  }
  root_ = std::make_unique<SupervisorNode>(&loop_, "root", options_.config.root(),
                                           std::move(below_root), options_.self_exe, log_settings(),
                                           std::move(out));
}

OutputLogSettings Daemon::log_settings() const {
  OutputLogSettings logs;
  logs.dir = options_.state_dir + "/logs";
  logs.max_size = options_.config.daemon.log_max_size;
  logs.keep = options_.config.daemon.log_keep;
  logs.echo = options_.foreground;
  return logs;
}

Daemon::~Daemon() {
  // After a failed start some handles are still open: close them and let the
  // loop run their close callbacks, so nothing leaks (both calls are no-ops
  // after a normal run).
  server_->close();
  root_->close();
  waiters_->close();
  uv_run(&loop_, UV_RUN_DEFAULT);
  root_.reset();
  server_.reset();
  uv_loop_close(&loop_);
}

DaemonExit Daemon::run() {
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
  // Orphans of the tree are re-parented to us, so they are reaped too.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  Status listening = server_->listen(options_.socket_path);
  if (!listening.ok()) return startup_failure(listening.message());

  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sighup_);
  sigterm_.data = sigint_.data = sighup_.data = this;
  auto stop_cb = [](uv_signal_t* h, int signum) {
    static_cast<Daemon*>(h->data)->on_stop_signal(signum);
  };
  uv_signal_start(&sigterm_, stop_cb, SIGTERM);
  uv_signal_start(&sigint_, stop_cb, SIGINT);
  uv_signal_start(
      &sighup_,
      [](uv_signal_t* h, int) {
        static_cast<Daemon*>(h->data)->handle_reload(0, {{"cmd", "reload"}});
      },
      SIGHUP);
  // main blocked them until now (a pid 1 would have dropped them).
  unblock_daemon_signals();
  // Group commit: whatever a loop iteration appended is synced once, just
  // before the loop waits for events again (see sync_history_soon). Not in a
  // uv_check: records appended by idle callbacks, as a reap's and its
  // restarts' are, would then stay unsynced until the next event, and that
  // event's check would pay for them before it reaps.
  uv_prepare_init(&loop_, &sync_before_poll_);
  sync_before_poll_.data = this;
  uv_prepare_start(&sync_before_poll_,
                   [](uv_prepare_t* h) { static_cast<Daemon*>(h->data)->sync_history_soon(); });
  uv_timer_init(&loop_, &sync_timer_);
  sync_timer_.data = this;

  mirror_.build(options_.config.supervisors, ::getpid(), Clock::now());
  nlohmann::ordered_json started{{"sup", "root"},
                                 {"event", "daemon_started"},
                                 {"pid", ::getpid()},
                                 {"config", options_.config.source},
                                 {"socket", options_.socket_path}};
  if (options_.pids.translating()) started["pid_namespace"] = true;
  if (!repairs.empty()) started["repairs"] = repairs;
  append_history(std::move(started));

  root_->start();
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (history_) (void)history_->sync();
  return exit_.value_or(DaemonExit::ok);
}

// At the end of a loop iteration that appended records (history_sync =
// batch): one fdatasync for them all — or, when the last one was less than
// kGroupCommitWindow ago, one when the window ends, for everything appended
// until then. An orderly stop turns the loop once per child (each exit is
// its own event), and one fdatasync per child was a fifth of its cost; a
// record on its own is still synced at the end of its iteration.
void Daemon::sync_history_soon() {
  if (!history_ || !history_->dirty() || !history_->poison().ok()) return;
  const auto since = Clock::now() - last_sync_;
  if (since >= kGroupCommitWindow) {
    sync_history();
    return;
  }
  if (uv_is_active(as_handle(&sync_timer_))) return;
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(kGroupCommitWindow - since);
  uv_timer_start(
      &sync_timer_, [](uv_timer_t* h) { static_cast<Daemon*>(h->data)->sync_history(); },
      static_cast<std::uint64_t>(wait.count()), 0);
}

void Daemon::sync_history() {
  if (!history_ || !history_->dirty() || !history_->poison().ok()) return;
  Status s = history_->sync();
  last_sync_ = Clock::now();
  if (!s.ok()) warn("history: " + s.message());
}

// One daemon per state directory: an flock held for the daemon's life.
Status Daemon::lock_state_dir() {
  if (Status made = make_private_dirs(options_.state_dir); !made.ok()) return made;
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

void Daemon::write_ready(const std::string& line) {
  if (options_.ready_fd < 0) return;
  ssize_t ignored = ::write(options_.ready_fd, line.data(), line.size());
  (void)ignored;
  if (line == "ok\n" && options_.ready_fd_relays_stopping) {
    relay_stopping_ = true;  // the fd stays open for begin_shutdown's "stopping\n"
    return;
  }
  ::close(options_.ready_fd);
  options_.ready_fd = -1;
}

// Reports a failure to start (also to the waiting parent in background mode).
DaemonExit Daemon::startup_failure(const std::string& message) {
  warn(message);
  write_ready(message + "\n");
  return DaemonExit::startup_error;
}

// ---------------------------------------------------------------- events --

void Daemon::on_stop_signal(int signum) {
  begin_shutdown("received " + std::string(signum == SIGINT ? "SIGINT" : "SIGTERM"));
}

void Daemon::begin_shutdown(const std::string& why) {
  if (stopping_) return;
  stopping_ = true;
  if (root_->core().ending()) return;  // already giving up or failing its boot
  options_.notifier.notify("STOPPING=1");
  // Under --pid-namespace the outer process tells the service manager.
  if (relay_stopping_) write_ready("stopping\n");
  append_history({{"sup", "root"}, {"event", "daemon_stopping"}, {"reason", why}});
  root_->shutdown();
}

void Daemon::on_booted() {
  options_.notifier.notify("READY=1\nSTATUS=supervising the tree of " + options_.config.source);
  write_ready("ok\n");
  // What the config load and the starts allocated and freed stays resident
  // until it is given back.
  release_free_memory();
}

void Daemon::on_record(nlohmann::ordered_json fields) {
  if (fields.value("event", "") == "removed") {
    // A sandbox destroyed, or lost with its dynamic supervisor.
    const std::string path = record_path(nlohmann::json(fields));
    std::erase_if(sandboxes_, [&](const auto& entry) { return entry.second.path == path; });
  }
  // The mirror reads the record as it was made (append_history translates
  // pids for the log of a --pid-namespace daemon).
  auto extras = mirror_.apply(fields, Clock::now());
  append_history(std::move(fields));
  for (nlohmann::ordered_json& extra : extras) on_record(std::move(extra));
  waiters_->check(mirror_);
}

// A process of the tree whose supervisor died before it (kill -9 of a node):
// re-parented to the nearest living supervisor (every one is a subreaper),
// reaped there and reported up to here. Named from the mirror.
void Daemon::on_orphan(int pid, const std::string& reason) {
  auto path = mirror_.path_of_pid(pid);
  if (!path) {
    // Not a child of the tree: a grandchild that left its parent (a double
    // fork), or, when otpsupd is pid 1, any process re-parented to init.
    // Reaped all the same (no zombie); recorded so it can be seen.
    append_history({{"sup", "root"}, {"event", "orphan_reaped"}, {"pid", pid}, {"reason", reason}});
    return;
  }
  mirror_.forget_pid(pid);
  const auto slash = path->rfind('/');
  append_history({{"sup", path->substr(0, slash)},
                  {"child", path->substr(slash + 1)},
                  {"event", "exited"},
                  {"pid", pid},
                  {"reason", reason + " (its supervisor was gone)"},
                  {"orphan", true}});
}

void Daemon::on_reply(CommandToken token, const nlohmann::json& reply) {
  auto it = pending_.find(token);
  if (it == pending_.end()) return;
  PendingReply p = std::move(it->second);
  pending_.erase(it);
  const bool ok = reply.value("ok", false);
  if (p.then) {
    p.then(reply);
    return;
  }
  if (!ok && p.extra.is_object() && p.extra.contains("sandbox")) {
    // A sandbox create that was refused (max_children...): forget it.
    sandboxes_.erase(p.extra["sandbox"].get<std::string>());
    mirror_.forget(p.extra.value("path", ""));
  }
  if (p.fan_out != 0) {
    auto f = fan_outs_.find(p.fan_out);
    if (f == fan_outs_.end()) return;
    FanOut& group = f->second;
    const std::string owner = p.extra.value("owner", "");
    const std::string code = ok ? "" : reply["error"].value("code", "");
    if (ok) {
      group.acted_on.push_back(owner);
    } else if (owner == group.target || (code != "not_running" && code != "shutting_down")) {
      if (group.first_error.is_null()) group.first_error = reply.at("error");
    }
    if (--group.waiting > 0) return;
    FanOut done = std::move(group);
    fan_outs_.erase(f);
    if (done.first_error.is_null()) {
      std::sort(done.acted_on.begin(), done.acted_on.end());
      done.result["supervisors"] = done.acted_on;
      server_->send(done.client, {{"id", done.request_id}, {"ok", true}, {"result", done.result}});
    } else {
      server_->send(done.client,
                    {{"id", done.request_id}, {"ok", false}, {"error", done.first_error}});
    }
    return;
  }
  if (!ok) {
    server_->send(p.client, {{"id", p.request_id}, {"ok", false}, {"error", reply.at("error")}});
    return;
  }
  nlohmann::json result = p.extra.is_object() ? p.extra : nlohmann::json::object();
  if (reply.contains("result")) result.update(reply["result"]);
  server_->send(p.client, {{"id", p.request_id}, {"ok", true}, {"result", result}});
}

void Daemon::append_history(nlohmann::ordered_json fields) {
  if (!history_) return;
  if (options_.pids.translating()) translate_record_pids(&fields);
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

// Each pid is translated while its process exists (a process of a node
// that exits at once may already be gone when its record arrives: its pid
// then stays the inner one), or else from what was learnt before. Records
// that end a pid for good forget it ("exited" does not: a "restarted" with
// its old_pid may follow); the table is bounded anyway, since a live pid is
// always translated afresh and only records of exits read it.
void Daemon::translate_record_pids(nlohmann::ordered_json* fields) {
  constexpr std::size_t kMaxRemembered = 4096;
  const std::string event = fields->value("event", "");
  for (const std::string key : {"pid", "old_pid", "new_pid"}) {
    auto it = fields->find(key);
    if (it == fields->end() || !it->is_number_integer()) continue;
    const int inner = it->get<int>();
    if (const auto outside = options_.pids.find_outside(inner)) {
      if (outside_pids_.size() >= kMaxRemembered) outside_pids_.clear();
      outside_pids_[inner] = *outside;
      *it = *outside;
    } else if (auto known = outside_pids_.find(inner); known != outside_pids_.end()) {
      *it = known->second;
    }
    if (key == "old_pid" || (key == "pid" && (event == "stopped" || event == "orphan_reaped"))) {
      outside_pids_.erase(inner);
    }
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
  if (e.kind == ExitAction::Kind::normal && !stopping_) {
    // Not asked to stop: the root shut itself down (auto_shutdown). Exit 0.
    append_history({{"sup", "root"}, {"event", "daemon_stopping"}, {"reason", e.reason}});
  }
  if (e.kind != ExitAction::Kind::normal) {
    warn(std::string(e.kind == ExitAction::Kind::gave_up ? "root supervisor gave up: "
                                                         : "boot failed: ") +
         e.reason);
    append_history({{"sup", "root"}, {"event", "daemon_stopping"}, {"reason", e.reason}});
  }
  write_ready(e.reason + "\n");
  if (history_) (void)history_->sync();
  for (const PendingReply& w : shutdown_waiters_) {
    server_->send(w.client,
                  {{"id", w.request_id}, {"ok", true}, {"result", nlohmann::json::object()}});
    server_->close_after_flush(w.client);
  }
  shutdown_waiters_.clear();
  for (const Follower& f : followers_) server_->close_after_flush(f.client);
  followers_.clear();
  for (const TraceFollower& f : trace_followers_) server_->close_after_flush(f.client);
  trace_followers_.clear();
  waiters_->check(mirror_);  // `wait ... down` of what just stopped
  waiters_->close();
  server_->close();
  root_->close();
  uv_close(as_handle(&sigterm_), nullptr);
  uv_close(as_handle(&sigint_), nullptr);
  uv_close(as_handle(&sighup_), nullptr);
  uv_close(as_handle(&sync_before_poll_), nullptr);
  uv_close(as_handle(&sync_timer_), nullptr);
}

}  // namespace otpsup
