// The pure supervisor core, driven with a fake clock and a fake shell.
#include "otpsup/supervisor.h"

#include "fake_shell.h"
#include "test_specs.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace otpsup;
using otpsup::testing::only;
using otpsup::testing::worker;
using namespace std::chrono_literals;

namespace {

constexpr int SIGKILL_ = 9, SIGTERM_ = 15, SIGCONT_ = 18;

SupervisorSpec sup(Strategy strategy, int intensity, std::vector<ChildSpec> children) {
  SupervisorSpec s;
  s.name = "root";
  s.strategy = strategy;
  s.intensity = intensity;
  s.period = 5000ms;
  s.children = std::move(children);
  return s;
}

// The shared fake shell, and timers fired all at once.
struct Harness : otpsup::testing::FakeShell {
  using FakeShell::FakeShell;
  // Fires every armed timer in id order, moving the clock by each one's delay.
  void fire_timers() {
    const auto pending = timers;
    for (const auto& [id, after] : pending) {
      now += after;
      fire(id);
    }
  }
};

using Log = std::vector<std::string>;

}  // namespace

TEST_CASE("BootStartsChildrenInOrder") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  CHECK(only(h.log, "start") == Log{"start a", "start b", "start c"});
  CHECK(h.booted);
  CHECK(h.count("started") == 3);
}

TEST_CASE("BootFailsAsAWholeWhenOneChildCannotStart") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a"), worker("b"), worker("c")}));
  h.failing_starts = {"c"};
  h.boot();
  CHECK(only(h.take_log(), "signal") == Log{"signal b 18", "signal b 15"});
  h.honour_stops();
  CHECK(only(h.take_log(), "signal") == Log{"signal a 18", "signal a 15"});
  h.honour_stops();
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::boot_failed);
  CHECK(h.exit->reason.find("child c failed to start") != std::string::npos);
  CHECK_FALSE(h.booted);
}

