#include "otpsup/spec_json.h"

#include <doctest/doctest.h>

using namespace otpsup;

TEST_CASE("SpecsRoundTripThroughJson") {
  ChildSpec w;
  w.id = "counter1";
  w.restart = RestartType::transient;
  w.shutdown = {Shutdown::Kind::timeout, Duration{2500}};
  w.stop_signal = 2;
  w.normal_exit_codes = {0, 42};
  w.command = {"otpsup-counter", "--start", "5"};
  w.executable = "/usr/bin/otpsup-counter";
  w.env = {{"A", "1"}};
  w.clear_env = true;
  w.cwd = "/tmp";
  w.user = "nobody";
  w.group = "nogroup";
  w.umask = 027;
  w.rlimits = {{"nofile", {1024, 4096}},
               {"core", {ResourceLimit::kUnlimited, ResourceLimit::kUnlimited}}};
  w.nice = -5;
  w.no_new_privs = true;
  ChildSpec sub;
  sub.id = "inner";
  sub.is_supervisor = true;
  sub.shutdown = {Shutdown::Kind::infinity, Duration{0}};
  SupervisorSpec s;
  s.name = "outer";
  s.strategy = Strategy::rest_for_one;
  s.intensity = 7;
  s.period = Duration{9000};
  s.children = {w, sub};
  s.max_children = 3;
  s.allow_add = true;
  CHECK(child_spec_from_json(to_json(w)) == w);
  SupervisorSpec back = supervisor_spec_from_json(to_json(s));
  back.pos = s.pos;
  CHECK(back == s);
  auto lib = library_from_json(to_json(std::map<std::string, SupervisorSpec>{{"outer", s}}));
  CHECK(lib.at("outer").children.size() == 2);
}

TEST_CASE("ReadinessFieldsRoundTripThroughJson") {
  ChildSpec w;
  w.id = "a";
  w.command = {"/bin/true"};
  for (ReadyKind kind : {ReadyKind::none, ReadyKind::notify, ReadyKind::fd}) {
    w.ready = kind;
    w.ready_fd = kind == ReadyKind::fd ? 5 : 0;
    w.start_timeout = Duration{kind == ReadyKind::notify ? 0 : 1500};
    w.watchdog = Duration{kind == ReadyKind::none ? 0 : 700};
    CHECK(child_spec_from_json(to_json(w)) == w);
  }
}

TEST_CASE("UnknownStrategyIsRejected") {
  CHECK_THROWS_AS(strategy_from_string("one_for_some"), std::invalid_argument);
}
