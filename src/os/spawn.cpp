#include "os/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <vector>

#include "os/child_environment.h"
#include "os/credentials.h"
#include "os/fd_limit.h"
#include "otpsup/unique_fd.h"

extern char** environ;

namespace otpsup {

namespace {

// Where the child stopped when it could not reach execve (none: it did not).
enum class Stage : int {
  none = 0,
  fd_table,
  setsid,
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

// What the child leaves for the parent when it fails before execve. It lives
// in memory the child shares with the parent (see SpawnArena); the parent
// reads it only once the child has exec'd or exited (CLONE_VFORK).
struct ChildReport {
  Stage stage = Stage::none;
  int error = 0;
  int detail = 0;  // setrlimit: index into ChildPlan::limits
};

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::fd_table:
      return "unshare(CLONE_FILES)";
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
    case Stage::none:
      break;
  }
  return "start";
}

// Everything the child does between clone and execve, decided before: the
// child only reads this (no allocation, no lookups) and writes only *report.
struct ChildPlan {
  const char* executable = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* cwd = nullptr;
  ChildReport* report = nullptr;
  // The child shares our descriptor table until it makes its own holding
  // only descriptors 0 .. highest_slot (every fd below is one of those).
  int highest_slot = -1;
  int dev_null = -1;
  pid_t supervisor_pid = 0;
  int fd_limit = 0;  // the supervisor's soft RLIMIT_NOFILE (capped), for old kernels
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

[[noreturn]] void fail_in_child(ChildReport* report, Stage stage, int err, int detail = 0) {
  report->error = err;
  report->detail = detail;
  report->stage = stage;
  ::_exit(127);
}

// `fd`, or when it is at most `highest_target` (a dup2 below could overwrite
// it before it is used, or dup2(fd, fd) would leave it close-on-exec) a
// close-on-exec copy of it above that. -1 stays -1; a failed copy is -1 with
// errno set.
int above_targets(int fd, int highest_target) {
  if (fd < 0 || fd > highest_target) return fd;
  return ::fcntl(fd, F_DUPFD_CLOEXEC, highest_target + 1);
}

// Runs in the child. Async-signal-safe calls only (and raw system calls
// where glibc's wrapper is not safe in a child sharing our memory), in
// DESIGN §1's order: signals, its own descriptor table, setsid,
// descriptors, chdir, umask, setrlimit,
// nice, setgroups -> setgid -> setuid, no_new_privs, and PDEATHSIG last (a
// credential change clears it), then the getppid() check.
//
// The child may share the parent's memory (CLONE_VM): it reads only `p` and
// what it points to, writes only *p.report and its own stack, and runs no
// signal handler of the parent's: every signal is blocked when it starts
// (the parent blocked them all before clone) and unblocked only after every
// disposition is back to SIG_DFL.
[[noreturn]] void exec_child(const ChildPlan& p) {
  ChildReport* const report = p.report;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // Our own descriptor table, first: until now it is the supervisor's
  // (CLONE_FILES). Only 0 .. highest_slot are copied into it, not the
  // thousands a large tree holds (which exec would then close one by one).
  constexpr unsigned kUnshare = 2U;  // CLOSE_RANGE_UNSHARE
  if (::syscall(SYS_close_range, static_cast<unsigned>(p.highest_slot) + 1, ~0U, kUnshare) != 0 &&
      ::unshare(CLONE_FILES) != 0) {  // kernels before 5.9: a copy of all of them
    fail_in_child(report, Stage::fd_table, errno);
  }
  if (::setsid() < 0) fail_in_child(report, Stage::setsid, errno);
  // The targets: 0, 1, 2, 3 (uplink) and ready_number. A source at or below
  // the highest of them is first copied above it (rare: the supervisor's
  // descriptors are usually higher), so no dup2 overwrites one still needed.
  const int highest_target = std::max({2, p.uplink_fd >= 0 ? 3 : 2, p.ready_number});
  const int dev_null = above_targets(p.dev_null, highest_target);
  if (dev_null < 0) fail_in_child(report, Stage::stdin_null, errno);
  const int out_fd = p.out_fd == p.dev_null ? dev_null : above_targets(p.out_fd, highest_target);
  const int err_fd = p.err_fd == p.dev_null ? dev_null : above_targets(p.err_fd, highest_target);
  if ((p.out_fd >= 0 && out_fd < 0) || (p.err_fd >= 0 && err_fd < 0)) {
    fail_in_child(report, Stage::output, errno);
  }
  const int uplink_fd = above_targets(p.uplink_fd, highest_target);
  if (p.uplink_fd >= 0 && uplink_fd < 0) fail_in_child(report, Stage::uplink, errno);
  const int ready_fd = p.ready_fd >= 0 ? above_targets(p.ready_fd, highest_target) : -1;
  if (p.ready_fd >= 0 && ready_fd < 0) fail_in_child(report, Stage::ready_fd, errno);

  if (::dup2(dev_null, STDIN_FILENO) < 0) fail_in_child(report, Stage::stdin_null, errno);
  if (out_fd >= 0 && ::dup2(out_fd, STDOUT_FILENO) < 0) {
    fail_in_child(report, Stage::output, errno);
  }
  if (err_fd >= 0 && ::dup2(err_fd, STDERR_FILENO) < 0) {
    fail_in_child(report, Stage::output, errno);
  }
  if (uplink_fd >= 0 && ::dup2(uplink_fd, 3) < 0) fail_in_child(report, Stage::uplink, errno);
  const unsigned first_closed = uplink_fd >= 0 ? 4U : 3U;
  if (ready_fd >= 0 && ::dup2(ready_fd, p.ready_number) < 0) {
    fail_in_child(report, Stage::ready_fd, errno);
  }
  if (p.cwd != nullptr && ::chdir(p.cwd) < 0) fail_in_child(report, Stage::chdir, errno);
  if (p.umask >= 0) ::umask(static_cast<mode_t>(p.umask));
  for (std::size_t i = 0; i < p.limits.size(); ++i) {
    if (::setrlimit(p.limits[i].resource, &p.limits[i].value) < 0) {
      fail_in_child(report, Stage::setrlimit, errno, static_cast<int>(i));
    }
  }
  if (p.set_nice && ::setpriority(PRIO_PROCESS, 0, p.nice) < 0) {
    fail_in_child(report, Stage::nice, errno);
  }
  if (p.change_identity) {
    // Raw system calls: glibc's wrappers would, in a multi-threaded process
    // (whose memory this child may share), signal the parent's threads to
    // change their credentials too.
    if (::syscall(SYS_setgroups, p.groups.size(), p.groups.data()) < 0) {
      fail_in_child(report, Stage::setgroups, errno);
    }
    if (::syscall(SYS_setgid, p.gid) < 0) fail_in_child(report, Stage::setgid, errno);
    if (::syscall(SYS_setuid, p.uid) < 0) fail_in_child(report, Stage::setuid, errno);
  }
  if (p.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    fail_in_child(report, Stage::no_new_privs, errno);
  }
  if (::prctl(PR_SET_PDEATHSIG, p.death_signal) < 0) {
    fail_in_child(report, Stage::pdeathsig, errno);
  }
  if (::getppid() != p.supervisor_pid) fail_in_child(report, Stage::parent_died, 0);
  // Nothing of the daemon's beyond 0, 1, 2 (and 3 when given) may reach the
  // program; the ready fd (a number >= first_closed) is the one exception.
  constexpr unsigned kCloexec = 4U;  // CLOSE_RANGE_CLOEXEC
  bool marked;
  if (ready_fd >= 0) {
    const auto keep = static_cast<unsigned>(p.ready_number);
    marked = (keep == first_closed ||
              ::syscall(SYS_close_range, first_closed, keep - 1, kCloexec) == 0) &&
             ::syscall(SYS_close_range, keep + 1, ~0U, kCloexec) == 0;
  } else {
    marked = ::syscall(SYS_close_range, first_closed, ~0U, kCloexec) == 0;
  }
  if (!marked) {
    // Kernels before 5.11: close them one by one.
    for (int fd = static_cast<int>(first_closed); fd < p.fd_limit; ++fd) {
      if (ready_fd < 0 || fd != p.ready_number) ::close(fd);
    }
  }
  ::execve(p.executable, p.argv, p.envp);
  fail_in_child(report, Stage::exec, errno);
}

// The entry of a CLONE_VM child (unused in sanitizer builds: see below).
[[maybe_unused]] int child_main(void* plan) {
  exec_child(*static_cast<const ChildPlan*>(plan));
}

// How the child is made. Normally as glibc's posix_spawn does it:
// clone(CLONE_VM | CLONE_VFORK) on a stack of its own. The child shares our
// memory, so no page table is copied however large the supervisor is (fork's
// cost grew with the number of children), and we are suspended until it has
// exec'd or exited, so a start error is a field it wrote before _exit (no
// pipe) and success needs no wait beyond that. It also shares our descriptor
// table (CLONE_FILES) until it makes its own with only our lowest
// descriptors, where the arena's slots hand it what it needs: neither clone
// nor exec then copies or closes every descriptor of the supervisor.
//
// AddressSanitizer builds make a copy instead (a fork-like
// clone(CLONE_VFORK) without CLONE_VM, the child on a copy of our stack):
// ASan's shadow memory would be shared with a CLONE_VM child, and the child's
// instrumented code would run on a stack ASan does not know. The report then
// goes through the arena's MAP_SHARED page; order of steps, waiting and
// errors are the same.
#if defined(__SANITIZE_ADDRESS__)
#define OTPSUP_SPAWN_COPIES_MEMORY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OTPSUP_SPAWN_COPIES_MEMORY 1
#endif
#endif

// Per thread, made on first use and kept until the thread ends: the child's
// stack (below it a PROT_NONE guard page) and the page of its ChildReport, in
// one MAP_SHARED mapping; and kSlots low descriptor numbers, taken when the
// descriptor table is still small: slot 0 is /dev/null (every child's stdin,
// and its stdout/stderr when they are "null"), the others hold a copy of it
// except while lent to one spawn (lend / take_back) to carry a descriptor the
// child needs. All close-on-exec. One spawn at a time per thread: the thread
// is suspended while its child runs here.
class SpawnArena {
 public:
  SpawnArena() {
    page_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    size_ = page_ + round_up(kStackSize) + page_;
    void* m = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return;
    base_ = static_cast<char*>(m);
    (void)::mprotect(base_, page_, PROT_NONE);
  }
  ~SpawnArena() {
    if (base_ != nullptr) ::munmap(base_, size_);
  }
  SpawnArena(const SpawnArena&) = delete;
  SpawnArena& operator=(const SpawnArena&) = delete;