TEST_CASE("OneForOneRestartsOnlyTheDeadChild") {
  Harness h(sup(Strategy::one_for_one, 3, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  const int a = h.pid("a"), c = h.pid("c"), b = h.pid("b");
  h.take_log();
  h.die("b", ExitStatus::killed(SIGKILL_));
  CHECK(h.take_log() == Log{"record exited b", "start b", "record restarted b"});
  CHECK(h.pid("a") == a);
  CHECK(h.pid("c") == c);
  CHECK(h.pid("b") != b);
  CHECK(h.records.back().old_pid == b);
  CHECK(h.records.back().reason == "killed by SIGKILL");
  CHECK(h.s.find("b")->restarts == 1);
}

TEST_CASE("OneForAllTerminatesOthersInReverseOrderThenStartsAllInOrder") {
  Harness h(sup(Strategy::one_for_all, 3, {worker("a"), worker("b"), worker("c"), worker("d")}));
  h.boot();
  h.take_log();
  h.crash("b");
  CHECK(only(h.take_log(), "signal") == Log{"signal d 18", "signal d 15"});
  h.die("d", ExitStatus::killed(SIGTERM_));
  CHECK(only(h.take_log(), "signal") == Log{"signal c 18", "signal c 15"});
  h.die("c", ExitStatus::killed(SIGTERM_));
  CHECK(only(h.log, "signal") == Log{"signal a 18", "signal a 15"});
  h.die("a", ExitStatus::exited(0));
  CHECK(only(h.take_log(), "start") == Log{"start a", "start b", "start c", "start d"});
  CHECK(h.count("stopped") == 3);
  CHECK(h.count("restarted") == 4);
  CHECK(h.s.restarts_in_period(h.now) == 1);
}

TEST_CASE("RestForOneTerminatesLaterChildrenInReverseAndRestartsFromTheDeadOne") {
  Harness h(sup(Strategy::rest_for_one, 3, {worker("a"), worker("b"), worker("c"), worker("d")}));
  h.boot();
  const int a = h.pid("a");
  h.take_log();
  h.crash("b");
  CHECK(only(h.take_log(), "signal") == Log{"signal d 18", "signal d 15"});
  h.die("d", ExitStatus::killed(SIGTERM_));
  CHECK(only(h.take_log(), "signal") == Log{"signal c 18", "signal c 15"});
  h.die("c", ExitStatus::killed(SIGTERM_));
  CHECK(only(h.take_log(), "start") == Log{"start b", "start c", "start d"});
  CHECK(h.pid("a") == a);
}

TEST_CASE("PermanentIsRestartedAfterNormalExit") {
  Harness h(sup(Strategy::one_for_one, 3, {worker("a")}));
  h.boot();
  h.take_log();
  h.die("a", ExitStatus::exited(0));
  CHECK(only(h.log, "start") == Log{"start a"});
}

TEST_CASE("TransientExitZeroStaysDown") {
  Harness h(sup(Strategy::one_for_one, 3, {worker("a", RestartType::transient)}));
  h.boot();
  h.take_log();
  h.die("a", ExitStatus::exited(0));
  CHECK(only(h.log, "start").empty());
  CHECK(h.s.find("a")->state == ChildState::down);
  CHECK(h.s.restarts_in_period(h.now) == 0);
}

TEST_CASE("TransientNonZeroExitIsRestarted") {
  Harness h(sup(Strategy::one_for_one, 3, {worker("a", RestartType::transient)}));
  h.boot();
  h.take_log();
  h.die("a", ExitStatus::exited(3));
  CHECK(only(h.log, "start") == Log{"start a"});
}

TEST_CASE("TransientKilledByForeignSigtermIsAbnormalAndRestarted") {
  Harness h(sup(Strategy::one_for_one, 3, {worker("a", RestartType::transient)}));
  h.boot();
  h.take_log();
  h.die("a", ExitStatus::killed(SIGTERM_));
  CHECK(only(h.log, "start") == Log{"start a"});
}

TEST_CASE("NormalExitCodesMakeACodeNormal") {
  auto a = worker("a", RestartType::transient);
  a.normal_exit_codes = {0, 42};
  Harness h(sup(Strategy::one_for_one, 3, {a}));
  h.boot();
  h.take_log();
  h.die("a", ExitStatus::exited(42));
  CHECK(only(h.log, "start").empty());
}

TEST_CASE("TemporaryIsNeverRestartedAndItsSpecIsRemoved") {
  Harness h(sup(Strategy::one_for_one, 3, {worker("a", RestartType::temporary), worker("b")}));
  h.boot();
  h.take_log();
  h.crash("a");
  CHECK(only(h.log, "start").empty());
  CHECK(h.s.find("a") == nullptr);
  CHECK(h.s.children().size() == 1);
}

TEST_CASE("TemporarySiblingCaughtInGroupRestartIsDropped") {
  Harness h(sup(Strategy::one_for_all, 3, {worker("a"), worker("t", RestartType::temporary)}));
  h.boot();
  h.take_log();
  h.crash("a");
  h.honour_stops();
  CHECK(only(h.log, "start") == Log{"start a"});
  CHECK(h.s.find("t") == nullptr);
}

TEST_CASE("GroupRestartStartsTransientThatExitedNormallyAndHandStoppedChild") {
  Harness h(sup(Strategy::one_for_all, 5,
                {worker("a"), worker("tr", RestartType::transient), worker("m")}));
  h.boot();
  h.die("tr", ExitStatus::exited(0));
  h.command(Command::Kind::stop, "m");
  h.honour_stops();
  CHECK(h.s.find("m")->state == ChildState::down);
  h.take_log();
  h.crash("a");
  h.honour_stops();
  CHECK(only(h.log, "start") == Log{"start a", "start tr", "start m"});
}

TEST_CASE("IntensityZeroGivesUpOnFirstCrash") {
  Harness h(sup(Strategy::one_for_one, 0, {worker("a"), worker("b")}));
  h.boot();
  h.take_log();
  h.crash("a");
  auto log = h.take_log();
  CHECK(log[0] == "record exited a");
  CHECK(log[1] == "record gave_up");
  CHECK(only(log, "start").empty());
  h.honour_stops();
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::gave_up);
}

TEST_CASE("IntensityAllowsNRestartsInPeriodThenGivesUp") {
  Harness h(sup(Strategy::one_for_one, 3, {worker("a")}));
  h.boot();
  for (int i = 0; i < 3; ++i) {
    h.now += 100ms;
    h.crash("a");
  }
  CHECK(h.count("restarted") == 3);
  CHECK_FALSE(h.exit);
  h.now += 100ms;
  h.crash("a");
  CHECK(h.count("gave_up") == 1);
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::gave_up);
}

