// ProcessInfo from /proc: the stat parser, cmdline splitting, this process and
// a forked child through sleeping, zombie and reaped.
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

// src/ is not on the unit tests' include path; the OS layer's headers live there.
#include "os/proc_info.h"

using namespace otpsup;

namespace {

// Fields 3..22 of a stat line: state S, ppid 1, utime 7, stime 3, 2 threads,
// starttime 98765, then the rest of a real line.
constexpr const char* kStatTail =
    " S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 2 0 98765 1000 200 "
    "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n";

// Polls read_process_info(pid) until its state is `want` (up to ~5 s).
std::optional<ProcessInfo> wait_for_state(int pid, char want) {
  std::optional<ProcessInfo> info;
  for (int i = 0; i < 500; ++i) {
    info = read_process_info(pid, nullptr);
    if (info && info->state == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return info;
}

// Kills and reaps a forked child on scope exit, unless already reaped.
struct ChildGuard {
  pid_t pid = 0;
  ~ChildGuard() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
};

}  // namespace

TEST_CASE("parse_proc_stat splits the comm at the last ')'") {
  ProcStat st;
  REQUIRE(parse_proc_stat(std::string("1234 (a) b)") + kStatTail, &st));
  CHECK(st.pid == 1234);
  CHECK(st.comm == "a) b");
  CHECK(st.state == 'S');
  CHECK(st.ppid == 1);
  CHECK(st.utime_ticks == 7);
  CHECK(st.stime_ticks == 3);
  CHECK(st.num_threads == 2);
  CHECK(st.starttime_ticks == 98765);

  REQUIRE(parse_proc_stat(std::string("7 (my prog (x))") + kStatTail, &st));
  CHECK(st.pid == 7);
  CHECK(st.comm == "my prog (x)");
  REQUIRE(parse_proc_stat(std::string("8 ()") + kStatTail, &st));
  CHECK(st.comm.empty());
  // Exactly 22 fields, no trailing newline.
  REQUIRE(parse_proc_stat("9 (z) Z 1 9 9 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 42", &st));
  CHECK(st.state == 'Z');
  CHECK(st.starttime_ticks == 42);
}

TEST_CASE("parse_proc_stat rejects malformed lines") {
  ProcStat st;
  CHECK_FALSE(parse_proc_stat("", &st));
  CHECK_FALSE(parse_proc_stat(std::string("1234 a b") + kStatTail, &st));              // no parens
  CHECK_FALSE(parse_proc_stat(std::string("x (a)") + kStatTail, &st));                 // bad pid
  CHECK_FALSE(parse_proc_stat(std::string("(a)") + kStatTail, &st));                   // no pid
  CHECK_FALSE(parse_proc_stat("9 (z) Z 1 9 9 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0", &st));  // 21
  CHECK_FALSE(parse_proc_stat("9 (z) Z 1 9 9 0 -1 0 0 0 0 0 x 6 0 0 20 0 1 0 42", &st));
  CHECK_FALSE(parse_proc_stat("9 (z) ZZ 1 9 9 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 42", &st));
}

TEST_CASE("split_cmdline and state_name_of") {
  using V = std::vector<std::string>;
  CHECK(split_cmdline("") == V{});
  CHECK(split_cmdline(std::string_view("a\0", 2)) == V{"a"});
  static constexpr char kArgs[] = "/bin/x\0-v\0\0last\0";
  CHECK(split_cmdline(std::string_view(kArgs, sizeof kArgs - 1)) == V{"/bin/x", "-v", "", "last"});
  CHECK(split_cmdline("rewritten title") == V{"rewritten title"});

  CHECK(state_name_of('R') == "running");
  CHECK(state_name_of('S') == "sleeping");
  CHECK(state_name_of('D') == "disk sleep");
  CHECK(state_name_of('Z') == "zombie");
  CHECK(state_name_of('T') == "stopped");
  CHECK(state_name_of('?') == "unknown");
}

TEST_CASE("read_process_info on this process") {
  std::string error;
  const auto info = read_process_info(getpid(), &error);
  REQUIRE_MESSAGE(info.has_value(), error);
  CHECK(info->pid == getpid());
  CHECK((info->state == 'R' || info->state == 'S'));
  CHECK(info->state_name == state_name_of(info->state));
  CHECK(info->threads >= 1);
  CHECK(info->rss_bytes > 0);
  CHECK(info->fd_count >= 3);
  REQUIRE_FALSE(info->cmdline.empty());
  CHECK(info->cmdline[0] == program_invocation_name);  // argv[0] (glibc)
  CHECK(info->cpu_user_seconds >= 0);
  CHECK(info->uptime_seconds >= 0);
  CHECK(info->uid == static_cast<long>(geteuid()));
  CHECK(info->gid == static_cast<long>(getegid()));
  if (const passwd* me = getpwuid(geteuid())) CHECK(info->user == me->pw_name);
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  CHECK(info->start_time_unix_ms <= now_ms + 2000);  // btime is whole seconds
  CHECK(info->start_time_unix_ms > now_ms - 24LL * 3600 * 1000);

  const nlohmann::json j = to_json(*info);
  CHECK(j["pid"] == getpid());
  CHECK(j["state"].get<std::string>().size() == 1);
  CHECK(j["rss_bytes"] == info->rss_bytes);
  CHECK(j["cmdline"] == info->cmdline);
  CHECK(j["uid"] == info->uid);
  CHECK(j["gid"] == info->gid);
  for (const char* key : {"state_name", "threads", "cpu_user_s", "cpu_system_s", "fd_count",
                          "start_time", "uptime_s"}) {
    CHECK_MESSAGE(j.contains(key), key);
  }
  const std::string start = j["start_time"];
  CHECK(start.size() == 27);  // 2026-11-26T12:00:01.234000Z
  CHECK(start.back() == 'Z');
}

TEST_CASE("read_process_info on a forked child: sleeping, zombie, reaped") {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    for (;;) pause();  // killed by the parent
  }
  ChildGuard guard{child};

  const auto sleeping = wait_for_state(child, 'S');
  REQUIRE(sleeping.has_value());
  CHECK(sleeping->state == 'S');
  CHECK(sleeping->state_name == "sleeping");
  CHECK(sleeping->pid == child);
  CHECK(sleeping->threads == 1);
  CHECK(sleeping->rss_bytes > 0);
  CHECK(sleeping->uptime_seconds < 60);
  // A fork without exec has its parent's command line.
  const auto self = read_process_info(getpid(), nullptr);
  REQUIRE(self.has_value());
  CHECK(sleeping->cmdline == self->cmdline);

  REQUIRE(kill(child, SIGKILL) == 0);
  const auto zombie = wait_for_state(child, 'Z');
  REQUIRE(zombie.has_value());
  CHECK(zombie->state_name == "zombie");
  CHECK(zombie->cmdline.empty());

  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  guard.pid = 0;
  CHECK(WIFSIGNALED(status));
  std::string error;
  CHECK_FALSE(read_process_info(child, &error).has_value());
  CHECK(error.find("not_running") == 0);

  error.clear();
  CHECK_FALSE(read_process_info(0, &error).has_value());
  CHECK(error.find("not_running") == 0);
  CHECK_FALSE(read_process_info(-5, nullptr).has_value());
}
