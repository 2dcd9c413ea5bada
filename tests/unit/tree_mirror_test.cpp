// TreeMirror: the root's picture of the tree, from records and state messages.
#include "otpsup/tree_mirror.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

using namespace otpsup;

namespace {

TreeMirror flat_root(std::initializer_list<const char*> workers) {
  SupervisorSpec root;
  root.name = "root";
  for (const char* id : workers) {
    ChildSpec c;
    c.id = id;
    root.children.push_back(c);
  }
  TreeMirror mirror;
  mirror.build({{"root", root}}, 1, TimePoint{});
  return mirror;
}

std::string text_of(const TreeMirror& m, const std::string& path) {
  const MirrorNode* n = m.find(path);
  REQUIRE(n != nullptr);
  return n->status_text;
}

}  // namespace

TEST_CASE("MirrorStateSetsReplacesAndClearsWorkersStatusTexts") {
  TreeMirror m = flat_root({"a", "b", "c"});
  m.apply_state({{"path", "root"}, {"paused", false}, {"child_status", {{"a", "warming up"}}}});
  CHECK(text_of(m, "root/a") == "warming up");
  CHECK(text_of(m, "root/b").empty());

  m.apply_state({{"path", "root"},
                 {"paused", true},
                 {"child_status", {{"b", "serving"}, {"nobody", "ignored"}}}});
  CHECK(text_of(m, "root/a").empty());  // no longer in the state: cleared
  CHECK(text_of(m, "root/b") == "serving");
  CHECK(text_of(m, "root/c").empty());
  CHECK(m.find("root")->paused);
  CHECK(m.find("root/nobody") == nullptr);

  m.apply_state({{"path", "root"}, {"paused", false}, {"restart_times_ns", {1, 2, 3}}});
  CHECK(text_of(m, "root/b").empty());
  CHECK(m.find("root")->restart_times.size() == 3);
  CHECK_FALSE(m.find("root")->paused);
}

TEST_CASE("MirrorReloadThatChangesAChildsKindShowsTheNewKind") {
  ChildSpec y;
  y.id = "y";
  SupervisorSpec x;
  x.name = "x";
  x.strategy = Strategy::one_for_all;
  x.intensity = 7;
  x.children.push_back(y);
  SupervisorSpec root_as_worker_x;
  root_as_worker_x.name = "root";
  ChildSpec worker_x;
  worker_x.id = "x";
  root_as_worker_x.children.push_back(worker_x);
  SupervisorSpec root_as_supervisor_x = root_as_worker_x;
  root_as_supervisor_x.children[0].is_supervisor = true;

  TreeMirror m;
  m.build({{"root", root_as_worker_x}}, 1, TimePoint{});
  REQUIRE_FALSE(m.find("root/x")->supervisor);

  m.reconcile({{"root", root_as_supervisor_x}, {"x", x}});
  const MirrorNode* now_supervisor = m.find("root/x");
  CHECK(now_supervisor->supervisor);
  CHECK(now_supervisor->strategy == "one_for_all");
  CHECK(now_supervisor->intensity == 7);
  CHECK(now_supervisor->children == std::vector<std::string>{"y"});
  REQUIRE(m.find("root/x/y") != nullptr);
  CHECK(m.status("root", TimePoint{})["children"][0]["kind"] == "supervisor");

  m.reconcile({{"root", root_as_worker_x}});
  const MirrorNode* worker_again = m.find("root/x");
  CHECK_FALSE(worker_again->supervisor);
  CHECK(worker_again->children.empty());
  CHECK(worker_again->strategy.empty());
  CHECK(m.find("root/x/y") == nullptr);
  CHECK(m.status("root", TimePoint{})["children"][0]["kind"] == "worker");
}
