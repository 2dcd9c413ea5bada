#include "os/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grp.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <vector>

#include "os/credentials.h"
#include "os/fd_limit.h"
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
  setrlimit,
  nice,
  setgroups,
  setgid,
  setuid,
  no_new_privs,
  ready_fd
};

struct ChildFailure {
  Stage stage;
  int error;
  int detail;  // setrlimit: index into ChildPlan::limits
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
    case Stage::setrlimit:
      return "setrlimit";
    case Stage::nice:
      return "setpriority";
    case Stage::setgroups:
      return "setgroups";
    case Stage::setgid:
      return "setgid";
    case Stage::setuid:
      return "setuid";
    case Stage::no_new_privs:
      return "prctl(PR_SET_NO_NEW_PRIVS)";
    case Stage::ready_fd:
      return "pass the ready fd";
  }
  return "start";
}

// Everything the child does between fork and execve, decided before fork:
// the child only reads this (no allocation, no lookups).
struct ChildPlan {
  const char* executable = nullptr;
  char** argv = nullptr;
  char** envp = nullptr;
  const char* cwd = nullptr;
  int dev_null = -1;
  int error_fd = -1;
  pid_t supervisor_pid = 0;
  int fd_limit = 0;
  int uplink_fd = -1;
  int out_fd = -1;
  int err_fd = -1;
  int ready_fd = -1;  // becomes fd ready_number (>= first closed fd) when >= 0
  int ready_number = -1;
  int death_signal = SIGKILL;
  int umask = -1;  // -1: inherited
  struct Limit {
    int resource;
    rlimit value;
  };
  std::vector<Limit> limits;
  bool set_nice = false;
  int nice = 0;
  bool change_identity = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool no_new_privs = false;
};

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

// The daemon's environment (or only PATH, HOME, USER, LANG with clear_env),
// then, for a worker with a `user`, that user's HOME, USER and LOGNAME, then
// the spec's env, then OTPSUP_CHILD_PATH. Later entries replace earlier ones.
CStringArray build_environment(const ChildSpec& spec, const std::string& child_path,
                               const Credentials* identity) {
  std::map<std::string, std::string> set;
  if (identity != nullptr && !identity->user_name.empty()) {
    set["HOME"] = identity->home;
    set["USER"] = identity->user_name;
    set["LOGNAME"] = identity->user_name;
  }
  for (const auto& [name, value] : spec.env) set[name] = value;
  set["OTPSUP_CHILD_PATH"] = child_path;
  CStringArray env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (spec.clear_env && !is_kept_when_clearing(entry)) continue;
    if (set.count(std::string(entry.substr(0, entry.find('=')))) > 0) continue;
    env.storage.emplace_back(entry);
  }
  for (const auto& [name, value] : set) env.storage.push_back(name + "=" + value);
  return env;
}

[[noreturn]] void fail_in_child(int error_fd, Stage stage, int err, int detail = 0) {
  const ChildFailure failure{stage, err, detail};
  ssize_t ignored = ::write(error_fd, &failure, sizeof failure);
  (void)ignored;
  ::_exit(127);
}

