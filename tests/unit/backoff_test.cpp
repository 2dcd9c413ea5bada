// The supervisor core's extensions beyond OTP's restart semantics, with a
// fake clock and a fake shell: restart_delay with exponential backoff,
// significant children with auto_shutdown (OTP 24), freeze/thaw.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fake_shell.h"
#include "otpsup/config.h"
#include "otpsup/spec_json.h"
#include "otpsup/supervisor.h"
#include "otpsup/tree_mirror.h"

using namespace otpsup;
using otpsup::testing::only;
using namespace std::chrono_literals;

namespace {

constexpr int kSigTerm = 15, kSigCont = 18, kSigStop = 19;

ChildSpec child(std::string id, RestartType restart = RestartType::permanent,
                Duration delay = 0ms) {
  ChildSpec c;
  c.id = std::move(id);
  c.restart = restart;
  c.command = {"/bin/true"};
  c.executable = "/bin/true";
  c.restart_delay = delay;
  return c;
}

SupervisorSpec spec(Strategy strategy, int intensity, std::vector<ChildSpec> children,
                    AutoShutdown auto_shutdown = AutoShutdown::never) {
  SupervisorSpec s;
  s.name = "root";
  s.strategy = strategy;
  s.intensity = intensity;
  s.period = 5000ms;
  s.children = std::move(children);
  s.auto_shutdown = auto_shutdown;
  return s;
}

// The shared fake shell, booted at once with a fixed jitter.
struct Shell : otpsup::testing::FakeShell {
  explicit Shell(SupervisorSpec sp, double jitter = 0.5) : FakeShell(std::move(sp)) {
    s.set_jitter_source([jitter] { return jitter; });
    boot();
  }
  // The delays of every restart_scheduled record, in order.
  std::vector<Duration> delays() const {
    std::vector<Duration> out;
    for (auto& r : records) {
      if (r.event == "restart_scheduled" && r.delay) out.push_back(*r.delay);
    }
    return out;
  }
};

using Log = std::vector<std::string>;

}  // namespace

// ------------------------------------------------------------- backoff --

TEST_CASE("RestartDelaySchedulesTheRestartAndCountsItWhenAttempted") {
  Shell h(spec(Strategy::one_for_one, 3, {child("a", RestartType::permanent, 1000ms)}));
  h.take_log();
  h.crash("a");
  CHECK(only(h.log, "start").empty());
  CHECK(h.delays() == std::vector<Duration>{1000ms});
  const Child* a = h.s.find("a");
  CHECK(a->state == ChildState::down);
  CHECK(a->restart_timer.has_value());
  CHECK(a->restart_at == h.now + 1000ms);
  CHECK(h.s.restarts_in_period(h.now) == 0);  // not counted before the attempt
  h.advance(999ms);
  CHECK(only(h.log, "start").empty());
  h.advance(1ms);
  CHECK(only(h.log, "start") == Log{"start a"});
  CHECK(h.count("restarted") == 1);
  CHECK(h.s.restarts_in_period(h.now) == 1);
  CHECK_FALSE(h.s.find("a")->restart_timer.has_value());
}

TEST_CASE("WithoutRestartDelayTheRestartIsImmediateAsInOtp") {
  Shell h(spec(Strategy::one_for_one, 3, {child("a")}));
  h.crash("a");
  CHECK(h.s.find("a")->state == ChildState::running);
  CHECK(h.count("restart_scheduled") == 0);
  CHECK(h.timers.empty());
}

TEST_CASE("DelayGrowsExponentiallyUpToBackoffMax") {
  auto a = child("a", RestartType::permanent, 100ms);
  a.backoff_max = 500ms;
  Shell h(spec(Strategy::one_for_one, 100, {a}));
  for (int i = 0; i < 5; ++i) {
    h.crash("a");
    h.advance(1000ms);
  }
  CHECK(h.delays() == std::vector<Duration>{100ms, 200ms, 400ms, 500ms, 500ms});
}

TEST_CASE("WithoutBackoffMaxTheDelayIsConstant") {
  Shell h(spec(Strategy::one_for_one, 100, {child("a", RestartType::permanent, 300ms)}));
  for (int i = 0; i < 3; ++i) {
    h.crash("a");
    h.advance(1000ms);
  }
  CHECK(h.delays() == std::vector<Duration>{300ms, 300ms, 300ms});
}

