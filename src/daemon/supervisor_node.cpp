#include "daemon/supervisor_node.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include "daemon/node_process.h"
#include "os/child_sweep.h"
#include "os/spawn.h"
#include "os/wait_status.h"
#include "otpsup/spec_json.h"

namespace otpsup {

namespace {

template <typename Handle>
uv_handle_t* as_handle(Handle* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

// Adopted orphans are looked for at most this often (see sweep_soon), and a
// sweep never takes more than 1/kSweepCostFactor of the time.
constexpr auto kOrphanSweepInterval = std::chrono::milliseconds(50);
constexpr int kSweepCostFactor = 10;

// Exits handled in one turn of the loop before it serves anything else.
constexpr int kMaxReapsPerTurn = 64;

// Messages down to a node are queued, never waited for: a node sends up with
// blocking writes (so its records are out before it exits), and a parent that
// also blocked could deadlock with it.
constexpr std::size_t kMaxQueuedDown = 64u << 20;

nlohmann::json error_reply(const std::string& code, const std::string& message) {
  return {{"ok", false}, {"error", {{"code", code}, {"message", message}}}};
}

Command::Kind command_kind(const std::string& kind) {
  using K = Command::Kind;
  static const std::map<std::string, K> kinds{{"start", K::start},
                                              {"stop", K::stop},
                                              {"restart", K::restart},
                                              {"remove", K::remove},
                                              {"kill", K::kill},
                                              {"pause", K::pause},
                                              {"pause_stop", K::pause_stop},
                                              {"resume", K::resume},
                                              {"add", K::add},
                                              {"reconfigure", K::reconfigure},
                                              {"freeze", K::freeze},
                                              {"thaw", K::thaw}};
  auto it = kinds.find(kind);
  if (it == kinds.end()) throw std::invalid_argument("unknown command kind '" + kind + "'");
  return it->second;
}

}  // namespace

SupervisorNode::SupervisorNode(uv_loop_t* loop, std::string path, SupervisorSpec spec,
                               SpecLibrary library, std::string self_exe, OutputLogSettings logs,
                               Output output)
    : loop_(loop),
      path_(std::move(path)),
      library_(std::move(library)),
      self_exe_(std::move(self_exe)),
      log_settings_(std::move(logs)),
      out_(std::move(output)),
      core_(std::make_unique<Supervisor>(std::move(spec))) {
  forget_own_spec();
  channels_ = std::make_unique<WorkerChannels>(
      loop_, path_,
      [this](CommandToken token, nlohmann::json reply) {
        if (out_.reply) out_.reply(token, std::move(reply));
      },
      [this](const std::string& child, const nlohmann::json& entry) {
        if (out_.trace) out_.trace(path_ + "/" + child, entry);
      });
  outputs_ = std::make_unique<ChildOutputs>(loop_, log_settings_);
  // Restart-delay jitter: differently seeded in every supervisor, so
  // siblings that crash together do not come back together.
  core_->set_jitter_source([rng = std::mt19937(std::random_device{}())]() mutable {
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  });
  ReadinessWatch::Events events;
  events.child_of = [this](int sender) { return child_of_sender(sender); };
  events.ready = [this](int pid) {
    if (core_->on_child_ready(pid, Clock::now())) pump();
  };
  events.watchdog = [this](int pid) {
    if (core_->on_child_watchdog(pid, Clock::now())) pump();
  };
  events.status = [this](int pid, const std::string& text) {
    if (const Child* c = core_->find_by_pid(pid)) {
      status_texts_[c->spec.id] = text;
      publish_state_soon();
    }
  };
  readiness_ = std::make_unique<ReadinessWatch>(loop_, std::move(events));
}

SupervisorNode::~SupervisorNode() = default;

void SupervisorNode::start() {
  uv_signal_init(loop_, &sigchld_);
  sigchld_.data = this;
  uv_signal_start(
      &sigchld_, [](uv_signal_t* h, int) { static_cast<SupervisorNode*>(h->data)->on_sigchld(); },
      SIGCHLD);
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  uv_idle_init(loop_, &reap_more_);
  reap_more_.data = this;
  uv_timer_init(loop_, &sweep_timer_);
  sweep_timer_.data = this;
  uv_prepare_init(loop_, &publish_);
  publish_.data = this;
  handles_open_ = true;
  core_->boot(Clock::now());
  pump();
}

void SupervisorNode::shutdown() {
  core_->shutdown(Clock::now());
  pump();
}

void SupervisorNode::close() {
  if (channels_) channels_->close();
  if (outputs_) outputs_->close();
  if (readiness_) readiness_->close();
  for (auto& [id, link] : nodes_) {
    if (link.uplink) link.uplink->close();
  }
  if (!handles_open_) return;
  if (uv_is_active(as_handle(&publish_))) publish_state();
  handles_open_ = false;
  uv_close(as_handle(&publish_), nullptr);
  uv_close(as_handle(&sigchld_), nullptr);
  uv_close(as_handle(&reap_more_), nullptr);
  uv_close(as_handle(&timer_), nullptr);
  uv_close(as_handle(&sweep_timer_), nullptr);
}

// ------------------------------------------------------------- reaping --
//
// waitpid(-1) walks the kernel's list of this process's children until it
// finds one that exited: O(children) per call, and twice per exit when the
// child is the youngest (the one an orderly stop takes first) — with 10,000
// children that walk was most of the cost of a stop. So the children this
// supervisor expects to exit (it sent them a stop or SIGKILL) are reaped by
// pid, which the kernel does in O(1), and a waitpid(-1) scan runs only for a
// SIGCHLD those reaps do not account for: an unexpected exit (a crash, an
// orphan). SIGCHLDs that coalesced in the kernel can hide an unexpected exit
// behind an expected one; the periodic sweep (sweep_soon) scans once more
// for that.

// libuv calls this once per SIGCHLD it caught and keeps calling while more
// arrive, so reaping here would never end in a crash storm (children die
// while others are restarted). It only asks for a reap on the loop's next
// turn (uv_idle: the loop does not block meanwhile).
void SupervisorNode::on_sigchld() {
  ++sigchld_caught_;
  if (!handles_open_) return reap();
  uv_idle_start(&reap_more_, [](uv_idle_t* h) { static_cast<SupervisorNode*>(h->data)->reap(); });
}

void SupervisorNode::reap() {
  if (handles_open_) uv_idle_stop(&reap_more_);
  const int signals = std::exchange(sigchld_caught_, 0);
  const int expected = reap_expected();
  if (scan_due_ || expected < signals || !handles_open_) {
    scan_due_ = false;
    reap_any();
  } else {
    rescan_due_ = true;  // in case a coalesced SIGCHLD hid an unexpected exit
  }
  sweep_soon();
}

// Reaps, by pid, the expected exits that have happened; returns how many.
int SupervisorNode::reap_expected() {
  if (expected_exits_.empty()) return 0;
  int reaped = 0;
  // A copy: handling an exit stops the next child, which becomes expected
  // (its SIGCHLD will come and be accounted for then).
  const std::vector<int> pids(expected_exits_.begin(), expected_exits_.end());
  for (int pid : pids) {
    int status = 0;
    pid_t got;
    do {
      got = ::waitpid(pid, &status, WNOHANG);
    } while (got < 0 && errno == EINTR);
    if (got == pid) {
      ++reaped;
      reaped_exit(pid, status);
    } else if (got < 0) {
      expected_exits_.erase(pid);  // not ours any more (ECHILD): nothing to wait for
    }
  }
  return reaped;
}

// Reaps any exit with waitpid(-1): up to kMaxReapsPerTurn, then lets the
// loop serve signals, commands and the history's group commit before the
// rest.
void SupervisorNode::reap_any() {
  for (int reaped = 0;; ++reaped) {
    if (reaped == kMaxReapsPerTurn && handles_open_) {
      scan_due_ = true;
      uv_idle_start(&reap_more_,
                    [](uv_idle_t* h) { static_cast<SupervisorNode*>(h->data)->reap(); });
      return;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;  // 0: nothing more to reap; -1/ECHILD: no children
    reaped_exit(pid, status);
  }
}

void SupervisorNode::reaped_exit(int pid, int wait_status) {
  expected_exits_.erase(pid);
  // Whatever the child left in its process group goes with it (a group
  // outliving its leader keeps the leader's pid from being reused, so this
  // can only reach that group).
  ::kill(-pid, SIGKILL);
  on_child_exited(pid, decode_wait_status(wait_status));
}

// The sweep — a waitpid(-1) scan when one is owed, then the adopted-orphan
// kill, which lists every child of this process from /proc — is O(children).
// So it runs at most once per kOrphanSweepInterval, or per
// kSweepCostFactor times its own last duration when that is longer (10,000
// stops must not cost 10,000 sweeps, nor a sweep per few stops); one asked
// for meanwhile runs when the interval ends.
void SupervisorNode::sweep_soon() {
  const TimePoint now = Clock::now();
  if (!handles_open_ || now >= next_sweep_) {
    sweep();
    return;
  }
  if (uv_is_active(as_handle(&sweep_timer_))) return;
  const auto wait = std::chrono::duration_cast<Duration>(next_sweep_ - now).count() + 1;
  uv_timer_start(
      &sweep_timer_, [](uv_timer_t* t) { static_cast<SupervisorNode*>(t->data)->sweep(); },
      static_cast<std::uint64_t>(wait), 0);
}

void SupervisorNode::sweep() {
  if (std::exchange(rescan_due_, false)) reap_any();
  const TimePoint began = Clock::now();
  kill_adopted_orphans();
  const TimePoint ended = Clock::now();
  next_sweep_ =
      ended + std::max<Clock::duration>(kOrphanSweepInterval, (ended - began) * kSweepCostFactor);
}

// An exit is when orphans appear: a child's descendants that left its group
// (a double-forked, setsid grandchild) are re-parented to us, the subreaper,
// when their parent dies. Nothing supervises them, so nothing may keep them:
// every child of this process that is neither a child in the core nor a
// node process is killed with its group (and reaped by the next SIGCHLD,
// reported as orphan_reaped). spawn_worker is synchronous, so a child we
// started is in the core (or node_pids_) before this can run.
void SupervisorNode::kill_adopted_orphans() {
  for (int pid : own_children()) {
    if (core_->find_by_pid(pid) != nullptr || node_pids_.count(pid) > 0) continue;
    // Still ours (unreaped), so its pid cannot have been reused.
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
}

void SupervisorNode::on_child_exited(int pid, ExitStatus status) {
  const TimePoint now = Clock::now();
  if (auto s = starting_nodes_.find(pid); s != starting_nodes_.end()) {
    // A node that died before reporting its boot: a failed start.
    const std::string id = s->second;
    starting_nodes_.erase(s);
    std::string reason = "supervisor exited during its boot (" + describe(status) + ")";
    if (auto n = nodes_.find(id); n != nodes_.end()) {
      if (n->second.uplink) n->second.uplink->drain();
      if (!n->second.boot_failure.empty()) reason = n->second.boot_failure;
    }
    forget_node(id, "exited");
    core_->on_child_start_failed(id, reason, now);
    pump();
    return;
  }
  outputs_->exited(pid);
  readiness_->exited(pid);
  if (const Child* c = core_->find_by_pid(pid); c != nullptr && c->spec.channel) {
    channels_->exited(c->spec.id, describe(status));
  }
  if (auto node = node_pids_.find(pid); node != node_pids_.end()) {
    const std::string id = node->second;
    // Everything the node wrote before it exited comes first.
    if (auto n = nodes_.find(id); n != nodes_.end() && n->second.uplink) n->second.uplink->drain();
    forget_node(id, "exited");
  }
  if (!core_->on_child_exited(pid, status, now)) {
    if (out_.orphan_reaped) out_.orphan_reaped(pid, describe(status));
    return;
  }
  pump();
}

void SupervisorNode::forget_node(std::string id, const std::string& why) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  NodeLink link = std::move(it->second);
  nodes_.erase(it);
  node_pids_.erase(link.pid);
  if (link.uplink) link.uplink->close();
  for (CommandToken token : link.routed) {
    reply_error(token, "not_running",
                "supervisor " + path_ + "/" + id + " " + why + " before it answered");
  }
}

// ------------------------------------------------------------- actions --

void SupervisorNode::pump() {
  for (;;) {
    std::vector<Action> actions = core_->take_actions();
    if (actions.empty()) break;
    for (Action& a : actions) execute(a);
  }
  rearm_uv_timer();
  publish_state_soon();
}

void SupervisorNode::execute(Action& action) {
  if (auto* start = std::get_if<StartAction>(&action)) {
    start_child(start->id);
  } else if (auto* sig = std::get_if<SignalAction>(&action)) {
    if (sig->stop) {
      // A node told why it is signalled exits 0 (shutdown); a SIGTERM from
      // anyone else is a crash of that supervisor, as for a worker.
      if (auto node = node_pids_.find(sig->pid); node != node_pids_.end()) {
        auto link = nodes_.find(node->second);
        if (link != nodes_.end() && link->second.uplink)
          (void)link->second.uplink->send_nonblocking({{"t", "stop"}}, kMaxQueuedDown);
      }
    }
    // Each child leads its own process group: signal the whole group.
    if (sig->pid > 0 && ::kill(-sig->pid, sig->signal) < 0 && errno == ESRCH) {
      ::kill(sig->pid, sig->signal);
    }
    // A child being stopped, or killed, is reaped by pid (see reap()).
    if (const Child* c = core_->find_by_pid(sig->pid);
        c != nullptr && (c->state == ChildState::stopping || sig->signal == SIGKILL)) {
      expected_exits_.insert(sig->pid);
    }
  } else if (auto* arm = std::get_if<ArmTimerAction>(&action)) {
    arm_timer(arm->timer, arm->after);
  } else if (auto* cancel = std::get_if<CancelTimerAction>(&action)) {
    cancel_timer(cancel->timer);
  } else if (auto* r = std::get_if<RecordAction>(&action)) {
    nlohmann::ordered_json fields{{"sup", path_}};
    if (!r->child.empty()) fields["child"] = r->child;
    fields["event"] = r->event;
    if (r->pid != 0) fields["pid"] = r->pid;
    if (r->old_pid != 0) fields["old_pid"] = r->old_pid;
    if (r->new_pid != 0) fields["new_pid"] = r->new_pid;
    if (!r->reason.empty()) fields["reason"] = r->reason;
    if (r->delay) fields["delay_ms"] = r->delay->count();
    if (r->status) {
      if (r->status->signaled) {
        fields["signal"] = signal_name(r->status->value);
      } else {
        fields["exit_code"] = r->status->value;
      }
    }
    if (!r->child.empty()) {
      if (const Child* c = core_->find(r->child); c != nullptr) {
        if (c->spec.is_supervisor) fields["kind"] = "supervisor";
        if (r->event == "added") fields["restart"] = to_string(c->spec.restart);
        if ((r->event == "started" || r->event == "restarted" || r->event == "manual_restart") &&
            c->state == ChildState::starting && c->pid != 0) {
          fields["awaiting"] = "ready";  // `starting` until its "ready" record
        }
      }
    }
    if (r->event == "removed" && !r->child.empty()) {
      channels_->forget(r->child);
      status_texts_.erase(r->child);
    }
    if (out_.record) out_.record(std::move(fields));
  } else if (auto* reply = std::get_if<ReplyAction>(&action)) {
    publish_state();  // what the command changed is in the mirror before its reply
    nlohmann::json result = nlohmann::json::object();
    if (reply->pid != 0) result["pid"] = reply->pid;
    if (out_.reply) {
      out_.reply(reply->token, reply->ok ? nlohmann::json{{"ok", true}, {"result", result}}
                                         : error_reply(reply->error_code, reply->message));
    }
  } else if (std::get_if<BootCompletedAction>(&action)) {
    publish_state();  // the state (STATUS= texts of the boot) before "booted"
    if (out_.booted) out_.booted();
  } else if (auto* exit = std::get_if<ExitAction>(&action)) {
    // Every child the core knew has exited; what is left are orphans it
    // adopted. They go down with it.
    kill_and_reap_all_children();
    publish_state();
    if (out_.exited) out_.exited(*exit);
  }
}

void SupervisorNode::start_child(const std::string& id) {
  const Child* child = core_->find(id);
  if (child == nullptr) return;
  if (child->spec.is_supervisor) {
    start_node(*child);
    return;
  }
  start_worker(*child);
}

void SupervisorNode::start_worker(const Child& child) {
  const std::string id = child.spec.id;
  const std::string child_path = path_ + "/" + id;
  auto fail = [&](const std::string& why) { core_->on_child_start_failed(id, why, Clock::now()); };
  ChildIo io;
  if (Status s = outputs_->prepare(child.spec, child_path, &io); !s.ok()) return fail(s.message());
  UniqueFd channel_end;
  const ChildSpec* spec = &child.spec;
  ChildSpec with_channel;
  if (child.spec.channel) {
    channel_end = channels_->prepare(id, child.spec.trace_size);
    if (!channel_end) {
      outputs_->abandoned();
      return fail("socketpair for the channel failed");
    }
    with_channel = child.spec;
    with_channel.env["OTPSUP_CHANNEL_FD"] = "3";
    spec = &with_channel;
    io.fd3 = channel_end.get();
  }
  ChildSpec with_readiness;
  UniqueFd ready_end;
  if (child.spec.ready != ReadyKind::none || child.spec.watchdog.count() > 0) {
    with_readiness = *spec;
    if (Status r = prepare_readiness(child.spec, &with_readiness, &io, &ready_end); !r.ok()) {
      outputs_->abandoned();
      if (child.spec.channel) channels_->abandoned(id);
      return fail(r.message());
    }
    spec = &with_readiness;
  }
  status_texts_.erase(id);
  int pid = 0;
  Status s = spawn_worker(*spec, child_path, &pid, io);
  channel_end.reset();
  ready_end.reset();
  if (!s.ok()) {
    outputs_->abandoned();
    if (child.spec.channel) channels_->abandoned(id);
    readiness_->abandoned();
    return fail(s.message());
  }
  outputs_->started(pid);
  if (child.spec.channel) channels_->attached(id);
  if (child.spec.ready == ReadyKind::fd) readiness_->attached(pid);
  core_->on_child_started(id, pid, Clock::now());
}

// The environment and descriptors of a worker with readiness or a watchdog:
// NOTIFY_SOCKET (notify, or a watchdog: WATCHDOG=1 comes the same way),
// WATCHDOG_USEC, the ready pipe at fd N. (WATCHDOG_PID is not set: the pid is
// unknown before fork, and the variable is optional in sd_watchdog_enabled.)
Status SupervisorNode::prepare_readiness(const ChildSpec& spec, ChildSpec* env_spec, ChildIo* io,
                                         UniqueFd* ready_end) {
  if (spec.ready == ReadyKind::notify || spec.watchdog.count() > 0) {
    std::string address;
    if (Status s = readiness_->notify_address(&address); !s.ok()) return s;
    env_spec->env["NOTIFY_SOCKET"] = address;
  }
  if (spec.watchdog.count() > 0) {
    env_spec->env["WATCHDOG_USEC"] = std::to_string(spec.watchdog.count() * 1000);
  }
  if (spec.ready == ReadyKind::fd) {
    if (spec.ready_fd < 3 || (spec.ready_fd == 3 && io->fd3 >= 0)) {
      return Status::error("ready fd " + std::to_string(spec.ready_fd) + " is not available");
    }
    if (Status s = readiness_->prepare_fd(ready_end); !s.ok()) return s;
    io->ready_fd = ready_end->get();
    io->ready_fd_number = spec.ready_fd;
  }
  return Status::ok_status();
}

// A notify sender counts when it is one of our children or runs below one:
// in its session (every child leads its own), or, having left it, with one
// of them among its ancestors.
int SupervisorNode::child_of_sender(int sender) const {
  constexpr int kMaxDepth = 64;
  int pid = sender;
  for (int depth = 0; depth < kMaxDepth && pid > 1; ++depth) {
    if (core_->find_by_pid(pid) != nullptr) return pid;
    int session = 0, ppid = 0;
    if (!read_session_and_parent(pid, &session, &ppid)) return 0;
    if (session > 1 && core_->find_by_pid(session) != nullptr) return session;
    pid = ppid;
  }
  return 0;
}

// A sub-supervisor: `otpsupd --node` with the uplink at fd 3. It counts as
// started when it reports that its boot completed.
void SupervisorNode::start_node(const Child& child) {
  const std::string id = child.spec.id;
  auto fail = [&](const std::string& why) { core_->on_child_start_failed(id, why, Clock::now()); };
  auto spec = library_.find(id);
  if (spec == library_.end()) return fail("no spec for supervisor '" + id + "'");
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
    return fail(Status::from_errno("socketpair", "", errno).message());
  }
  UniqueFd ours(fds[0]);
  UniqueFd theirs(fds[1]);
  ChildSpec node_spec = child.spec;
  node_spec.executable = self_exe_;
  node_spec.command = {self_exe_, "--node"};
  int pid = 0;
  ChildIo io;
  io.fd3 = theirs.get();
  io.death_signal = kNodeParentDeathSignal;
  Status s = spawn_worker(node_spec, path_ + "/" + id, &pid, io);
  theirs.reset();
  if (!s.ok()) return fail(s.message());

  NodeLink& link = nodes_[id];
  node_pids_.erase(link.pid);
  link = NodeLink{};
  link.pid = pid;
  node_pids_[pid] = id;
  link.uplink = std::make_unique<LineChannel>(
      loop_, std::move(ours), [this, id](const nlohmann::json& m) { on_node_message(id, m); },
      nullptr);
  starting_nodes_[pid] = id;
  Status sent = link.uplink->send_nonblocking({{"t", "init"},
                                               {"path", path_ + "/" + id},
                                               {"spec", to_json(spec->second)},
                                               {"library", to_json(library_)},
                                               {"logs", to_json(log_settings_)}},
                                              kMaxQueuedDown);
  (void)sent;  // a node that cannot read its spec exits: a failed start
  link.uplink->start();
}

void SupervisorNode::on_node_message(const std::string& id, const nlohmann::json& m) {
  const std::string type = m.value("t", "");
  auto it = nodes_.find(id);
  if (type == "record") {
    if (out_.record) out_.record(nlohmann::ordered_json(m.at("r")));
  } else if (type == "state") {
    if (out_.state) out_.state(m.at("s"));
  } else if (type == "reply") {
    const CommandToken token = m.value("token", CommandToken{0});
    if (it != nodes_.end()) it->second.routed.erase(token);
    if (out_.reply) out_.reply(token, m.at("reply"));
  } else if (type == "trace") {
    if (out_.trace) out_.trace(m.value("path", ""), m.at("e"));
  } else if (type == "orphan") {
    if (out_.orphan_reaped) out_.orphan_reaped(m.value("pid", 0), m.value("reason", ""));
  } else if (type == "boot_failed") {
    if (it != nodes_.end()) it->second.boot_failure = m.value("reason", "boot failed");
  } else if (type == "booted") {
    if (it == nodes_.end() || it->second.booted) return;
    it->second.booted = true;
    starting_nodes_.erase(it->second.pid);
    core_->on_child_started(id, it->second.pid, Clock::now());
    pump();
  }
}

// ------------------------------------------------------------- commands --

void SupervisorNode::reply_error(CommandToken token, const std::string& code,
                                 const std::string& message) {
  if (out_.reply) out_.reply(token, error_reply(code, message));
}

void SupervisorNode::route(const nlohmann::json& command) {
  const CommandToken token = command.value("token", CommandToken{0});
  const std::string owner = command.value("owner", "");
  if (owner == path_ && route_message(command)) return;
  if (owner == path_) {
    Command cmd;
    try {
      cmd.kind = command_kind(command.value("kind", ""));
      cmd.child = command.value("child", "");
      cmd.signal = command.value("signal", 15);
      cmd.token = token;
      if (command.contains("spec")) cmd.spec = child_spec_from_json(command["spec"]);
      if (command.contains("supervisor_spec")) {
        // A sub-supervisor added at run time (a sandbox): its spec joins the
        // library it is started (and restarted) from.
        SupervisorSpec sub = supervisor_spec_from_json(command["supervisor_spec"]);
        library_[sub.name] = std::move(sub);
      }
      if (command.contains("new_spec")) {
        cmd.new_spec = supervisor_spec_from_json(command["new_spec"]);
        // New sub-supervisors start from the new configuration.
        // Specs added at run time (sandboxes) are kept.
        if (command.contains("library")) {
          for (auto& [name, spec] : library_from_json(command["library"])) library_[name] = spec;
          forget_own_spec();
        }
      }
    } catch (const std::exception& e) {
      reply_error(token, "bad_request", e.what());
      return;
    }
    core_->on_command(cmd, Clock::now());
    pump();
    return;
  }
  // For a supervisor below: forward to the child node on the way.
  if (owner.size() <= path_.size() + 1 || owner.compare(0, path_.size() + 1, path_ + "/") != 0) {
    reply_error(token, "not_found", "no supervisor " + owner + " under " + path_);
    return;
  }
  const std::string rest = owner.substr(path_.size() + 1);
  const std::string next = rest.substr(0, rest.find('/'));
  auto it = nodes_.find(next);
  if (it == nodes_.end() || !it->second.booted || !it->second.uplink) {
    reply_error(token, "not_running", "supervisor " + path_ + "/" + next + " is not running");
    return;
  }
  Status s =
      it->second.uplink->send_nonblocking({{"t", "command"}, {"c", command}}, kMaxQueuedDown);
  if (!s.ok()) {
    reply_error(token, "not_running", "supervisor " + path_ + "/" + next + ": " + s.message());
    return;
  }
  if (token != 0) it->second.routed.insert(token);  // 0: expects no reply (untrace)
}

bool SupervisorNode::route_message(const nlohmann::json& command) {
  const std::string kind = command.value("kind", "");
  if (kind != "call" && kind != "cast" && kind != "trace" && kind != "untrace") return false;
  const CommandToken token = command.value("token", CommandToken{0});
  const std::string child = command.value("child", "");
  if (kind == "untrace") {
    channels_->follow(child, -1);
    return true;
  }
  const Child* c = core_->find(child);
  if (c == nullptr) {
    reply_error(token, "not_found", "no child '" + child + "' under " + path_);
    return true;
  }
  if (!c->spec.channel || !channels_->has_channel(child)) {
    reply_error(token, "not_a_server",
                path_ + "/" + child + " has no message channel (set channel = true)");
    return true;
  }
  if (kind == "trace") {
    const auto n = command.value("n", std::size_t{0});
    if (out_.reply) out_.reply(token, {{"ok", true}, {"result", channels_->trace(child, n)}});
    // After the reply, so a follower sees the ring first, then what follows.
    if (command.value("follow", false)) channels_->follow(child, +1);
    return true;
  }
  const std::string name = command.value("name", "");
  const nlohmann::json args = command.value("args", nlohmann::json::array());
  if (kind == "cast") {
    channels_->cast(token, child, name, args);
  } else {
    channels_->call(token, child, name, args, Duration{command.value("timeout_ms", 5000)});
  }
  return true;
}

// No supervisor is ever started below itself (the config rejects cycles), so
// its own spec in the library is never read: the root's would be a copy of
// every top-level child spec.
void SupervisorNode::forget_own_spec() {
  library_.erase(core_->spec().name);
}

// --------------------------------------------------------------- timers --

void SupervisorNode::arm_timer(TimerId id, Duration after) {
  cancel_timer(id);
  timers_[id] = deadlines_.emplace(Clock::now() + after, id);
}

void SupervisorNode::cancel_timer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  deadlines_.erase(it->second);
  timers_.erase(it);
}

void SupervisorNode::on_timer() {
  const TimePoint t = Clock::now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= t) {
    const TimerId id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    timers_.erase(id);
    core_->on_timer(id, t);
    pump();
  }
  rearm_uv_timer();
}