  // Empty when the mapping failed (errno says why).
  explicit operator bool() const { return base_ != nullptr; }
  // The top of the child's stack (it grows down), 16-byte aligned.
  void* stack_top() const { return base_ + size_ - page_; }
  ChildReport* report() const { return reinterpret_cast<ChildReport*>(base_ + size_ - page_); }
  // Opens the slots if they are not yet: false with errno when it cannot.
  bool open_slots() {
    if (slots_[0]) return true;
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null) return false;
    std::array<UniqueFd, kSlots> slots;
    slots[0] = std::move(null);
    for (std::size_t i = 1; i < kSlots; ++i) {
      slots[i].reset(::fcntl(slots[0].get(), F_DUPFD_CLOEXEC, 0));
      if (!slots[i]) return false;
    }
    slots_ = std::move(slots);
    highest_slot_ = 0;
    for (const UniqueFd& fd : slots_) highest_slot_ = std::max(highest_slot_, fd.get());
    return true;
  }
  // REQUIRES: open_slots() succeeded.
  int dev_null() const { return slots_[0].get(); }
  int highest_slot() const { return highest_slot_; }
  // Puts (a copy of) `fd` into a free slot and returns that slot's number;
  // -1 with errno when dup3 fails. REQUIRES: at most kSlots - 1 lent at once.
  int lend(int fd) {
    const int slot = slots_[++lent_].get();
    return ::dup3(fd, slot, O_CLOEXEC) < 0 ? -1 : slot;
  }
  // Puts /dev/null back into every lent slot (so we hold no extra reference
  // to what it carried: a log pipe's write end must close with the child).
  void take_back() {
    for (; lent_ > 0; --lent_) (void)::dup3(dev_null(), slots_[lent_].get(), O_CLOEXEC);
  }

