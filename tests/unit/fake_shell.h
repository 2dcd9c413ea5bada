// The fake shell the pure core's unit tests drive a Supervisor with: it
// plays the process side with a fake clock. Starts succeed with fresh pids
// (100, 101, ...) unless the child is in failing_starts; signals and timers
// are only remembered; children die, become ready and timers fire only when
// the test says so.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "otpsup/supervisor.h"

namespace otpsup::testing {

struct FakeShell {
  Supervisor s;
  TimePoint now{};
  int next_pid = 100;
  std::set<std::string> failing_starts;  // their starts fail ("exec failed: ...")
  // "start a", "signal a 15", "record restarted a", "booted"
  std::vector<std::string> log;
  std::vector<RecordAction> records;
  std::vector<ReplyAction> replies;
  std::vector<SignalAction> signals;
  std::vector<TimerId> armed;              // every timer ever armed, in order
  std::map<TimerId, Duration> timers;      // armed, not fired or cancelled: its delay
  std::map<TimerId, TimePoint> deadlines;  // the same timers: when each is due
  std::optional<ExitAction> exit;
  bool booted = false;

  explicit FakeShell(SupervisorSpec spec) : s(std::move(spec)) {}

  void pump() {
    for (auto actions = s.take_actions(); !actions.empty(); actions = s.take_actions()) {
      for (Action& a : actions) apply(a);
    }
  }
  void apply(Action& a) {
    if (auto* st = std::get_if<StartAction>(&a)) {
      log.push_back("start " + st->id);
      if (failing_starts.count(st->id) != 0) {
        s.on_child_start_failed(st->id, "exec failed: No such file or directory", now);
      } else {
        s.on_child_started(st->id, ++next_pid, now);
      }
    } else if (auto* sig = std::get_if<SignalAction>(&a)) {
      log.push_back("signal " + id_of(sig->pid) + " " + std::to_string(sig->signal));
      signals.push_back(*sig);
    } else if (auto* t = std::get_if<ArmTimerAction>(&a)) {
      timers[t->timer] = t->after;
      deadlines[t->timer] = now + t->after;
      armed.push_back(t->timer);
    } else if (auto* c = std::get_if<CancelTimerAction>(&a)) {
      timers.erase(c->timer);
      deadlines.erase(c->timer);
    } else if (auto* r = std::get_if<RecordAction>(&a)) {
      log.push_back("record " + r->event + (r->child.empty() ? "" : " " + r->child));
      records.push_back(*r);
    } else if (auto* rep = std::get_if<ReplyAction>(&a)) {
      replies.push_back(*rep);
    } else if (std::get_if<BootCompletedAction>(&a)) {
      log.push_back("booted");
      booted = true;
    } else if (auto* e = std::get_if<ExitAction>(&a)) {
      exit = *e;
    }
  }

  // The child that runs as `pid`, or the number when none does.
  std::string id_of(int pid) const {
    for (const auto& c : s.children()) {
      if (c->pid == pid) return c->spec.id;
    }
    return std::to_string(pid);
  }
  // 0 when `id` is not running (or unknown).
  int pid(const std::string& id) const {
    const Child* c = s.find(id);
    return c != nullptr ? c->pid : 0;
  }

  void boot() {
    s.boot(now);
    pump();
  }
  void die(const std::string& id, ExitStatus status) {
    const int p = pid(id);
    REQUIRE(p != 0);
    s.on_child_exited(p, status, now);
    pump();
  }
  void die(int pid, ExitStatus status) {
    s.on_child_exited(pid, status, now);
    pump();
  }
  void crash(const std::string& id) { die(id, ExitStatus::exited(1)); }
  // The child says READY=1; returns whether the core took it.
  bool ready(const std::string& id) {
    const bool taken = s.on_child_ready(pid(id), now);
    pump();
    return taken;
  }
  // Lets every child that was sent a stop signal die of it (SIGTERM), last
  // in the children's order first.
  void honour_stops() {
    for (;;) {
      std::string victim;
      for (const auto& c : s.children()) {
        if (c->state == ChildState::stopping) victim = c->spec.id;
      }
      if (victim.empty()) return;
      die(victim, ExitStatus::killed(15));
    }
  }
  void command(Command::Kind kind, std::string child = "", int signal = 15) {
    static CommandToken token = 0;
    s.on_command(Command{kind, std::move(child), signal, ++token}, now);
    pump();
  }
  // Fires timer `id` now (the clock is not moved).
  void fire(TimerId id) {
    timers.erase(id);
    deadlines.erase(id);
    s.on_timer(id, now);
    pump();
  }
  // Moves the clock by `d`, firing the timers due on the way, earliest first.
  void advance(Duration d) {
    const TimePoint until = now + d;
    for (;;) {
      auto due = std::min_element(deadlines.begin(), deadlines.end(),
                                  [](const auto& a, const auto& b) { return a.second < b.second; });
      if (due == deadlines.end() || due->second > until) break;
      now = std::max(now, due->second);
      fire(due->first);
    }
    now = until;
  }
  // Moves the clock to the earliest armed timer and fires it.
  void fire_next_timer() {
    REQUIRE_FALSE(deadlines.empty());
    auto earliest =
        std::min_element(deadlines.begin(), deadlines.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    now = std::max(now, earliest->second);
    fire(earliest->first);
  }

  std::vector<std::string> take_log() { return std::exchange(log, {}); }
  int count(const std::string& event) const {
    return static_cast<int>(std::count_if(records.begin(), records.end(),
                                          [&](const RecordAction& r) { return r.event == event; }));
  }
  // The latest record of `event`, or null.
  const RecordAction* last(const std::string& event) const {
    for (auto it = records.rbegin(); it != records.rend(); ++it) {
      if (it->event == event) return &*it;
    }
    return nullptr;
  }
};

// The entries of `log` that begin with `prefix`.
inline std::vector<std::string> only(const std::vector<std::string>& log,
                                     const std::string& prefix) {
  std::vector<std::string> out;
  for (const std::string& l : log) {
    if (l.rfind(prefix, 0) == 0) out.push_back(l);
  }
  return out;
}

}  // namespace otpsup::testing