TEST_CASE("BackoffResetsAfterTheChildStayedUpForBackoffReset") {
  auto a = child("a", RestartType::permanent, 100ms);
  a.backoff_max = 10s;
  a.backoff_reset = 5s;
  Shell h(spec(Strategy::one_for_one, 100, {a}));
  h.crash("a");
  h.advance(100ms);
  h.crash("a");
  h.advance(200ms);
  h.advance(4999ms);  // up 4.999 s: not long enough
  h.crash("a");
  h.advance(400ms);
  h.advance(5s);  // up 5 s
  h.crash("a");
  CHECK(h.delays() == std::vector<Duration>{100ms, 200ms, 400ms, 100ms});
}

TEST_CASE("JitterStaysWithinTenPercent") {
  Shell low(spec(Strategy::one_for_one, 3, {child("a", RestartType::permanent, 1000ms)}), 0.0);
  low.crash("a");
  Shell high(spec(Strategy::one_for_one, 3, {child("a", RestartType::permanent, 1000ms)}), 0.999);
  high.crash("a");
  CHECK(low.delays() == std::vector<Duration>{900ms});
  REQUIRE(high.delays().size() == 1);
  CHECK(high.delays()[0] >= 1090ms);
  CHECK(high.delays()[0] <= 1100ms);
}

TEST_CASE("IntensityIsExceededAtTheAttemptNotAtTheCrash") {
  Shell h(spec(Strategy::one_for_one, 0, {child("a", RestartType::permanent, 1000ms)}));
  h.crash("a");
  CHECK_FALSE(h.exit);
  CHECK(h.count("gave_up") == 0);
  h.advance(1000ms);
  CHECK(h.count("gave_up") == 1);
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::gave_up);
  CHECK(h.count("restarted") == 0);
}

TEST_CASE("GiveUpCancelsPendingRestarts") {
  Shell h(spec(Strategy::one_for_one, 1, {child("a", RestartType::permanent, 10s), child("b")}));
  h.crash("a");
  h.crash("b");  // restarted now: 1 of 1
  h.crash("b");  // 2 of 1: gives up
  CHECK(h.count("gave_up") == 1);
  REQUIRE(h.count("restart_cancelled") == 1);
  auto cancelled = std::find_if(h.records.begin(), h.records.end(),
                                [](auto& r) { return r.event == "restart_cancelled"; });
  CHECK(cancelled->child == "a");
  CHECK(cancelled->reason == "supervisor gave up");
  h.honour_stops();
  REQUIRE(h.exit);
  CHECK(h.timers.empty());
  h.advance(20s);
  CHECK(h.count("restarted") == 1);  // b's only
}

TEST_CASE("StopCancelsAPendingRestart") {
  Shell h(spec(Strategy::one_for_one, 3, {child("a", RestartType::permanent, 1000ms)}));
  h.crash("a");
  h.take_log();
  h.command(Command::Kind::stop, "a");
  CHECK(h.count("restart_cancelled") == 1);
  CHECK(h.records.back().reason == "manual stop");
  CHECK(h.timers.empty());
  h.advance(5s);
  CHECK(only(h.log, "start").empty());
  CHECK(h.s.find("a")->state == ChildState::down);
  REQUIRE(!h.replies.empty());
  CHECK(h.replies.back().ok);
}

TEST_CASE("ManualRestartDuringTheDelayRestartsNowWithoutCounting") {
  Shell h(spec(Strategy::one_for_one, 3, {child("a", RestartType::permanent, 10s)}));
  h.crash("a");
  h.take_log();
  h.command(Command::Kind::restart, "a");
  CHECK(only(h.log, "start") == Log{"start a"});
  CHECK(h.s.find("a")->state == ChildState::running);
  CHECK(h.timers.empty());
  CHECK(h.s.restarts_in_period(h.now) == 0);
  h.advance(20s);
  CHECK(only(h.log, "start") == Log{"start a"});  // the old timer does not start it again
}

TEST_CASE("RemoveDuringTheDelayForgetsTheRestart") {
  Shell h(spec(Strategy::one_for_one, 3, {child("a", RestartType::permanent, 1000ms), child("b")}));
  h.crash("a");
  h.command(Command::Kind::remove, "a");
  CHECK(h.s.find("a") == nullptr);
  CHECK(h.timers.empty());
  h.advance(5s);
  CHECK(h.count("restarted") == 0);
}

TEST_CASE("PauseDefersAPendingRestartToResume") {
  Shell h(spec(Strategy::one_for_one, 3, {child("a", RestartType::permanent, 1000ms)}));
  h.crash("a");
  h.command(Command::Kind::pause);
  CHECK(h.count("restart_cancelled") == 1);
  h.advance(5s);
  CHECK(h.s.find("a")->state == ChildState::down);
  h.command(Command::Kind::resume);
  CHECK(h.s.find("a")->state == ChildState::running);
}