 private:
  // /dev/null, and stdout, stderr, fd 3, the ready fd.
  static constexpr std::size_t kSlots = 5;
  // exec_child needs little; the rest covers a lazy PLT binding in the child.
  static constexpr std::size_t kStackSize = 64 * 1024;
  std::size_t round_up(std::size_t n) const { return (n + page_ - 1) / page_ * page_; }

  std::size_t page_ = 0;
  std::size_t size_ = 0;
  char* base_ = nullptr;
  std::array<UniqueFd, kSlots> slots_;
  int highest_slot_ = -1;
  std::size_t lent_ = 0;
};

SpawnArena& spawn_arena() {
  thread_local SpawnArena arena;
  return arena;
}

// Starts the child on `plan` (see above); returns its pid, or -1 with errno.
// REQUIRES: every signal blocked in the calling thread.
pid_t clone_child(ChildPlan& plan, SpawnArena& arena) {
#ifdef OTPSUP_SPAWN_COPIES_MEMORY
  (void)arena;
  const long child =
      ::syscall(SYS_clone, CLONE_VFORK | CLONE_FILES | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (child == 0) exec_child(plan);
  return static_cast<pid_t>(child);
#else
  return ::clone(child_main, arena.stack_top(), CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD,
                 &plan);
#endif
}

}  // namespace

namespace {

// "setuid(nobody)", "setrlimit(nofile)": the failed call and what it was for.
std::string failed_call(Stage stage, const ChildReport& failure, const ChildSpec& spec,
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
  // Names are resolved here, before clone: NSS lookups are not for the child.
  Credentials identity;
  const bool has_identity = spec.user || spec.group;
  if (has_identity) {
    if (Status s = resolve_credentials(spec.user, spec.group, &identity); !s.ok()) return s;
  }
  // argv points into the spec's strings (execve does not write them).
  std::vector<char*> argv;
  argv.reserve(spec.command.size() + 1);
  for (const std::string& arg : spec.command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const ChildEnvironment env(environ, spec, child_path, has_identity ? &identity : nullptr);
  const std::string& executable = spec.executable.empty() ? spec.command.at(0) : spec.executable;

  ChildPlan plan;
  plan.executable = executable.c_str();
  plan.argv = argv.data();
  plan.envp = env.envp();
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
  rlimit ours{};
  const bool know_ours = ::getrlimit(RLIMIT_NOFILE, &ours) == 0;
  // The supervisor's raised descriptor limit is not the child's (fd_limit.h).
  if (know_ours && spec.rlimits.count("nofile") == 0 && children_fd_soft_limit() != RLIM_INFINITY &&
      ours.rlim_cur > children_fd_soft_limit()) {
    plan.limits.push_back({RLIMIT_NOFILE, rlimit{children_fd_soft_limit(), ours.rlim_max}});
  }
  plan.fd_limit = know_ours ? static_cast<int>(std::min<rlim_t>(ours.rlim_cur, 65536)) : 65536;
  plan.set_nice = spec.nice.has_value();
  plan.nice = spec.nice.value_or(0);
  if (has_identity && !is_current_identity(identity)) {
    plan.change_identity = true;
    plan.uid = identity.uid;
    plan.gid = identity.gid;
    plan.groups = identity.groups;
  }
  plan.no_new_privs = spec.no_new_privs;
  plan.ready_number = io.ready_fd_number;

  SpawnArena& arena = spawn_arena();
  if (!arena) return Status::from_errno("mmap", "(spawn stack)", errno);
  if (!arena.open_slots()) return Status::from_errno("open", "/dev/null", errno);
  // The child sees only our descriptors up to the highest slot: whatever it
  // needs goes into a slot, given back when this returns.
  struct TakeBack {
    SpawnArena& arena;
    ~TakeBack() { arena.take_back(); }
  } take_back{arena};
  auto lend = [&](int fd, int* slot) {
    *slot = fd < 0 ? -1 : arena.lend(fd);
    return fd < 0 || *slot >= 0;
  };
  plan.highest_slot = arena.highest_slot();
  plan.dev_null = arena.dev_null();
  // stdout/stderr: a descriptor, /dev/null, or -1 (the supervisor's own).
  if (!lend(io.out, &plan.out_fd) || !lend(io.err, &plan.err_fd) ||
      !lend(io.fd3, &plan.uplink_fd) || !lend(io.ready_fd, &plan.ready_fd)) {
    return Status::from_errno("dup3", "(spawn slot)", errno);
  }
  if (io.out == ChildIo::kDevNull) plan.out_fd = plan.dev_null;
  if (io.err == ChildIo::kDevNull) plan.err_fd = plan.dev_null;
  ChildReport* const report = arena.report();
  *report = ChildReport{};
  plan.report = report;

  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  plan.supervisor_pid = ::getpid();
  // Returns once the child has exec'd or exited (CLONE_VFORK).
  const pid_t child = clone_child(plan, arena);
  const int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  // "fork": the message of old, for what is still a failed fork.
  if (child < 0) return Status::from_errno("fork", executable, clone_errno);

  // Written by the child, which the compiler does not see run.
  const volatile ChildReport* written = report;
  ChildReport failure;
  failure.stage = written->stage;
  failure.error = written->error;
  failure.detail = written->detail;
  if (failure.stage == Stage::none) {
    *pid = child;
    return Status::ok_status();
  }
  // The child failed before execve and has exited (or is about to): reap it
  // here so no zombie and no stray exit event remains.
  int status;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
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
