#include "daemon/node_process.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>

#include "daemon/line_channel.h"
#include "daemon/supervisor_node.h"
#include "os/child_sweep.h"
#include "os/release_memory.h"
#include "otpsup/spec_json.h"

namespace otpsup {

namespace {

constexpr int kUplinkFd = 3;
// Stopped by a SIGTERM its supervisor did not send: an abnormal exit.
constexpr int kForeignStopExitCode = 1;

// Reads the init line byte by byte (it is read once), so nothing after it is
// consumed before libuv takes over the descriptor.
bool read_init_line(std::string* line) {
  char c;
  for (;;) {
    const ssize_t n = ::read(kUplinkFd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (c == '\n') return true;
    line->push_back(c);
    if (line->size() > (16u << 20)) return false;
  }
}

// The supervisor this node was started by (getppid() at start).
pid_t g_supervisor_pid = 0;

// kNodeParentDeathSignal handler. Async-signal-safe: getppid, kill, waitpid,
// open/read/close (child_sweep), _exit.
void on_parent_death_signal(int) {
  if (::getppid() == g_supervisor_pid) return;  // not a parent death: ignore
  kill_and_reap_all_children();
  ::_exit(kNodeParentDiedExitCode);
}

void install_parent_death_handler() {
  g_supervisor_pid = ::getppid();
  struct sigaction sa {};
  sa.sa_handler = on_parent_death_signal;
  ::sigfillset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  // A supervisor that died before this point has already killed us: the
  // signal's default action (spawn resets it) terminates the process.
  ::sigaction(kNodeParentDeathSignal, &sa, nullptr);
}

void node_warn(const std::string& path, const std::string& message) {
  std::fprintf(stderr, "otpsupd[%s]: %s\n", path.c_str(), message.c_str());
}

}  // namespace

int run_node_process(const std::string& self_exe) {
  install_parent_death_handler();
  std::string line;
  if (!read_init_line(&line)) {
    node_warn("node", "no init message on the uplink (fd 3): otpsupd --node is started by otpsupd");
    return 2;
  }
  nlohmann::json init = nlohmann::json::parse(line, nullptr, false);
  std::string path;
  SupervisorSpec spec;
  SpecLibrary library;
  OutputLogSettings logs;
  try {
    path = init.at("path").get<std::string>();
    spec = supervisor_spec_from_json(init.at("spec"));
    library = library_from_json(init.at("library"));
    if (init.contains("logs")) logs = output_log_settings_from_json(init["logs"]);
  } catch (const std::exception& e) {
    node_warn("node", std::string("bad init message: ") + e.what());
    return 2;
  }
  // Parsed: the message (the whole library as text and as JSON) is not kept
  // for the life of the node.
  init = nlohmann::json();
  std::string().swap(line);

  ::signal(SIGPIPE, SIG_IGN);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 0;
  bool stop_requested = false;  // our supervisor said it is stopping us
  bool foreign_signal = false;  // a SIGTERM from someone else
  std::unique_ptr<SupervisorNode> node;
  uv_signal_t sigterm{};

  auto up = std::make_unique<LineChannel>(
      &loop, UniqueFd(kUplinkFd),
      [&](const nlohmann::json& m) {
        if (m.value("t", "") == "command" && node) node->route(m.at("c"));
        if (m.value("t", "") == "stop") stop_requested = true;
      },
      [&] {
        if (node) node->shutdown();  // the parent is gone
      });
  auto send_up = [&](nlohmann::json message) {
    Status s = up->send(message);
    (void)s;  // a parent that is gone is noticed by the read side
  };

  SupervisorNode::Output out;
  out.record = [&](nlohmann::ordered_json r) { send_up({{"t", "record"}, {"r", r}}); };
  out.reply = [&](CommandToken t, nlohmann::json r) {
    send_up({{"t", "reply"}, {"token", t}, {"reply", r}});
  };
  out.state = [&](nlohmann::json s) { send_up({{"t", "state"}, {"s", s}}); };
  out.booted = [&] {
    send_up({{"t", "booted"}});
    release_free_memory();  // the init message and the starts' temporaries
  };
  out.trace = [&](const std::string& child_path, const nlohmann::json& entry) {
    send_up({{"t", "trace"}, {"path", child_path}, {"e", entry}});
  };
  out.orphan_reaped = [&](int pid, const std::string& reason) {
    send_up({{"t", "orphan"}, {"pid", pid}, {"reason", reason}});
  };
  out.exited = [&](const ExitAction& e) {
    switch (e.kind) {
      case ExitAction::Kind::normal:
        exit_code = foreign_signal ? kForeignStopExitCode : 0;
        break;
      case ExitAction::Kind::gave_up:
        exit_code = kSupervisorGaveUpExitCode;
        break;
      case ExitAction::Kind::boot_failed:
        exit_code = 4;
        send_up({{"t", "boot_failed"}, {"reason", e.reason}});
        break;
    }
    node->close();
    up->close();
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
  };
  node = std::make_unique<SupervisorNode>(&loop, path, std::move(spec), std::move(library),
                                          self_exe, std::move(logs), std::move(out));

  struct TermContext {
    SupervisorNode* node;
    LineChannel* up;
    bool* stop_requested;
    bool* foreign_signal;
  } term{node.get(), up.get(), &stop_requested, &foreign_signal};
  uv_signal_init(&loop, &sigterm);
  sigterm.data = &term;
  uv_signal_start(
      &sigterm,
      [](uv_signal_t* h, int) {
        auto* t = static_cast<TermContext*>(h->data);
        // Our supervisor writes "stop" before it signals: read what has
        // come, or the two events' order on the loop would decide.
        t->up->drain();
        if (!*t->stop_requested) *t->foreign_signal = true;
        t->node->shutdown();
      },
      SIGTERM);
  up->start();
  node->start();
  uv_run(&loop, UV_RUN_DEFAULT);
  node.reset();
  up.reset();
  uv_loop_close(&loop);
  return exit_code;
}

}  // namespace otpsup