// One uv timer serves every deadline: armed for the earliest, stopped when
// there is none (an idle supervisor has no timer at all).
void SupervisorNode::rearm_uv_timer() {
  if (!handles_open_) return;
  if (deadlines_.empty()) {
    uv_timer_stop(&timer_);
    return;
  }
  uv_update_time(loop_);
  const auto wait = deadlines_.begin()->first - Clock::now();
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  uv_timer_start(
      &timer_, [](uv_timer_t* h) { static_cast<SupervisorNode*>(h->data)->on_timer(); },
      static_cast<std::uint64_t>(ms < 0 ? 0 : ms), 0);
}

// Once per turn of the loop at most, just before the loop waits for events
// again: the state holds the whole intensity window, which a storm of N
// restarts grows to N, so one message per event would cost O(N^2) to build,
// compare and apply.
void SupervisorNode::publish_state_soon() {
  if (!handles_open_) return publish_state();
  if (uv_is_active(as_handle(&publish_))) return;
  uv_prepare_start(&publish_,
                   [](uv_prepare_t* h) { static_cast<SupervisorNode*>(h->data)->publish_state(); });
}

// Tells the root's mirror what it cannot learn from records: pause state and
// the restart-intensity window (steady-clock times, which every process on
// the machine shares). Settles a publish_state_soon() that is due.
void SupervisorNode::publish_state() {
  if (handles_open_) uv_prepare_stop(&publish_);
  if (!out_.state) return;
  nlohmann::json times = nlohmann::json::array();
  for (TimePoint t : core_->intensity_window()) {
    times.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
  }
  nlohmann::json state{{"path", path_}, {"paused", core_->paused()}, {"restart_times_ns", times}};
  if (!status_texts_.empty()) state["child_status"] = status_texts_;
  if (state == last_state_) return;
  last_state_ = state;
  out_.state(std::move(state));
}

}  // namespace otpsup