// Runs in the forked child. Async-signal-safe calls only, in DESIGN §1's
// order: signals, setsid, descriptors, chdir, umask, setrlimit, nice,
// setgroups -> setgid -> setuid, no_new_privs, and PDEATHSIG last (a
// credential change clears it), then the getppid() check.
[[noreturn]] void exec_child(const ChildPlan& p) {
  const int error_fd = p.error_fd;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (::setsid() < 0) fail_in_child(error_fd, Stage::setsid, errno);
  if (::dup2(p.dev_null, STDIN_FILENO) < 0) fail_in_child(error_fd, Stage::stdin_null, errno);
  if (p.out_fd >= 0 && ::dup2(p.out_fd, STDOUT_FILENO) < 0) {
    fail_in_child(error_fd, Stage::output, errno);
  }
  if (p.err_fd >= 0 && ::dup2(p.err_fd, STDERR_FILENO) < 0) {
    fail_in_child(error_fd, Stage::output, errno);
  }
  // Every descriptor used here is >= 10 (see spawn_worker), so fd 3 is free.
  if (p.uplink_fd >= 0 && ::dup2(p.uplink_fd, 3) < 0) {
    fail_in_child(error_fd, Stage::uplink, errno);
  }
  const unsigned first_closed = p.uplink_fd >= 0 ? 4U : 3U;
  // Every descriptor used here is above ready_number (see spawn_worker).
  if (p.ready_fd >= 0 && ::dup2(p.ready_fd, p.ready_number) < 0) {
    fail_in_child(error_fd, Stage::ready_fd, errno);
  }
  if (p.cwd != nullptr && ::chdir(p.cwd) < 0) fail_in_child(error_fd, Stage::chdir, errno);
  if (p.umask >= 0) ::umask(static_cast<mode_t>(p.umask));
  for (std::size_t i = 0; i < p.limits.size(); ++i) {
    if (::setrlimit(p.limits[i].resource, &p.limits[i].value) < 0) {
      fail_in_child(error_fd, Stage::setrlimit, errno, static_cast<int>(i));
    }
  }
  if (p.set_nice && ::setpriority(PRIO_PROCESS, 0, p.nice) < 0) {
    fail_in_child(error_fd, Stage::nice, errno);
  }
  if (p.change_identity) {
    if (::setgroups(p.groups.size(), p.groups.data()) < 0) {
      fail_in_child(error_fd, Stage::setgroups, errno);
    }
    if (::setgid(p.gid) < 0) fail_in_child(error_fd, Stage::setgid, errno);
    if (::setuid(p.uid) < 0) fail_in_child(error_fd, Stage::setuid, errno);
  }
  if (p.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    fail_in_child(error_fd, Stage::no_new_privs, errno);
  }
  if (::prctl(PR_SET_PDEATHSIG, p.death_signal) < 0) {
    fail_in_child(error_fd, Stage::pdeathsig, errno);
  }
  if (::getppid() != p.supervisor_pid) fail_in_child(error_fd, Stage::parent_died, 0);
  // Nothing of the daemon's beyond 0, 1, 2 (and 3 when given) may reach the
  // program; the ready fd (a number >= first_closed) is the one exception.
  constexpr unsigned kCloexec = 4U;  // CLOSE_RANGE_CLOEXEC
  bool marked;
  if (p.ready_fd >= 0) {
    const auto keep = static_cast<unsigned>(p.ready_number);
    marked = (keep == first_closed ||
              ::syscall(SYS_close_range, first_closed, keep - 1, kCloexec) == 0) &&
             ::syscall(SYS_close_range, keep + 1, ~0U, kCloexec) == 0;
  } else {
    marked = ::syscall(SYS_close_range, first_closed, ~0U, kCloexec) == 0;
  }
  if (!marked) {
    // Kernels before 5.11: close them one by one (all but the error pipe).
    for (int fd = static_cast<int>(first_closed); fd < p.fd_limit; ++fd) {
      if (fd != error_fd && (p.ready_fd < 0 || fd != p.ready_number)) ::close(fd);
    }
  }
  ::execve(p.executable, p.argv, p.envp);
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

namespace {

// "setuid(nobody)", "setrlimit(nofile)": the failed call and what it was for.
std::string failed_call(Stage stage, const ChildFailure& failure, const ChildSpec& spec,
                        const Credentials& identity, const ChildPlan& plan) {
  const std::string call = stage_name(stage);
  switch (stage) {
    case Stage::setrlimit: {
      auto it = spec.rlimits.begin();
      // plan.limits: the spec's, in its order, then possibly nofile (fd_limit.h).
      if (failure.detail >= 0 && static_cast<std::size_t>(failure.detail) < spec.rlimits.size()) {
        std::advance(it, failure.detail);
        return call + "(" + it->first + ")";
      }
      if (failure.detail >= 0 && static_cast<std::size_t>(failure.detail) < plan.limits.size()) {
        return call + "(nofile)";
      }
      return call;
    }
    case Stage::nice:
      return call + "(" + std::to_string(plan.nice) + ")";
    case Stage::setgroups:
    case Stage::setuid:
      return call + "(" +
             (identity.user_name.empty() ? std::to_string(identity.uid) : identity.user_name) + ")";
    case Stage::setgid:
      return call + "(" + identity.group_name + ")";
    default:
      return call;
  }
}

}  // namespace

Status spawn_worker(const ChildSpec& spec, const std::string& child_path, int* pid,
                    const ChildIo& io) {
  // Names are resolved here, before fork: NSS lookups are not for the child.
  Credentials identity;
  const bool has_identity = spec.user || spec.group;
  if (has_identity) {
    if (Status s = resolve_credentials(spec.user, spec.group, &identity); !s.ok()) return s;
  }
  CStringArray argv;
  argv.storage = spec.command;
  CStringArray env = build_environment(spec, child_path, has_identity ? &identity : nullptr);
  const std::string& executable = spec.executable.empty() ? spec.command.at(0) : spec.executable;

  ChildPlan plan;
  plan.executable = executable.c_str();
  plan.argv = argv.finish();
  plan.envp = env.finish();
  plan.cwd = spec.cwd ? spec.cwd->c_str() : nullptr;
  plan.death_signal = io.death_signal;
  plan.umask = spec.umask.value_or(-1);
  for (const auto& [name, limit] : spec.rlimits) {
    const int resource = resource_of(name);
    if (resource < 0) return Status::error("rlimits: unknown limit '" + name + "'");
    auto as_rlim = [](std::uint64_t v) {
      return v == ResourceLimit::kUnlimited ? RLIM_INFINITY : static_cast<rlim_t>(v);
    };
    plan.limits.push_back({resource, rlimit{as_rlim(limit.soft), as_rlim(limit.hard)}});
  }
  // The supervisor's raised descriptor limit is not the child's (fd_limit.h).
  if (spec.rlimits.count("nofile") == 0 && children_fd_soft_limit() != RLIM_INFINITY) {
    rlimit ours{};
    if (::getrlimit(RLIMIT_NOFILE, &ours) == 0 && ours.rlim_cur > children_fd_soft_limit()) {
      plan.limits.push_back({RLIMIT_NOFILE, rlimit{children_fd_soft_limit(), ours.rlim_max}});
    }
  }
  plan.set_nice = spec.nice.has_value();
  plan.nice = spec.nice.value_or(0);
  if (has_identity && !is_current_identity(identity)) {
    plan.change_identity = true;
    plan.uid = identity.uid;
    plan.gid = identity.gid;
    plan.groups = identity.groups;
  }
  plan.no_new_privs = spec.no_new_privs;
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
  plan.dev_null = dev_null.get();
  plan.error_fd = error_write.get();
  plan.uplink_fd = uplink ? uplink.get() : -1;
  plan.out_fd = child_output(io.out, out);
  plan.err_fd = child_output(io.err, err);
  plan.ready_fd = ready ? ready.get() : -1;
  plan.ready_number = io.ready_fd_number;

  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  plan.supervisor_pid = ::getpid();
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  plan.fd_limit = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 65536));
  const pid_t child = ::fork();
  if (child == 0) exec_child(plan);
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
  switch (failure.stage) {
    case Stage::parent_died:
      return Status::error(stage_name(failure.stage));
    case Stage::chdir:
      return Status::from_errno(stage_name(failure.stage), plan.cwd ? plan.cwd : "", failure.error);
    case Stage::setrlimit:
    case Stage::nice:
    case Stage::setgroups:
    case Stage::setgid:
    case Stage::setuid:
    case Stage::no_new_privs:
      return Status::from_errno(failed_call(failure.stage, failure, spec, identity, plan), "",
                                failure.error);
    default:
      return Status::from_errno(stage_name(failure.stage), executable, failure.error);
  }
}

}  // namespace otpsup
