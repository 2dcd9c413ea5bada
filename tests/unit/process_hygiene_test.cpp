// Credentials, limits and the orphan sweep, on real processes
// (os/credentials.h, os/spawn.h, os/child_sweep.h).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "os/child_sweep.h"
#include "os/credentials.h"
#include "os/spawn.h"
#include "otpsup/unique_fd.h"

namespace {

using namespace otpsup;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value of "Name:\t..." in /proc/PID/status.
std::string status_field(int pid, const std::string& name) {
  std::istringstream lines(read_file("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + ":\t", 0) == 0) return line.substr(name.size() + 2);
  }
  return {};
}

void kill_and_wait(int pid) {
  ::kill(pid, SIGKILL);
  int status;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
}

ChildSpec sleeper() {
  ChildSpec spec;
  spec.id = "sleeper";
  spec.command = {"/bin/sleep", "100"};
  spec.executable = "/bin/sleep";
  return spec;
}

}  // namespace

TEST_CASE("CredentialsResolveNamesAndNumbers") {
  Credentials by_name;
  REQUIRE(resolve_credentials(std::string("root"), std::nullopt, &by_name).ok());
  CHECK(by_name.uid == 0);
  CHECK(by_name.gid == 0);
  CHECK(by_name.user_name == "root");
  CHECK(std::find(by_name.groups.begin(), by_name.groups.end(), 0u) != by_name.groups.end());
  Credentials by_number;
  REQUIRE(resolve_credentials(std::string("0"), std::string("0"), &by_number).ok());
  CHECK(by_number.user_name == "root");
  Credentials unknown;
  Status s = resolve_credentials(std::string("no-such-user-otpsup"), std::nullopt, &unknown);
  CHECK(s.message() == "user \"no-such-user-otpsup\" does not exist");
  s = resolve_credentials(std::nullopt, std::string("no-such-group-otpsup"), &unknown);
  CHECK(s.message() == "group \"no-such-group-otpsup\" does not exist");
}

TEST_CASE("OwnIdentityNeedsNoChange") {
  Credentials self;
  REQUIRE(resolve_credentials(std::to_string(::geteuid()), std::nullopt, &self).ok());
  // The user's groups from the database may differ from this process's.
  self.groups.clear();
  const int n = ::getgroups(0, nullptr);
  self.groups.resize(static_cast<std::size_t>(n));
  REQUIRE(::getgroups(n, self.groups.data()) == n);
  self.gid = ::getegid();
  CHECK(is_current_identity(self));
  self.uid += 1;
  CHECK_FALSE(is_current_identity(self));
}

TEST_CASE("SpawnAppliesUmaskLimitsAndNice") {
  ChildSpec spec = sleeper();
  spec.umask = 027;
  spec.rlimits["nofile"] = {64, 64};
  spec.rlimits["core"] = {0, ResourceLimit::kUnlimited};
  spec.nice = 3;
  spec.no_new_privs = true;
  int pid = 0;
  Status s = spawn_worker(spec, "root/sleeper", &pid);
  REQUIRE_MESSAGE(s.ok(), s.message());
  CHECK(status_field(pid, "Umask") == "0027");
  CHECK(status_field(pid, "NoNewPrivs") == "1");
  const std::string limits = read_file("/proc/" + std::to_string(pid) + "/limits");
  CHECK(limits.find("Max open files            64                   64") != std::string::npos);
  CHECK(limits.find("Max core file size        0                    unlimited") !=
        std::string::npos);
  kill_and_wait(pid);
}

TEST_CASE("ALimitThatCannotBeSetIsAStartErrorAndLeavesNoChild") {
  ChildSpec spec = sleeper();
  const auto nr_open = std::stoull(read_file("/proc/sys/fs/nr_open"));
  spec.rlimits["nofile"] = {nr_open + 1, nr_open + 1};
  int pid = 0;
  Status s = spawn_worker(spec, "root/sleeper", &pid);
  CHECK(s.message() == "setrlimit(nofile): Operation not permitted");
  CHECK(pid == 0);
  errno = 0;
  CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

TEST_CASE("AnExecErrorIsAStartErrorWithItsMessageAndLeavesNoChild") {
  ChildSpec spec = sleeper();
  spec.command = {"/nonexistent/otpsup-x"};
  spec.executable = "/nonexistent/otpsup-x";
  int pid = 0;
  CHECK(spawn_worker(spec, "root/x", &pid).message() ==
        "exec: /nonexistent/otpsup-x: No such file or directory");
  CHECK(pid == 0);
  errno = 0;
  CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

TEST_CASE("AChildHoldsOnlyTheDescriptorsItIsGivenWhateverTheSupervisorHolds") {
  // Many descriptors in the supervisor, some lower than the ones passed.
  std::vector<UniqueFd> held;
  for (int i = 0; i < 200; ++i) held.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  UniqueFd out_read(out[0]), out_write(out[1]);
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  UniqueFd ours(pair[0]), theirs(pair[1]);
  int ready[2];
  REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  held.resize(100);  // frees numbers below the ones just made

  ChildSpec spec;
  spec.id = "lister";
  // The shell's own descriptors, one per line, then its stdin's target.
  spec.command = {"/bin/sh", "-c", "ls /proc/$$/fd; readlink /proc/$$/fd/0"};
  ChildIo io;
  io.out = out_write.get();
  io.err = ChildIo::kDevNull;
  io.fd3 = theirs.get();
  io.ready_fd = ready_write.get();
  io.ready_fd_number = 7;
  int pid = 0;
  Status s = spawn_worker(spec, "root/lister", &pid, io);
  REQUIRE_MESSAGE(s.ok(), s.message());
  out_write.reset();
  ready_write.reset();
  int status;
  REQUIRE(::waitpid(pid, &status, 0) == pid);  // its few lines fit in the pipe
  CHECK(WIFEXITED(status));
  // Non-blocking: a copy of a write end left with us (a slot not taken back)
  // would show as EAGAIN instead of EOF.
  REQUIRE(::fcntl(out_read.get(), F_SETFL, O_NONBLOCK) == 0);
  REQUIRE(::fcntl(ready_read.get(), F_SETFL, O_NONBLOCK) == 0);
  std::string text;
  char buffer[256];
  ssize_t n;
  while ((n = ::read(out_read.get(), buffer, sizeof buffer)) > 0) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  CHECK(n == 0);
  CHECK(text == "0\n1\n2\n3\n7\n/dev/null\n");
  char byte;
  CHECK(::read(ready_read.get(), &byte, 1) == 0);  // the child's copy closed too
}

TEST_CASE("AnUnknownUserFailsBeforeFork") {
  ChildSpec spec = sleeper();
  spec.user = "no-such-user-otpsup";
  int pid = 0;
  CHECK(spawn_worker(spec, "root/sleeper", &pid).message() ==
        "user \"no-such-user-otpsup\" does not exist");
  CHECK(pid == 0);
}

TEST_CASE("SweepKillsChildrenAndTheOrphansItAdopts") {
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // A child that double-forks a grandchild into a session of its own.
    const pid_t grandchild = ::fork();
    if (grandchild == 0) {
      ::setsid();
      for (;;) ::pause();
    }
    if (::write(fds[1], &grandchild, sizeof grandchild) != sizeof grandchild) ::_exit(1);
    for (;;) ::pause();
  }
  ::close(fds[1]);
  pid_t grandchild = 0;
  REQUIRE(::read(fds[0], &grandchild, sizeof grandchild) == sizeof grandchild);
  ::close(fds[0]);
  const std::vector<int> listed = own_children();
  CHECK(listed == std::vector<int>{child});  // the grandchild is not ours (yet)

  kill_and_reap_all_children();
  // The grandchild was adopted when its parent died, then killed and reaped.
  CHECK(own_children().empty());
  CHECK(::kill(grandchild, 0) == -1);
  CHECK(::kill(child, 0) == -1);
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 0) == 0);
}
