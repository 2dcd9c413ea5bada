#include "os/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "otpsup/unique_fd.h"

extern char** environ;

namespace otpsup {

namespace {

// What the child reports over the error pipe when it cannot reach execve.
enum class Stage : int {
  setsid = 1,
  stdin_null,
  chdir,
  pdeathsig,
  parent_died,
  exec,
  uplink,
  output,
  ready_fd
};

struct ChildFailure {
  Stage stage;
  int error;
};

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::setsid:
      return "setsid";
    case Stage::stdin_null:
      return "redirect stdin";
    case Stage::chdir:
      return "chdir";
    case Stage::pdeathsig:
      return "prctl(PR_SET_PDEATHSIG)";
    case Stage::parent_died:
      return "supervisor died during start";
    case Stage::exec:
      return "exec";
    case Stage::uplink:
      return "pass the uplink";
    case Stage::output:
      return "redirect stdout/stderr";
    case Stage::ready_fd:
      return "pass the ready fd";
  }
  return "start";
}

// argv/envp as NUL-terminated arrays of pointers into owned strings.
struct CStringArray {
  std::vector<std::string> storage;
  std::vector<char*> pointers;
  char** finish() {
    pointers.clear();
    for (auto& s : storage) pointers.push_back(s.data());
    pointers.push_back(nullptr);
    return pointers.data();
  }
};

bool is_kept_when_clearing(std::string_view entry) {
  for (std::string_view name : {"PATH=", "HOME=", "USER=", "LANG="}) {
    if (entry.substr(0, name.size()) == name) return true;
  }
  return false;
}

CStringArray build_environment(const ChildSpec& spec, const std::string& child_path) {
  CStringArray env;
  auto overridden = [&](std::string_view entry) {
    const auto eq = entry.find('=');
    const std::string name(entry.substr(0, eq));
    return spec.env.count(name) > 0 || name == "OTPSUP_CHILD_PATH";
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (spec.clear_env && !is_kept_when_clearing(entry)) continue;
    if (overridden(entry)) continue;
    env.storage.emplace_back(entry);
  }
  for (const auto& [name, value] : spec.env) env.storage.push_back(name + "=" + value);
  env.storage.push_back("OTPSUP_CHILD_PATH=" + child_path);
  return env;
}

[[noreturn]] void fail_in_child(int error_fd, Stage stage, int err) {
  const ChildFailure failure{stage, err};
  ssize_t ignored = ::write(error_fd, &failure, sizeof failure);
  (void)ignored;
  ::_exit(127);
}

// Runs in the forked child. Async-signal-safe calls only.
[[noreturn]] void exec_child(const char* executable, char** argv, char** envp, const char* cwd,
                             int dev_null, int error_fd, pid_t supervisor_pid, int fd_limit,
                             int uplink_fd, int out_fd, int err_fd, int ready_fd,
                             int ready_number) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (::setsid() < 0) fail_in_child(error_fd, Stage::setsid, errno);
  if (::dup2(dev_null, STDIN_FILENO) < 0) fail_in_child(error_fd, Stage::stdin_null, errno);
  if (out_fd >= 0 && ::dup2(out_fd, STDOUT_FILENO) < 0) {
    fail_in_child(error_fd, Stage::output, errno);
  }
  if (err_fd >= 0 && ::dup2(err_fd, STDERR_FILENO) < 0) {
    fail_in_child(error_fd, Stage::output, errno);
  }
  // Every descriptor used here is >= 10 (see spawn_worker), so fd 3 is free.
  if (uplink_fd >= 0 && ::dup2(uplink_fd, 3) < 0) fail_in_child(error_fd, Stage::uplink, errno);
  const unsigned first_closed = uplink_fd >= 0 ? 4U : 3U;
  // Every descriptor used here is above ready_number (see spawn_worker).
  if (ready_fd >= 0 && ::dup2(ready_fd, ready_number) < 0) {
    fail_in_child(error_fd, Stage::ready_fd, errno);
  }
  if (cwd != nullptr && ::chdir(cwd) < 0) fail_in_child(error_fd, Stage::chdir, errno);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) fail_in_child(error_fd, Stage::pdeathsig, errno);
  if (::getppid() != supervisor_pid) fail_in_child(error_fd, Stage::parent_died, 0);
  // Nothing of the daemon's beyond 0, 1, 2 may reach the program.
  // The ready fd (a number >= first_closed) is the one exception.
  constexpr unsigned kCloexec = 4U;  // CLOSE_RANGE_CLOEXEC
  bool marked;
  if (ready_fd >= 0) {
    const auto keep = static_cast<unsigned>(ready_number);
    marked = (keep == first_closed ||
              ::syscall(SYS_close_range, first_closed, keep - 1, kCloexec) == 0) &&
             ::syscall(SYS_close_range, keep + 1, ~0U, kCloexec) == 0;
  } else {
    marked = ::syscall(SYS_close_range, first_closed, ~0U, kCloexec) == 0;
  }
  if (!marked) {
    // Kernels before 5.11: close them one by one (all but the error pipe).
    for (int fd = static_cast<int>(first_closed); fd < fd_limit; ++fd) {
      if (fd != error_fd && (ready_fd < 0 || fd != ready_number)) ::close(fd);
    }
  }
  ::execve(executable, argv, envp);
  fail_in_child(error_fd, Stage::exec, errno);
}

}  // namespace