TEST_CASE("SlidingWindowForgetsRestartsOlderThanThePeriod") {
  Harness h(sup(Strategy::one_for_one, 2, {worker("a")}));
  h.boot();
  for (int i = 0; i < 10; ++i) {
    h.now += 2600ms;  // at most 2 restarts in any 5 s window
    h.crash("a");
  }
  CHECK_FALSE(h.exit);
  CHECK(h.count("restarted") == 10);
  h.now += 1ms;  // the 10th restart is 1 ms ago and the 9th 2.6 s: a third is too many
  h.crash("a");
  CHECK(h.exit);
}

TEST_CASE("RestartExactlyOnePeriodAgoStillCounts") {
  RestartIntensity window(1, 5000ms);
  TimePoint t{};
  CHECK(window.add_restart(t));
  CHECK_FALSE(window.add_restart(t + 5000ms));
  RestartIntensity window2(1, 5000ms);
  CHECK(window2.add_restart(t));
  CHECK(window2.add_restart(t + 5001ms));
}

TEST_CASE("GroupRestartCountsOnce") {
  Harness h(sup(Strategy::one_for_all, 1, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  h.crash("b");
  h.honour_stops();
  CHECK(h.s.restarts_in_period(h.now) == 1);
  CHECK_FALSE(h.exit);
}

TEST_CASE("GiveUpIsRecordedBeforeStopsAndTerminatesAllInReverseOrder") {
  Harness h(sup(Strategy::one_for_one, 0, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  h.take_log();
  h.crash("b");
  h.honour_stops();
  auto log = h.take_log();
  Log expected{"record exited b",  "record gave_up", "signal c 18", "signal c 15",
               "record stopped c", "signal a 18",    "signal a 15", "record stopped a"};
  CHECK(log == expected);
  REQUIRE(h.exit);
}

TEST_CASE("ChildDyingWhileOthersAreTerminatedForOneForAllIsAbsorbed") {
  Harness h(sup(Strategy::one_for_all, 1, {worker("a"), worker("b"), worker("c"), worker("d")}));
  h.boot();
  h.crash("c");  // one_for_all: stop d first (reverse), then b, then a
  CHECK(h.s.find("d")->state == ChildState::stopping);
  h.crash("a");  // a dies on its own while d is being stopped
  h.honour_stops();
  CHECK(only(h.log, "start").size() == 4 + 4);  // boot + one group restart
  CHECK(h.s.restarts_in_period(h.now) == 1);    // a's death counted nothing more
  CHECK_FALSE(h.exit);
  for (auto id : {"a", "b", "c", "d"}) CHECK(h.s.find(id)->state == ChildState::running);
}

TEST_CASE("SecondCrashDuringRestForOneRestartIsHandledAfterIt") {
  Harness h(sup(Strategy::rest_for_one, 5, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  h.crash("b");  // stop c, then start b, c
  REQUIRE(h.s.find("c")->state == ChildState::stopping);
  h.crash("a");  // a (before b) dies while the restart is in progress
  CHECK(h.s.find("a")->state == ChildState::down);
  h.take_log();
  h.honour_stops();  // c stops; b, c start; then a's exit is handled: stop c, b; start a, b, c
  h.honour_stops();
  h.honour_stops();
  auto starts = only(h.log, "start");
  CHECK(starts == Log{"start b", "start c", "start a", "start b", "start c"});
  CHECK(h.s.restarts_in_period(h.now) == 2);
}

TEST_CASE("FailedStartDuringRestartCountsAndIsRetriedThroughTheLoop") {
  Harness h(sup(Strategy::one_for_one, 5, {worker("a")}));
  h.boot();
  h.failing_starts = {"a"};
  h.crash("a");
  CHECK(h.count("start_failed") == 1);
  CHECK(h.s.restarts_in_period(h.now) == 2);  // the crash and the failed attempt
  REQUIRE(h.timers.size() == 1);
  CHECK(h.timers.begin()->second == 0ms);  // retried through the loop, not inline
  h.failing_starts.clear();
  h.fire_timers();
  CHECK(h.s.find("a")->state == ChildState::running);
  CHECK_FALSE(h.exit);
}

TEST_CASE("EveryFailedStartAttemptCountsUntilGiveUp") {
  Harness h(sup(Strategy::one_for_one, 3, {worker("a")}));
  h.boot();
  h.failing_starts = {"a"};
  h.crash("a");
  for (int i = 0; i < 5 && !h.exit; ++i) h.fire_timers();
  CHECK(h.count("start_failed") == 3);
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::gave_up);
}

TEST_CASE("FailedStartInOneForAllRetryRestartsTheGroup") {
  Harness h(sup(Strategy::one_for_all, 5, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  h.failing_starts = {"b"};
  h.crash("a");
  h.honour_stops();
  CHECK(h.s.find("a")->state == ChildState::running);
  CHECK(h.s.find("c")->state == ChildState::down);  // aborted after b failed
  h.failing_starts.clear();
  h.take_log();
  h.fire_timers();  // retry: terminate a, start a, b, c
  h.honour_stops();
  CHECK(only(h.log, "start") == Log{"start a", "start b", "start c"});
}

TEST_CASE("CommandsAreServedBetweenFailedStartRetries") {
  Harness h(sup(Strategy::one_for_one, 10, {worker("a"), worker("b")}));
  h.boot();
  h.failing_starts = {"a"};
  h.crash("a");
  h.command(Command::Kind::pause);
  CHECK(h.s.paused());
  h.fire_timers();  // the retry finds the supervisor paused: deferred to resume
  CHECK(h.s.find("a")->state == ChildState::down);
  h.failing_starts.clear();
  h.command(Command::Kind::resume);
  CHECK(h.s.find("a")->state == ChildState::running);
}

TEST_CASE("ShutdownTimeoutSendsContThenTheStopSignalThenKillsAfterTheTimeout") {
  auto a = worker("a");
  a.shutdown = {Shutdown::Kind::timeout, 2000ms};
  Harness h(sup(Strategy::one_for_one, 1, {a}));
  h.boot();
  h.take_log();
  h.command(Command::Kind::stop, "a");
  CHECK(only(h.take_log(), "signal") == Log{"signal a 18", "signal a 15"});
  // SIGCONT first (nothing may follow the stop signal while the child
  // exits); the stop signal is marked as a stop the supervisor decided: a
  // node process is told so.
  REQUIRE(h.signals.size() == 2);
  CHECK_FALSE(h.signals[0].stop);
  CHECK(h.signals[1].stop);
  REQUIRE(h.timers.size() == 1);
  CHECK(h.timers.begin()->second == 2000ms);
  h.fire_timers();
  CHECK(only(h.take_log(), "signal") == Log{"signal a 9"});
  h.die("a", ExitStatus::killed(SIGKILL_));
  CHECK(h.replies.back().ok);
}

TEST_CASE("StopSignalIsConfigurable") {
  auto a = worker("a");
  a.stop_signal = 2;
  Harness h(sup(Strategy::one_for_one, 1, {a}));
  h.boot();
  h.take_log();
  h.command(Command::Kind::stop, "a");
  CHECK(only(h.take_log(), "signal") == Log{"signal a 18", "signal a 2"});
}

TEST_CASE("ExitBeforeTheTimeoutCancelsTheKillTimer") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a")}));
  h.boot();
  h.command(Command::Kind::stop, "a");
  CHECK(h.timers.size() == 1);
  h.honour_stops();
  CHECK(h.timers.empty());
}

TEST_CASE("BrutalKillSendsSigkillAtOnce") {
  auto a = worker("a");
  a.shutdown = {Shutdown::Kind::brutal_kill, 0ms};
  Harness h(sup(Strategy::one_for_one, 1, {a}));
  h.boot();
  h.take_log();
  h.command(Command::Kind::stop, "a");
  CHECK(only(h.take_log(), "signal") == Log{"signal a 9"});
  CHECK(h.timers.empty());
}

TEST_CASE("InfinityNeverArmsAKillTimer") {
  auto a = worker("a");
  a.shutdown = {Shutdown::Kind::infinity, 0ms};
  Harness h(sup(Strategy::one_for_one, 1, {a}));
  h.boot();
  h.command(Command::Kind::stop, "a");
  CHECK(h.timers.empty());
}

TEST_CASE("ShutdownStopsInReverseOrderAndExitsNormally") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  h.take_log();
  h.s.shutdown(h.now);
  h.pump();
  h.honour_stops();
  CHECK(only(h.log, "record stopped") ==
        Log{"record stopped c", "record stopped b", "record stopped a"});
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::normal);
}

TEST_CASE("ShutdownOfManyChildrenStopsOneAtATimeInReverseStartOrder") {
  constexpr int kChildren = 500;
  std::vector<ChildSpec> children;
  for (int i = 0; i < kChildren; ++i) children.push_back(worker("w" + std::to_string(i)));
  Harness h(sup(Strategy::one_for_one, 1, children));
  h.boot();
  h.take_log();
  h.s.shutdown(h.now);
  h.pump();
  Log expected;
  for (int i = kChildren; i-- > 0;) {
    const std::string id = "w" + std::to_string(i);
    // Only the child being stopped has been signalled; the others wait.
    REQUIRE(h.s.find(id)->state == ChildState::stopping);
    CHECK(std::count_if(h.s.children().begin(), h.s.children().end(),
                        [](auto& c) { return c->state == ChildState::stopping; }) == 1);
    if (i > 0) CHECK(h.s.find("w" + std::to_string(i - 1))->state == ChildState::running);
    h.die(id, ExitStatus::killed(SIGTERM_));
    expected.push_back("record stopped " + id);
  }
  CHECK(only(h.log, "record stopped") == expected);
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::normal);
}

TEST_CASE("ChildDyingByItselfDuringShutdownIsAbsorbedAndNeverSignalled") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a"), worker("b"), worker("c"), worker("d")}));
  h.boot();
  h.take_log();
  h.s.shutdown(h.now);
  h.pump();
  REQUIRE(h.s.find("d")->state == ChildState::stopping);
  h.crash("b");  // queued for its stop, dies first: part of the shutdown
  h.honour_stops();
  CHECK(only(h.log, "record stopped") ==
        Log{"record stopped d", "record stopped c", "record stopped a"});
  CHECK(only(h.log, "signal b").empty());
  CHECK(only(h.log, "start").empty());
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::normal);
}

TEST_CASE("ShutdownDuringAGroupRestartPreemptsIt") {
  Harness h(sup(Strategy::one_for_all, 3, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  h.crash("a");  // stopping c
  h.s.shutdown(h.now);
  h.pump();
  h.honour_stops();
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::normal);
  for (auto& c : h.s.children()) CHECK(c->state == ChildState::down);
}

TEST_CASE("ManualStopKeepsTheSpecAndTheChildStaysDown") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a")}));
  h.boot();
  h.command(Command::Kind::stop, "a");
  CHECK(h.replies.empty());  // the reply waits until the child is down
  h.honour_stops();
  REQUIRE(h.replies.size() == 1);
  CHECK(h.replies[0].ok);
  CHECK(h.s.find("a") != nullptr);
  CHECK(h.s.find("a")->state == ChildState::down);
  CHECK(h.count("stopped") == 1);
  CHECK(h.s.restarts_in_period(h.now) == 0);
}

TEST_CASE("ManualStartStartsAStoppedChildAndRefusesARunningOne") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a")}));
  h.boot();
  h.command(Command::Kind::start, "a");
  CHECK_FALSE(h.replies.back().ok);
  CHECK(h.replies.back().error_code == "already_running");
  h.command(Command::Kind::stop, "a");
  h.honour_stops();
  h.command(Command::Kind::start, "a");
  CHECK(h.replies.back().ok);
  CHECK(h.replies.back().pid == h.pid("a"));
}