TEST_CASE("OneForAllWithADelayRestartsTheGroupAfterTheDelay") {
  Shell h(spec(Strategy::one_for_all, 3,
               {child("a"), child("b", RestartType::permanent, 1000ms), child("c")}));
  h.take_log();
  h.crash("b");
  CHECK(only(h.log, "signal").empty());  // siblings keep running during the delay
  CHECK(h.s.find("a")->state == ChildState::running);
  h.advance(1000ms);
  h.honour_stops();
  auto log = h.take_log();
  CHECK(only(log, "signal") == Log{"signal c 18", "signal c 15", "signal a 18", "signal a 15"});
  CHECK(only(log, "start") == Log{"start a", "start b", "start c"});
  CHECK(h.s.restarts_in_period(h.now) == 1);
}

TEST_CASE("AFailedStartWithADelayIsRetriedAfterTheNextDelayAndEachAttemptCounts") {
  auto a = child("a", RestartType::permanent, 100ms);
  a.backoff_max = 1s;
  Shell h(spec(Strategy::one_for_one, 10, {a}));
  h.failing_starts = {"a"};
  h.crash("a");
  h.advance(100ms);  // attempt 1 fails
  h.advance(200ms);  // attempt 2 fails
  CHECK(h.count("start_failed") == 2);
  h.failing_starts.clear();
  h.advance(400ms);  // attempt 3 succeeds
  CHECK(h.delays() == std::vector<Duration>{100ms, 200ms, 400ms});
  CHECK(h.s.find("a")->state == ChildState::running);
  CHECK(h.s.restarts_in_period(h.now) == 3);
}

// --------------------------------------------- significant children --

TEST_CASE("AnySignificantTransientNormalExitShutsTheSupervisorDown") {
  auto main = child("main", RestartType::transient);
  main.significant = true;
  Shell h(spec(Strategy::one_for_one, 3, {child("db"), main, child("web")},
               AutoShutdown::any_significant));
  h.take_log();
  h.die("main", ExitStatus::exited(0));
  CHECK(h.count("auto_shutdown") == 1);
  h.honour_stops();
  auto log = h.take_log();
  CHECK(only(log, "signal") ==
        Log{"signal web 18", "signal web 15", "signal db 18", "signal db 15"});
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::normal);
  CHECK(h.exit->reason.find("auto_shutdown") != std::string::npos);
  CHECK(h.exit->reason.find("main") != std::string::npos);
}

TEST_CASE("ASignificantTransientAbnormalExitIsRestartedNotShutDown") {
  auto main = child("main", RestartType::transient);
  main.significant = true;
  Shell h(spec(Strategy::one_for_one, 3, {main}, AutoShutdown::any_significant));
  h.crash("main");
  CHECK_FALSE(h.exit);
  CHECK(h.count("auto_shutdown") == 0);
  CHECK(h.s.find("main")->state == ChildState::running);
  CHECK(h.count("restarted") == 1);
}

TEST_CASE("ASignificantTemporaryChildEndsItsSupervisorOnAnyExit") {
  auto job = child("job", RestartType::temporary);
  job.significant = true;
  Shell h(spec(Strategy::one_for_one, 3, {job, child("other")}, AutoShutdown::any_significant));
  h.crash("job");
  CHECK(h.count("auto_shutdown") == 1);
  h.honour_stops();
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::normal);
}

TEST_CASE("AllSignificantWaitsForTheLastSignificantChild") {
  auto a = child("a", RestartType::temporary);
  auto b = child("b", RestartType::transient);
  a.significant = b.significant = true;
  Shell h(spec(Strategy::one_for_one, 3, {a, b, child("c")}, AutoShutdown::all_significant));
  h.die("a", ExitStatus::exited(0));
  CHECK(h.count("auto_shutdown") == 0);
  CHECK_FALSE(h.exit);
  h.die("b", ExitStatus::exited(0));
  CHECK(h.count("auto_shutdown") == 1);
  h.honour_stops();
  REQUIRE(h.exit);
  CHECK(h.exit->kind == ExitAction::Kind::normal);
}

TEST_CASE("AChildStoppedByItsSupervisorDoesNotTriggerAutoShutdown") {
  auto main = child("main", RestartType::transient);
  main.significant = true;
  Shell h(spec(Strategy::one_for_one, 3, {main, child("other")}, AutoShutdown::any_significant));
  h.command(Command::Kind::stop, "main");
  h.honour_stops();
  CHECK_FALSE(h.exit);
  CHECK(h.count("auto_shutdown") == 0);
  CHECK(h.s.find("other")->state == ChildState::running);
}