namespace {
// A close-on-exec copy of `fd` numbered `floor` (10, or above the ready fd's
// number) or more, so that dup2 onto 0, 3 and the ready fd in the child can
// never overwrite a descriptor it still needs.
UniqueFd copy_at_least(int fd, int floor) {
  return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, floor));
}
}  // namespace

Status spawn_worker(const ChildSpec& spec, const std::string& child_path, int* pid,
                    const ChildIo& io) {
  CStringArray argv;
  argv.storage = spec.command;
  char** argv_ptrs = argv.finish();
  CStringArray env = build_environment(spec, child_path);
  char** env_ptrs = env.finish();
  const std::string& executable = spec.executable.empty() ? spec.command.at(0) : spec.executable;
  const char* cwd = spec.cwd ? spec.cwd->c_str() : nullptr;
  const int floor = std::max(10, io.ready_fd >= 0 ? io.ready_fd_number + 1 : 0);
  auto above_ten = [floor](int fd) { return copy_at_least(fd, floor); };

  UniqueFd dev_null_low(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!dev_null_low) return Status::from_errno("open", "/dev/null", errno);
  UniqueFd dev_null = above_ten(dev_null_low.get());
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return Status::from_errno("pipe2", "", errno);
  UniqueFd error_read(pipe_fds[0]);
  UniqueFd error_write_low(pipe_fds[1]);
  UniqueFd error_write = above_ten(error_write_low.get());
  error_write_low.reset();
  UniqueFd uplink = io.fd3 >= 0 ? above_ten(io.fd3) : UniqueFd();
  // stdout/stderr: a copy >= 10 of the given fd (or -1: untouched / /dev/null).
  UniqueFd out = io.out >= 0 ? above_ten(io.out) : UniqueFd();
  UniqueFd err = io.err >= 0 ? above_ten(io.err) : UniqueFd();
  UniqueFd ready = io.ready_fd >= 0 ? above_ten(io.ready_fd) : UniqueFd();
  if (!dev_null || !error_write || (io.fd3 >= 0 && !uplink) || (io.out >= 0 && !out) ||
      (io.err >= 0 && !err) || (io.ready_fd >= 0 && !ready)) {
    return Status::from_errno("fcntl(F_DUPFD_CLOEXEC)", "", errno);
  }
  auto child_output = [&](int given, const UniqueFd& copy) {
    return given == ChildIo::kDevNull ? dev_null.get() : (copy ? copy.get() : -1);
  };

  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t supervisor_pid = ::getpid();
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  const int fd_limit = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 65536));
  const pid_t child = ::fork();
  if (child == 0) {
    exec_child(executable.c_str(), argv_ptrs, env_ptrs, cwd, dev_null.get(), error_write.get(),
               supervisor_pid, fd_limit, uplink ? uplink.get() : -1, child_output(io.out, out),
               child_output(io.err, err), ready ? ready.get() : -1, io.ready_fd_number);
  }
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (child < 0) return Status::from_errno("fork", executable, fork_errno);
  error_write.reset();

  ChildFailure failure{};
  ssize_t n;
  do {
    n = ::read(error_read.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == 0) {
    *pid = child;
    return Status::ok_status();
  }
  // The child failed before execve and has exited (or is about to): reap it
  // here so no zombie and no stray exit event remains.
  int status;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof failure)) {
    return Status::error("start " + executable + ": child failed before exec");
  }
  const std::string object = failure.stage == Stage::chdir && cwd ? std::string(cwd) : executable;
  if (failure.stage == Stage::parent_died) return Status::error(stage_name(failure.stage));
  return Status::from_errno(stage_name(failure.stage), object, failure.error);
}

}  // namespace otpsup
