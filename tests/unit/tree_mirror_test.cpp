// TreeMirror: the root's picture of the tree, from records and state messages.
#include "otpsup/tree_mirror.h"

#include <doctest/doctest.h>

#include <map>
#include <string>

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
