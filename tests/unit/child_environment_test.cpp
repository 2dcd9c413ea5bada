// ChildEnvironment: what a worker's environment holds, and in which order.
#include "os/child_environment.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test_specs.h"

using namespace otpsup;
using otpsup::testing::worker;

namespace {

std::vector<std::string> entries(const ChildEnvironment& env) {
  std::vector<std::string> out;
  for (char* const* e = env.envp(); *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

// A NULL-terminated array over `strings` (which must outlive it).
std::vector<char*> array_of(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

TEST_CASE("ChildEnvironmentKeepsTheDaemonsEntriesInOrderAndAddsTheChildPath") {
  std::vector<std::string> daemon{"PATH=/usr/bin", "TERM=xterm", "OTPSUP_CHILD_PATH=stale"};
  auto inherited = array_of(daemon);
  const ChildEnvironment env(inherited.data(), worker("a"), "root/a", nullptr);
  CHECK(entries(env) ==
        std::vector<std::string>{"PATH=/usr/bin", "TERM=xterm", "OTPSUP_CHILD_PATH=root/a"});
  CHECK(env.envp()[0] == inherited[0]);  // not copied
}

TEST_CASE("ChildEnvironmentSpecEnvReplacesTheDaemonsAndTheUsersEntries") {
  std::vector<std::string> daemon{"HOME=/root", "USER=root", "LANG=C", "KEEP=1"};
  auto inherited = array_of(daemon);
  ChildSpec spec = worker("w");
  spec.env = {{"LANG", "C.UTF-8"}, {"USER", "svc"}, {"ZED", "z"}};
  Credentials nobody;
  nobody.user_name = "nobody";
  nobody.home = "/nonexistent";
  const ChildEnvironment env(inherited.data(), spec, "root/sub/w", &nobody);
  CHECK(entries(env) == std::vector<std::string>{"KEEP=1", "HOME=/nonexistent", "LANG=C.UTF-8",
                                                 "LOGNAME=nobody", "OTPSUP_CHILD_PATH=root/sub/w",
                                                 "USER=svc", "ZED=z"});
}

TEST_CASE("ChildEnvironmentClearEnvKeepsOnlyPathHomeUserLang") {
  std::vector<std::string> daemon{"PATH=/bin", "SECRET=x", "HOME=/root", "USERX=no",
                                  "USER=root", "LANG=C",   "LANGUAGE=en"};
  auto inherited = array_of(daemon);
  ChildSpec spec = worker("w");
  spec.clear_env = true;
  spec.env = {{"A", "1"}};
  const ChildEnvironment env(inherited.data(), spec, "root/w", nullptr);
  CHECK(entries(env) == std::vector<std::string>{"PATH=/bin", "HOME=/root", "USER=root", "LANG=C",
                                                 "A=1", "OTPSUP_CHILD_PATH=root/w"});
}

TEST_CASE("ChildEnvironmentWithNothingInherited") {
  const ChildEnvironment env(nullptr, worker("a"), "root/a", nullptr);
  CHECK(entries(env) == std::vector<std::string>{"OTPSUP_CHILD_PATH=root/a"});
}