TEST_CASE("SignificantIsIgnoredWithAutoShutdownNever") {
  auto main = child("main", RestartType::transient);
  main.significant = true;  // config rejects this; the core stays OTP's
  Shell h(spec(Strategy::one_for_one, 3, {main, child("other")}));
  h.die("main", ExitStatus::exited(0));
  CHECK_FALSE(h.exit);
}

TEST_CASE("ANestedSupervisorThatAutoShutDownIsANormalExitForItsTransientParentEntry") {
  ChildSpec sub = child("sub", RestartType::transient);
  sub.is_supervisor = true;
  Shell h(spec(Strategy::one_for_one, 3, {sub}));
  h.die("sub", ExitStatus::exited(0));  // otpsupd --node exits 0 after auto_shutdown
  CHECK(h.s.find("sub")->state == ChildState::down);
  CHECK(h.count("restarted") == 0);
}

// ------------------------------------------------------- freeze, thaw --

TEST_CASE("FreezeSendsSigstopAndThawSigcont") {
  Shell h(spec(Strategy::one_for_one, 3, {child("a")}));
  h.take_log();
  h.command(Command::Kind::freeze, "a");
  CHECK(only(h.log, "signal") == Log{"signal a 19"});
  CHECK(h.s.find("a")->frozen);
  CHECK(h.count("frozen") == 1);
  h.command(Command::Kind::freeze, "a");  // already frozen: nothing more
  h.command(Command::Kind::thaw, "a");
  CHECK(only(h.take_log(), "signal") == Log{"signal a 19", "signal a 18"});
  CHECK_FALSE(h.s.find("a")->frozen);
  h.command(Command::Kind::thaw, "a");  // not frozen: ok, a no-op
  CHECK(only(h.take_log(), "signal").empty());
  CHECK(std::all_of(h.replies.begin(), h.replies.end(), [](auto& r) { return r.ok; }));
}

TEST_CASE("FreezeOfADownChildIsRefused") {
  Shell h(spec(Strategy::one_for_one, 3, {child("a")}));
  h.command(Command::Kind::stop, "a");
  h.honour_stops();
  h.command(Command::Kind::freeze, "a");
  REQUIRE(!h.replies.empty());
  CHECK_FALSE(h.replies.back().ok);
  CHECK(h.replies.back().error_code == "not_running");
}

TEST_CASE("AFrozenChildIsStoppedWithSigcontAndAKilledOneIsACrash") {
  Shell h(spec(Strategy::one_for_one, 3, {child("a"), child("b")}));
  h.command(Command::Kind::freeze, "a");
  h.command(Command::Kind::freeze, "b");
  h.take_log();
  h.command(Command::Kind::stop, "a");
  CHECK(only(h.log, "signal") == Log{"signal a 18", "signal a 15"});
  h.honour_stops();
  h.die("b", ExitStatus::killed(9));
  CHECK(h.s.find("b")->state == ChildState::running);  // restarted as any crash
  CHECK_FALSE(h.s.find("b")->frozen);
}

// -------------------------------------------------------------- config --

namespace {

ConfigLoad load(const std::string& text) {
  return load_config_text(text, "test.toml", {});
}

std::string errors_of(const ConfigLoad& r) {
  std::string text;
  for (const auto& e : r.errors) text += e.to_string() + "\n";
  return text;
}

}  // namespace

TEST_CASE("ConfigReadsBackoffAndSignificantKeysAndShipsThemToNodes") {
  ConfigLoad r = load(R"([supervisor.root]
children = ["w", "sub"]
auto_shutdown = "any_significant"
[supervisor.sub]
children = []
restart = "transient"
significant = true
restart_delay = "2s"
[worker.w]
command = ["/bin/sh"]
restart_delay = "500ms"
backoff_max = "30s"
backoff_reset = "1m"
)");
  INFO(errors_of(r));
  REQUIRE(r.ok());
  const SupervisorSpec& root = r.config->root();
  CHECK(root.auto_shutdown == AutoShutdown::any_significant);
  const ChildSpec& w = root.children.at(0);
  CHECK(w.restart_delay == 500ms);
  CHECK(w.backoff_max == 30s);
  CHECK(w.backoff_reset == 60s);
  CHECK_FALSE(w.significant);
  const ChildSpec& sub = root.children.at(1);
  CHECK(sub.significant);
  CHECK(sub.restart_delay == 2s);
  // Everything goes through the spec sent down to node processes.
  const SupervisorSpec shipped = supervisor_spec_from_json(to_json(root));
  CHECK(shipped.auto_shutdown == root.auto_shutdown);
  CHECK(shipped.children == root.children);
}