TEST_CASE("ManualStartFailureIsReportedAndNotRetried") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a")}));
  h.boot();
  h.command(Command::Kind::stop, "a");
  h.honour_stops();
  h.failing_starts = {"a"};
  h.command(Command::Kind::start, "a");
  CHECK_FALSE(h.replies.back().ok);
  CHECK(h.replies.back().error_code == "start_failed");
  CHECK(h.timers.empty());
}

TEST_CASE("ManualRestartIsRecordedAndDoesNotCountForIntensity") {
  Harness h(sup(Strategy::one_for_one, 0, {worker("a")}));
  h.boot();
  const int old = h.pid("a");
  h.command(Command::Kind::restart, "a");
  h.honour_stops();
  CHECK(h.count("manual_restart") == 1);
  CHECK(h.records.back().old_pid == old);
  CHECK(h.records.back().new_pid == h.pid("a"));
  CHECK_FALSE(h.exit);
  CHECK(h.replies.back().pid == h.pid("a"));
}

TEST_CASE("RemoveDeletesAStoppedChildAndRefusesARunningOne") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a"), worker("b")}));
  h.boot();
  h.command(Command::Kind::remove, "a");
  CHECK(h.replies.back().error_code == "running");
  h.command(Command::Kind::stop, "a");
  h.honour_stops();
  h.command(Command::Kind::remove, "a");
  CHECK(h.replies.back().ok);
  CHECK(h.s.find("a") == nullptr);
  CHECK(h.count("removed") == 1);
}

