#include "os/pid_namespace.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace otpsup {

namespace {

constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP};
constexpr int kStartupError = 2;  // DaemonExit::startup_error

volatile sig_atomic_t g_inner_pid = 0;
volatile sig_atomic_t g_stop_forwarded = 0;  // a SIGTERM or SIGINT was forwarded

// Installed without SA_RESTART: the outer process's read and waitpid return
// EINTR, and it then tells the service manager STOPPING=1 (see OuterWait).
void forward_signal(int signum) {
  const int saved = errno;
  if (g_inner_pid > 0) ::kill(static_cast<pid_t>(g_inner_pid), signum);
  if (signum != SIGHUP) g_stop_forwarded = 1;
  errno = saved;
}

// Sends STOPPING=1 once, after the first forwarded SIGTERM or SIGINT.
struct StoppingReport {
  const ServiceNotifier& notifier;
  bool sent = false;
  void check() {
    if (g_stop_forwarded != 0) report();
  }
  // The inner daemon said it is stopping (otpsupctl shutdown, or a signal).
  void report() {
    if (sent) return;
    sent = true;
    notifier.notify("STOPPING=1");
  }
};

void write_all(int fd, const std::string& text) {
  if (fd < 0) return;
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

std::string read_all(int fd, StoppingReport* stopping = nullptr) {
  std::string text;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      if (stopping != nullptr) stopping->check();
      continue;
    }
    if (n <= 0) return text;
    text.append(buf, static_cast<std::size_t>(n));
  }
}

// Reads up to and including the first '\n' (or to EOF), one byte at a time:
// what follows the line stays in the pipe.
std::string read_line(int fd, StoppingReport* stopping) {
  std::string line;
  char c;
  for (;;) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) {
      stopping->check();
      continue;
    }
    if (n <= 0) return line;
    line += c;
    if (c == '\n') return line;
  }
}

PidNamespaceEntry failed(const std::string& what, int err, int ready_fd) {
  const std::string message =
      "--pid-namespace: " + what + (err != 0 ? std::string(": ") + std::strerror(err) : "");
  std::fprintf(stderr, "otpsupd: %s\n", message.c_str());
  write_all(ready_fd, message + "\n");
  if (ready_fd >= 0) ::close(ready_fd);
  PidNamespaceEntry e;
  e.exit_code = kStartupError;
  return e;
}

bool write_file(const char* path, const std::string& text) {
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd) return false;
  return ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

// unshare(PID + mount namespaces); through a user namespace mapping only our
// own ids when that is not permitted. Returns 0 or the errno.
int unshare_namespaces() {
  if (::unshare(CLONE_NEWPID | CLONE_NEWNS) == 0) return 0;
  const int err = errno;
  if (err != EPERM || ::geteuid() == 0) return err;
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (::unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS) < 0) return errno;
  if (!write_file("/proc/self/setgroups", "deny") ||
      !write_file("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1") ||
      !write_file("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1")) {
    return errno != 0 ? errno : EPERM;
  }
  return 0;
}

// The outer process after fork: forward signals, relay readiness, wait.
int run_outer(pid_t inner, UniqueFd ready_read, const ServiceNotifier& notifier, int ready_fd) {
  g_inner_pid = inner;
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sa.sa_flags = 0;
  ::sigemptyset(&sa.sa_mask);
  for (int sig : kForwarded) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  unblock_daemon_signals();

  StoppingReport stopping{notifier};
  // "ok\n" once the tree is up (and later "stopping\n" when an orderly
  // shutdown begins, whoever asked for it), or the startup error then EOF.
  std::string message = read_line(ready_read.get(), &stopping);
  const bool up = message == "ok\n";
  if (!up) message += read_all(ready_read.get(), &stopping);
  if (up && !stopping.sent) {
    notifier.notify("READY=1\nSTATUS=supervising the tree in its own PID namespace");
  }
  write_all(ready_fd, message);
  if (ready_fd >= 0) ::close(ready_fd);
  // Told as soon as the line comes, not when the pipe closes at the end.
  for (std::string line; up && !(line = read_line(ready_read.get(), &stopping)).empty();) {
    if (line == "stopping\n") stopping.report();
  }
  ready_read.reset();

  int status = 0;
  stopping.check();
  while (::waitpid(inner, &status, 0) < 0) {
    if (errno != EINTR) return kStartupError;
    stopping.check();
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

void block_daemon_signals() {
  sigset_t set;
  ::sigemptyset(&set);
  for (int sig : kForwarded) ::sigaddset(&set, sig);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
}

void unblock_daemon_signals() {
  sigset_t set;
  ::sigemptyset(&set);
  for (int sig : kForwarded) ::sigaddset(&set, sig);
  ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

PidNamespaceEntry enter_pid_namespace(const ServiceNotifier& notifier, int ready_fd) {
  // The operator's /proc, opened before anything is unshared or mounted.
  UniqueFd outer_proc(::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!outer_proc) return failed("open /proc", errno, ready_fd);
  if (const int err = unshare_namespaces(); err != 0) {
    return failed("cannot create a PID namespace (unshare)", err, ready_fd);
  }
  int ready[2], alive[2];
  if (::pipe2(ready, O_CLOEXEC) < 0) return failed("pipe2", errno, ready_fd);
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  if (::pipe2(alive, O_CLOEXEC) < 0) return failed("pipe2", errno, ready_fd);
  UniqueFd alive_read(alive[0]), alive_write(alive[1]);

  block_daemon_signals();
  const pid_t inner = ::fork();
  if (inner < 0) return failed("fork", errno, ready_fd);
  if (inner > 0) {
    PidNamespaceEntry outer;
    alive_read.reset();
    ready_write.reset();
    outer.exit_code = run_outer(inner, std::move(ready_read), notifier, ready_fd);
    return outer;  // alive_write closes when the outer process exits
  }

  // The inner init (pid 1). Its parent is outside the namespace, so
  // getppid() is 0 here: whether the outer process is still alive after
  // PR_SET_PDEATHSIG is armed is read from the pipe only it holds open.
  if (ready_fd >= 0) ::close(ready_fd);
  ready_read.reset();
  alive_write.reset();
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) ::_exit(kStartupError);
  pollfd p{alive_read.get(), POLLIN, 0};
  if (::poll(&p, 1, 0) != 0) ::_exit(kStartupError);  // EOF: the outer process is gone
  alive_read.reset();
  auto fail = [&](const char* what) {
    const int err = errno;
    const std::string message =
        std::string("--pid-namespace: ") + what + ": " + std::strerror(err) + "\n";
    std::fputs(("otpsupd: " + message).c_str(), stderr);
    write_all(ready_write.get(), message);
    ::_exit(kStartupError);
  };
  // Our mounts must not propagate out; the host's still propagate in.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0) fail("make / a slave mount");
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0) {
    fail("mount a fresh /proc");
  }
  PidNamespaceEntry entry;
  entry.inner = true;
  entry.outer_proc = std::move(outer_proc);
  entry.ready_fd = ready_write.release();
  return entry;
}

}  // namespace otpsup
