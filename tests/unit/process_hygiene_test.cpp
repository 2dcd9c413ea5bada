// Credentials, limits and the orphan sweep, on real processes
// (os/credentials.h, os/spawn.h, os/child_sweep.h).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>

#include "os/child_sweep.h"
#include "os/credentials.h"
#include "os/spawn.h"

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