TEST_CASE("UnknownChildIsNotFound") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a")}));
  h.boot();
  h.command(Command::Kind::stop, "zz");
  CHECK(h.replies.back().error_code == "not_found");
}

TEST_CASE("KillSendsTheSignalAndThePolicyReactsAsToAnyCrash") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a")}));
  h.boot();
  h.take_log();
  h.command(Command::Kind::kill, "a", SIGKILL_);
  CHECK(only(h.take_log(), "signal") == Log{"signal a 9"});
  h.die("a", ExitStatus::killed(SIGKILL_));
  CHECK(h.count("restarted") == 1);
}

TEST_CASE("PauseLeavesADeadChildDownAndResumeRestartsIt") {
  Harness h(sup(Strategy::one_for_one, 3, {worker("a"), worker("b")}));
  h.boot();
  h.command(Command::Kind::pause);
  CHECK(h.s.paused());
  h.take_log();
  h.crash("a");
  CHECK(h.take_log() == Log{"record exited a"});
  CHECK(h.s.find("a")->state == ChildState::down);
  h.command(Command::Kind::resume);
  CHECK(only(h.log, "start") == Log{"start a"});
  CHECK(h.s.find("a")->state == ChildState::running);
  CHECK(h.count("paused") == 1);
  CHECK(h.count("resumed") == 1);
}

