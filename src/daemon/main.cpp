// otpsupd: command line, configuration, background mode; then Daemon::run.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "daemon/daemon.h"
#include "daemon/node_process.h"
#include "os/fd_limit.h"
#include "os/pid_namespace.h"
#include "os/self_exe.h"
#include "otpsup/config.h"
#include "otpsup/paths.h"

using namespace otpsup;

namespace {

constexpr const char* kDemoSource = "<built-in demo>";

ConfigLoad load(const std::string& path) {
  ConfigContext ctx;
  ctx.self_dir = self_exe_dir();
  if (const char* p = std::getenv("PATH")) ctx.path_env = p;
  std::error_code ec;
  ctx.base_dir = std::filesystem::current_path(ec).string();
  if (path.empty()) return load_config_text(embedded_demo_config(), kDemoSource, ctx);
  return load_config_file(path, ctx);
}

std::string absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return (std::filesystem::current_path() / path).lexically_normal().string();
}

int report(const ConfigLoad& load) {
  for (const ConfigError& e : load.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  return static_cast<int>(DaemonExit::config_error);
}

// Background mode: the parent returns once the tree is up (0) or failed (1).
// Returns the write end of the readiness pipe in the daemon process.
int daemonize() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) {
    std::perror("otpsupd: pipe2");
    std::exit(2);
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("otpsupd: fork");
    std::exit(2);
  }
  if (pid > 0) {
    unblock_daemon_signals();  // the invoking process stays interruptible
    ::close(fds[1]);
    std::string message;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) message.append(buf, static_cast<size_t>(n));
    if (message == "ok\n") std::exit(0);
    std::fprintf(stderr, "otpsupd: %s",
                 message.empty() ? "daemon exited during start\n" : message.c_str());
    std::exit(1);
  }
  ::close(fds[0]);
  ::setsid();
  if (::chdir("/") < 0) std::perror("otpsupd: chdir /");
  const int null_fd = ::open("/dev/null", O_RDWR);
  if (null_fd >= 0) {
    ::dup2(null_fd, 0);
    ::dup2(null_fd, 1);
    ::dup2(null_fd, 2);
    if (null_fd > 2) ::close(null_fd);
  }
  return fds[1];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "otpsupd - supervise OS processes with Erlang/OTP semantics.\n"
      "Runs the supervision tree of the configuration (the built-in demo tree without -c),\n"
      "serves otpsupctl on a Unix socket and keeps an append-only restart history.\n"
      "See otpsupd(8) and otpsup.toml(5).",
      "otpsupd"};
  std::string config_path, socket_path, state_dir, check_path;
  bool foreground = false;
  bool node_mode = false;
  bool pid_namespace = false;
  app.add_option("-c,--config", config_path, "configuration file (default: the built-in demo)");
  app.add_option("--socket", socket_path, "control socket path (overrides [daemon] socket)");
  app.add_option("--state-dir", state_dir,
                 "directory of the history log (overrides [daemon] state_dir)");
  app.add_flag("--foreground", foreground,
               "stay in the foreground (default: detach once the tree is up)");
  app.add_flag("--pid-namespace", pid_namespace,
               "run the tree in a new PID namespace (root, or through a user namespace):\n"
               "kill -9 of otpsupd then leaves no process of the tree behind");
  CLI::Option* check =
      app.add_option("--check", check_path,
                     "only validate FILE (or the -c file, or the demo) and exit 0/1")
          ->expected(0, 1);
  app.add_flag("--node", node_mode, "internal: run as a sub-supervisor started by otpsupd")
      ->group("");
  app.set_version_flag("--version", "otpsupd 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(DaemonExit::config_error);
  }

  if (check->count() > 0) {
    const std::string path = check_path.empty() ? config_path : check_path;
    ConfigLoad result = load(path);
    if (!result.ok()) return report(result);
    const Config& c = *result.config;
    std::size_t workers = 0;
    for (const auto& [name, s] : c.supervisors) {
      for (const auto& child : s.children) workers += child.is_supervisor ? 0 : 1;
    }
    std::printf("%s: ok (%zu supervisors, %zu workers)\n", c.source.c_str(), c.supervisors.size(),
                workers);
    return 0;
  }

  raise_fd_limit();  // many children: see os/fd_limit.h
  if (node_mode) return run_node_process(self_exe_path());

  ConfigLoad result = load(config_path);
  if (!result.ok()) return report(result);

  DaemonOptions options;
  options.config = std::move(*result.config);
  options.socket_path = !socket_path.empty()                    ? socket_path
                        : !options.config.daemon.socket.empty() ? options.config.daemon.socket
                                                                : default_socket_path();
  options.state_dir = !state_dir.empty()                         ? state_dir
                      : !options.config.daemon.state_dir.empty() ? options.config.daemon.state_dir
                                                                 : default_state_dir();
  // Background mode changes directory to /: relative paths are resolved now.
  options.socket_path = absolute(options.socket_path);
  options.state_dir = absolute(options.state_dir);
  options.foreground = foreground;
  options.notifier = ServiceNotifier::from_environment();
  options.self_exe = self_exe_path();
  options.config_path = config_path.empty() ? "" : absolute(config_path);
  options.lookup.self_dir = self_exe_dir();
  std::error_code cwd_error;
  options.lookup.base_dir = std::filesystem::current_path(cwd_error).string();
  if (const char* p = std::getenv("PATH")) options.lookup.path_env = p;
  // A pid 1 (in a container, or the init of --pid-namespace) drops signals
  // it has no handler for: these stay pending until the daemon's are installed.
  block_daemon_signals();
  if (!foreground) options.ready_fd = daemonize();
  if (pid_namespace) {
    PidNamespaceEntry entry = enter_pid_namespace(options.notifier, options.ready_fd);
    if (!entry.inner) {
      // The outer process, once the inner init has exited (or could not be
      // made). Its children would be created in the namespace, dead now, so
      // nothing may fork here any more, not even LeakSanitizer's exit check:
      // leave at once (nothing is left to release).
      std::fflush(nullptr);
      ::_exit(entry.exit_code);
    }
    options.ready_fd = entry.ready_fd;
    options.ready_fd_relays_stopping = true;
    options.pids = PidView(std::move(entry.outer_proc));
    options.notifier = ServiceNotifier();  // readiness goes through the outer process
  }
  Daemon daemon(std::move(options));
  return static_cast<int>(daemon.run());
}