TEST_CASE("ConfigRejectsSignificantOnAPermanentChild") {
  ConfigLoad r = load(R"([supervisor.root]
children = ["w"]
auto_shutdown = "any_significant"
[worker.w]
command = ["/bin/sh"]
significant = true
)");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == 6);
  CHECK(r.errors[0].column == 15);
  CHECK(r.errors[0].message.find("transient or temporary") != std::string::npos);
}

TEST_CASE("ConfigRejectsSignificantUnderASupervisorWithoutAutoShutdown") {
  ConfigLoad r = load(R"([supervisor.root]
children = ["w"]
[worker.w]
command = ["/bin/sh"]
restart = "temporary"
significant = true
)");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == 6);
  CHECK(r.errors[0].message.find("auto_shutdown") != std::string::npos);
}

TEST_CASE("ConfigRejectsBackoffMaxBelowRestartDelayAndBackoffWithoutDelay") {
  ConfigLoad r = load(R"([supervisor.root]
children = ["w", "v"]
[worker.w]
command = ["/bin/sh"]
restart_delay = "2s"
backoff_max = "1s"
[worker.v]
command = ["/bin/sh"]
backoff_reset = "1m"
)");
  INFO(errors_of(r));
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].line == 6);
  CHECK(r.errors[0].message.find("at least restart_delay") != std::string::npos);
  CHECK(r.errors[1].line == 9);
  CHECK(r.errors[1].message.find("restart_delay is not set") != std::string::npos);
}

TEST_CASE("ConfigRejectsABadAutoShutdownValue") {
  ConfigLoad r = load(R"([supervisor.root]
children = []
auto_shutdown = "any"
)");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == 3);
  CHECK(r.errors[0].message.find("any_significant") != std::string::npos);
}

TEST_CASE("TheExampleJobTomlIsValid") {
  // The demo workers, as stand-ins in a fresh directory (the lookup only
  // needs executables).
  std::string dir =
      (std::filesystem::temp_directory_path() / "otpsup-backoff-test.XXXXXX").string();
  REQUIRE(::mkdtemp(dir.data()) != nullptr);
  for (const char* name : {"otpsup-counter", "otpsup-printer"}) {
    const std::string file = dir + "/" + name;
    std::ofstream(file) << "#!/bin/sh\nexit 0\n";
    REQUIRE(::chmod(file.c_str(), 0755) == 0);
  }
  ConfigLoad r = load_config_file(
      std::string(OTPSUP_TEST_DATA_DIR) + "/../../etc/examples/job.toml", ConfigContext{dir, ""});
  std::filesystem::remove_all(dir);
  INFO(errors_of(r));
  REQUIRE(r.ok());
  CHECK(r.config->root().children.at(0).backoff_max == 30s);
  CHECK(r.config->supervisors.at("job").auto_shutdown == AutoShutdown::any_significant);
}

// ------------------------------------------------------------- mirror --

TEST_CASE("TheMirrorShowsRestartingWithTheTimeLeftAndFrozen") {
  SupervisorSpec root = spec(Strategy::one_for_one, 3, {child("a"), child("b")});
  TreeMirror m;
  const TimePoint t0{};
  m.build({{"root", root}}, 1, t0);
  m.apply({{"sup", "root"}, {"child", "a"}, {"event", "started"}, {"pid", 10}}, t0);
  m.apply({{"sup", "root"}, {"child", "b"}, {"event", "started"}, {"pid", 11}}, t0);
  m.apply({{"sup", "root"}, {"child", "a"}, {"event", "exited"}, {"pid", 10}}, t0);
  m.apply({{"sup", "root"}, {"child", "a"}, {"event", "restart_scheduled"}, {"delay_ms", 2000}},
          t0);
  m.apply({{"sup", "root"}, {"child", "b"}, {"event", "frozen"}, {"pid", 11}}, t0);
  nlohmann::json st = m.status("root/a", t0 + 400ms);
  CHECK(st["state"] == "restarting");
  CHECK(st["restart_in_ms"] == 1600);
  CHECK(m.status("root/b", t0)["frozen"] == true);
  m.apply(
      {{"sup", "root"}, {"child", "a"}, {"event", "restart_cancelled"}, {"reason", "manual stop"}},
      t0);
  CHECK(m.status("root/a", t0)["state"] == "stopped");
  CHECK_FALSE(m.status("root/a", t0).contains("restart_in_ms"));
  m.apply({{"sup", "root"}, {"child", "b"}, {"event", "thawed"}, {"pid", 11}}, t0);
  CHECK_FALSE(m.status("root/b", t0).contains("frozen"));
}