TEST_CASE("ResumeCountsAsOneRestartForIntensity") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  h.command(Command::Kind::pause);
  h.crash("a");
  h.crash("b");
  h.crash("c");
  h.command(Command::Kind::resume);
  CHECK(h.s.restarts_in_period(h.now) == 1);
  CHECK_FALSE(h.exit);
  for (auto id : {"a", "b", "c"}) CHECK(h.s.find(id)->state == ChildState::running);
}

TEST_CASE("ResumeDoesNotRestartATransientThatExitedNormally") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a", RestartType::transient)}));
  h.boot();
  h.command(Command::Kind::pause);
  h.die("a", ExitStatus::exited(0));
  h.take_log();
  h.command(Command::Kind::resume);
  CHECK(only(h.log, "start").empty());
  CHECK(h.s.restarts_in_period(h.now) == 0);
}

TEST_CASE("ResumeRestForOneRestartsFromTheEarliestDeadChild") {
  Harness h(sup(Strategy::rest_for_one, 3, {worker("a"), worker("b"), worker("c"), worker("d")}));
  h.boot();
  h.command(Command::Kind::pause);
  h.crash("c");
  h.crash("b");
  h.take_log();
  h.command(Command::Kind::resume);
  CHECK(only(h.take_log(), "signal") == Log{"signal d 18", "signal d 15"});
  h.honour_stops();
  CHECK(only(h.log, "start") == Log{"start b", "start c", "start d"});
}

