// The pure core's readiness (ready, start_timeout) and watchdog, driven with a
// fake clock and a fake shell: spawns succeed with fresh pids, and a child is
// ready, pings its watchdog or dies only when the test says so.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

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

struct Shell {
  Supervisor s;
  TimePoint now{};
  int next_pid = 100;
  std::vector<std::string> log;  // "start a", "signal a 9", "record ready a", "booted"
  std::vector<RecordAction> records;
  std::map<TimerId, Duration> timers;
  std::optional<ExitAction> exit;

  explicit Shell(SupervisorSpec spec) : s(std::move(spec)) {}

  void pump() {
    for (auto actions = s.take_actions(); !actions.empty(); actions = s.take_actions()) {
      for (Action& a : actions) apply(a);
    }
  }
  void apply(Action& a) {
    if (auto* st = std::get_if<StartAction>(&a)) {
      log.push_back("start " + st->id);
      s.on_child_started(st->id, ++next_pid, now);
    } else if (auto* sig = std::get_if<SignalAction>(&a)) {
      log.push_back("signal " + id_of(sig->pid) + " " + std::to_string(sig->signal));
    } else if (auto* t = std::get_if<ArmTimerAction>(&a)) {
      timers[t->timer] = t->after;
    } else if (auto* c = std::get_if<CancelTimerAction>(&a)) {
      timers.erase(c->timer);
    } else if (auto* r = std::get_if<RecordAction>(&a)) {
      log.push_back("record " + r->event + (r->child.empty() ? "" : " " + r->child));
      records.push_back(*r);
    } else if (std::get_if<BootCompletedAction>(&a)) {
      log.push_back("booted");
    } else if (auto* e = std::get_if<ExitAction>(&a)) {
      exit = *e;
    }
  }
  std::string id_of(int pid) const {
    for (const auto& c : s.children()) {
      if (c->pid == pid) return c->spec.id;
    }
    return std::to_string(pid);
  }
  int pid(const std::string& id) const { return s.find(id)->pid; }
  void boot() {
    s.boot(now);
    pump();
  }
  bool ready(const std::string& id) {
    const bool taken = s.on_child_ready(pid(id), now);
    pump();
    return taken;
  }
  void die(int pid, ExitStatus st) {
    s.on_child_exited(pid, st, now);
    pump();
  }
  // Advances the clock to the earliest armed timer and fires it.
  void fire_next_timer() {
    REQUIRE_FALSE(timers.empty());
    auto earliest = timers.begin();
    for (auto it = timers.begin(); it != timers.end(); ++it) {
      if (it->second < earliest->second) earliest = it;
    }
    const auto [id, after] = *earliest;
    timers.erase(earliest);
    now += after;
    s.on_timer(id, now);
    pump();
  }
  const RecordAction* last(const std::string& event) const {
    for (auto it = records.rbegin(); it != records.rend(); ++it) {
      if (it->event == event) return &*it;
    }
    return nullptr;
  }
};

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
