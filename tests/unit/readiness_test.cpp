// The pure core's readiness (ready, start_timeout) and watchdog, driven with a
// fake clock and a fake shell: spawns succeed with fresh pids, and a child is
// ready, pings its watchdog or dies only when the test says so.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fake_shell.h"
#include "otpsup/supervisor.h"

using namespace otpsup;
using namespace std::chrono_literals;

namespace {

constexpr int kSigKill = 9;

ChildSpec worker(std::string id, ReadyKind ready = ReadyKind::notify) {
  ChildSpec c;
  c.id = std::move(id);
  c.command = {"/bin/true"};
  c.executable = "/bin/true";
  c.ready = ready;
  return c;
}

SupervisorSpec sup(int intensity, std::vector<ChildSpec> children) {
  SupervisorSpec s;
  s.name = "root";
  s.intensity = intensity;
  s.period = 5000ms;
  s.children = std::move(children);
  return s;
}

using Shell = otpsup::testing::FakeShell;

using Log = std::vector<std::string>;

}  // namespace

TEST_CASE("StartOrderWaitsForReadiness") {
  Shell h(sup(1, {worker("a"), worker("b", ReadyKind::none)}));
  h.boot();
  CHECK(h.log == Log{"start a", "record started a"});
  CHECK(h.s.find("a")->state == ChildState::starting);
  CHECK(h.s.find("a")->pid != 0);
  CHECK(h.s.find("b")->state == ChildState::down);
  CHECK(h.ready("a"));
  CHECK(h.log == Log{"start a", "record started a", "record ready a", "start b", "record started b",
                     "booted"});
  CHECK(h.s.find("a")->state == ChildState::running);
  CHECK(h.timers.empty());  // the start timer was cancelled
}

TEST_CASE("StartTimeoutKillsTheChildAndFailsTheStart") {
  ChildSpec a = worker("a");
  a.start_timeout = 2000ms;
  Shell h(sup(5, {worker("z", ReadyKind::none), a}));
  h.boot();
  REQUIRE(h.s.find("a")->state == ChildState::starting);
  h.fire_next_timer();
  CHECK(h.log.back() == "signal a 9");
  CHECK(h.s.find("a")->state == ChildState::starting);  // until it is reaped
  h.die(h.pid("a"), ExitStatus::killed(kSigKill));
  REQUIRE(h.last("start_failed"));
  CHECK(h.last("start_failed")->reason == "not ready within 2s");
  CHECK(h.last("start_failed")->pid == h.s.find("a")->last_pid);
  // The boot stops what it started.
  CHECK(std::find(h.log.begin(), h.log.end(), "signal z 15") != h.log.end());
  h.die(h.pid("z"), ExitStatus::killed(15));
  REQUIRE(h.exit);  // during boot: the boot fails, as in OTP
  CHECK(h.exit->kind == ExitAction::Kind::boot_failed);
}

TEST_CASE("StartTimeoutDuringARestartCountsForIntensity") {
  ChildSpec a = worker("a");
  a.start_timeout = 1000ms;
  Shell h(sup(5, {a}));
  h.boot();
  h.ready("a");
  h.die(h.pid("a"), ExitStatus::exited(1));  // restart 1
  REQUIRE(h.s.find("a")->state == ChildState::starting);
  h.fire_next_timer();  // not ready in time
  h.die(h.pid("a"), ExitStatus::killed(kSigKill));
  CHECK(h.last("start_failed")->reason == "not ready within 1s");
  CHECK(h.s.restarts_in_period(h.now) == 2);  // the crash and the failed start
  h.fire_next_timer();                        // the retry through the loop
  REQUIRE(h.s.find("a")->state == ChildState::starting);
  CHECK(h.ready("a"));
  CHECK(h.s.find("a")->state == ChildState::running);
  CHECK_FALSE(h.exit);
}

TEST_CASE("ExitBeforeReadyIsAFailedStart") {
  Shell h(sup(5, {worker("a", ReadyKind::none), worker("b")}));
  h.boot();
  h.die(h.pid("b"), ExitStatus::exited(2));
  REQUIRE(h.last("start_failed"));
  CHECK(h.last("start_failed")->reason == "exited with code 2 before it was ready");
  CHECK(h.last("exited") == nullptr);
  h.die(h.pid("a"), ExitStatus::killed(15));
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::boot_failed);
}

TEST_CASE("ReadyOfAChildThatAlreadyExitedOrIsRunningIsIgnored") {
  Shell h(sup(5, {worker("a")}));
  h.boot();
  const int first = h.pid("a");
  CHECK(h.ready("a"));
  CHECK_FALSE(h.ready("a"));  // already running
  h.die(first, ExitStatus::exited(1));
  CHECK_FALSE(h.s.on_child_ready(first, h.now));  // the old pid
  CHECK(h.s.find("a")->state == ChildState::starting);
  CHECK_FALSE(h.s.on_child_ready(4242, h.now));  // not ours
}

TEST_CASE("WatchdogExpiryKillsAndIsACrashWithItsReason") {
  ChildSpec a = worker("a", ReadyKind::none);
  a.watchdog = 3000ms;
  Shell h(sup(5, {a}));
  h.boot();
  REQUIRE(h.timers.size() == 1);
  const int first = h.pid("a");
  h.now += 2000ms;
  CHECK(h.s.on_child_watchdog(first, h.now));  // re-arms
  h.pump();
  REQUIRE(h.timers.size() == 1);
  CHECK(h.timers.begin()->second == 3000ms);
  h.fire_next_timer();
  CHECK(h.log.back() == "signal a 9");
  h.die(first, ExitStatus::killed(kSigKill));
  REQUIRE(h.last("exited"));
  CHECK(h.last("exited")->reason == "watchdog timeout");
  REQUIRE(h.last("restarted"));
  CHECK(h.last("restarted")->reason == "watchdog timeout");
  CHECK(h.s.restarts_in_period(h.now) == 1);
  CHECK(h.s.find("a")->state == ChildState::running);
}

TEST_CASE("WatchdogStartsOnlyOnceReadyAndStopsWithTheChild") {
  ChildSpec a = worker("a");
  a.watchdog = 3000ms;
  a.start_timeout = 0ms;  // no limit
  Shell h(sup(5, {a}));
  h.boot();
  CHECK(h.timers.empty());  // neither a start timer nor a watchdog yet
  CHECK_FALSE(h.s.on_child_watchdog(h.pid("a"), h.now));
  h.ready("a");
  CHECK(h.timers.size() == 1);
  h.s.shutdown(h.now);
  h.pump();
  h.die(h.pid("a"), ExitStatus::killed(15));
  for (auto& [id, after] : h.timers) CHECK(after != 3000ms);  // the watchdog is gone
  CHECK(h.last("stopped"));
  CHECK(h.exit);
}

TEST_CASE("ShutdownStopsAChildThatIsNotReadyYet") {
  Shell h(sup(5, {worker("a")}));
  h.boot();
  REQUIRE(h.s.find("a")->state == ChildState::starting);
  h.s.shutdown(h.now);
  h.pump();
  CHECK(h.s.find("a")->state == ChildState::stopping);
  h.die(h.pid("a"), ExitStatus::killed(15));
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::normal);
  CHECK_FALSE(h.s.on_child_ready(101, h.now));
}