TEST_CASE("ResumeOneForAllRestartsAllIfAnyDied") {
  Harness h(sup(Strategy::one_for_all, 3, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  h.command(Command::Kind::pause);
  h.crash("b");
  h.take_log();
  h.command(Command::Kind::resume);
  h.honour_stops();
  CHECK(only(h.log, "start") == Log{"start a", "start b", "start c"});
  CHECK(h.s.restarts_in_period(h.now) == 1);
}

TEST_CASE("ResumeOverIntensityGivesUp") {
  Harness h(sup(Strategy::one_for_one, 0, {worker("a")}));
  h.boot();
  h.command(Command::Kind::pause);
  h.crash("a");
  h.command(Command::Kind::resume);
  CHECK(h.count("gave_up") == 1);
  REQUIRE(h.exit);
}

TEST_CASE("PauseStopStopsChildrenInReverseAndResumeStartsThemAgain") {
  Harness h(sup(Strategy::one_for_one, 0, {worker("a"), worker("b")}));
  h.boot();
  h.take_log();
  h.command(Command::Kind::pause_stop);
  h.honour_stops();
  CHECK(only(h.log, "record stopped") == Log{"record stopped b", "record stopped a"});
  CHECK(h.replies.back().ok);
  h.take_log();
  h.command(Command::Kind::resume);
  CHECK(only(h.log, "start") == Log{"start a", "start b"});
  CHECK(h.s.restarts_in_period(h.now) == 0);  // nothing failed: no restart counted
  CHECK_FALSE(h.exit);
}

TEST_CASE("CommandsDuringAnOperationWaitTheirTurn") {
  Harness h(sup(Strategy::one_for_all, 3, {worker("a"), worker("b")}));
  h.boot();
  h.crash("a");  // stopping b
  h.command(Command::Kind::stop, "a");
  CHECK(h.replies.empty());
  h.honour_stops();  // group restart completes, then the stop runs
  h.honour_stops();
  REQUIRE(h.replies.size() == 1);
  CHECK(h.replies[0].ok);
  CHECK(h.s.find("a")->state == ChildState::down);
  CHECK(h.s.find("b")->state == ChildState::running);
}

TEST_CASE("AnUnknownPidIsIgnored") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a")}));
  h.boot();
  CHECK_FALSE(h.s.on_child_exited(99999, ExitStatus::exited(0), h.now));
}

TEST_CASE("ExitStatusIsDescribed") {
  CHECK(describe(ExitStatus::exited(3)) == "exited with code 3");
  CHECK(describe(ExitStatus::killed(9)) == "killed by SIGKILL");
  CHECK(describe(ExitStatus::killed(11, true)) == "killed by SIGSEGV (core dumped)");
  CHECK(parse_signal("KILL") == 9);
  CHECK(parse_signal("sigterm") == 15);
  CHECK(parse_signal("9") == 9);
  CHECK(parse_signal("NOPE") == -1);
}

TEST_CASE("ChildDyingDuringPauseStopIsRestartedByResume") {
  Harness h(sup(Strategy::one_for_one, 3, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  h.command(Command::Kind::pause_stop);  // stopping c first
  h.crash("a");                          // a crashes on its own meanwhile
  h.honour_stops();
  h.take_log();
  h.command(Command::Kind::resume);
  for (auto id : {"a", "b", "c"}) CHECK(h.s.find(id)->state == ChildState::running);
}

TEST_CASE("ShutdownDuringAFailedBootKeepsTheBootFailure") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a"), worker("b")}));
  h.failing_starts = {"b"};
  h.boot();  // stopping a
  CHECK(h.s.ending());
  h.s.shutdown(h.now);
  h.pump();
  h.honour_stops();
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::boot_failed);
}

namespace {
Command add_command(std::string id, CommandToken token) {
  Command c;
  c.kind = Command::Kind::add;
  c.child = id;
  c.token = token;
  c.spec = worker(std::move(id));
  return c;
}
}  // namespace

TEST_CASE("AddStartsANewChildLastOnADynamicSupervisorOnly") {
  Harness stat(sup(Strategy::one_for_one, 1, {worker("a")}));
  stat.boot();
  stat.s.on_command(add_command("x", 1), stat.now);
  stat.pump();
  CHECK(stat.replies.back().error_code == "refused");

  auto spec = sup(Strategy::dynamic, 1, {});
  spec.max_children = 2;
  Harness h(spec);
  h.boot();
  h.s.on_command(add_command("x", 1), h.now);
  h.pump();
  CHECK(h.replies.back().ok);
  CHECK(h.replies.back().pid == h.pid("x"));
  CHECK(h.count("added") == 1);
  h.s.on_command(add_command("x", 2), h.now);
  h.pump();
  CHECK(h.replies.back().error_code == "already_exists");
  h.s.on_command(add_command("y", 3), h.now);
  h.pump();
  h.s.on_command(add_command("z", 4), h.now);
  h.pump();
  CHECK(h.replies.back().error_code == "max_children");
}

TEST_CASE("AddRefusesASignificantChildWhereOtpAllowsNone") {
  auto significant = [](std::string id, CommandToken token) {
    Command c = add_command(std::move(id), token);
    c.spec->significant = true;
    c.spec->restart = RestartType::transient;
    return c;
  };
  Harness dynamic(sup(Strategy::dynamic, 1, {}));
  dynamic.boot();
  dynamic.s.on_command(significant("x", 1), dynamic.now);
  dynamic.pump();
  CHECK(dynamic.replies.back().error_code == "bad_request");
  CHECK(dynamic.replies.back().message.find("dynamic") != std::string::npos);
  CHECK(dynamic.s.find("x") == nullptr);

  auto never = sup(Strategy::one_for_one, 1, {worker("a")});
  never.allow_add = true;
  Harness h(never);
  h.boot();
  h.s.on_command(significant("x", 2), h.now);
  h.pump();
  CHECK(h.replies.back().error_code == "bad_request");
  CHECK(h.replies.back().message.find("auto_shutdown") != std::string::npos);

  auto any = never;
  any.auto_shutdown = AutoShutdown::any_significant;
  Harness allowed(any);
  allowed.boot();
  allowed.s.on_command(significant("x", 3), allowed.now);
  allowed.pump();
  CHECK(allowed.replies.back().ok);
  CHECK(allowed.s.find("x")->spec.significant);
}

TEST_CASE("RemoveStopsAndDeletesAnAddedChild") {
  Harness h(sup(Strategy::dynamic, 1, {}));
  h.boot();
  h.s.on_command(add_command("x", 1), h.now);
  h.pump();
  h.command(Command::Kind::remove, "x");
  h.honour_stops();
  CHECK(h.replies.back().ok);
  CHECK(h.s.find("x") == nullptr);
  CHECK(h.count("removed") == 1);
}

TEST_CASE("ASupervisorChildThatGaveUpExitsAsShutdown") {
  auto sub = worker("sub", RestartType::transient);
  sub.is_supervisor = true;
  Harness h(sup(Strategy::one_for_one, 3, {sub, worker("a")}));
  h.boot();
  h.take_log();
  h.die("sub", ExitStatus::exited(kSupervisorGaveUpExitCode));
  CHECK(only(h.log, "start").empty());  // transient + shutdown: not restarted
  CHECK(h.records.back().reason == "supervisor gave up (shutdown)");
  auto perm = worker("sub");
  perm.is_supervisor = true;
  Harness p(sup(Strategy::one_for_one, 3, {perm}));
  p.boot();
  p.take_log();
  p.die("sub", ExitStatus::exited(kSupervisorGaveUpExitCode));
  CHECK(only(p.log, "start") == Log{"start sub"});
}

TEST_CASE("ReconfigureStopsRemovedRestartsChangedStartsNewAndLeavesTheRestAlone") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a"), worker("b"), worker("c")}));
  h.boot();
  const int a = h.pid("a");
  auto next = sup(Strategy::one_for_all, 5, {worker("a"), worker("n"), worker("b")});
  next.children[2].command = {"/bin/false"};  // b changed
  h.take_log();
  Command cmd;
  cmd.kind = Command::Kind::reconfigure;
  cmd.token = 9;
  cmd.new_spec = next;
  h.s.on_command(cmd, h.now);
  h.pump();
  CHECK(only(h.take_log(), "signal") == Log{"signal c 18", "signal c 15"});
  h.die("c", ExitStatus::killed(SIGTERM_));
  CHECK(only(h.log, "signal") == Log{"signal b 18", "signal b 15"});
  h.die("b", ExitStatus::killed(SIGTERM_));
  CHECK(only(h.log, "start") == Log{"start n", "start b"});
  CHECK(h.pid("a") == a);
  CHECK(h.s.find("c") == nullptr);
  CHECK(h.s.find("b")->spec.command == std::vector<std::string>{"/bin/false"});
  CHECK(h.s.spec().strategy == Strategy::one_for_all);
  CHECK(h.s.spec().intensity == 5);
  std::vector<std::string> order;
  for (auto& c : h.s.children()) order.push_back(c->spec.id);
  CHECK(order == std::vector<std::string>{"a", "n", "b"});
  REQUIRE_FALSE(h.replies.empty());
  CHECK(h.replies.back().ok);
  CHECK(h.count("removed") == 1);
}

TEST_CASE("ReconfigureOfADownChildOnlyChangesItsNextStart") {
  Harness h(sup(Strategy::one_for_one, 1, {worker("a")}));
  h.boot();
  h.command(Command::Kind::stop, "a");
  h.honour_stops();
  auto next = sup(Strategy::one_for_one, 1, {worker("a")});
  next.children[0].command = {"/bin/false"};
  Command cmd;
  cmd.kind = Command::Kind::reconfigure;
  cmd.token = 9;
  cmd.new_spec = next;
  h.take_log();
  h.s.on_command(cmd, h.now);
  h.pump();
  CHECK(only(h.log, "start").empty());
  h.command(Command::Kind::start, "a");
  CHECK(h.s.find("a")->spec.command == std::vector<std::string>{"/bin/false"});
}
