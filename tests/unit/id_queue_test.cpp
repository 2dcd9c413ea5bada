// IdQueue: the ordered, indexed queue of children an operation stops.
#include "otpsup/id_queue.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace otpsup;

namespace {

std::vector<std::string> drain(IdQueue& q) {
  std::vector<std::string> out;
  while (auto id = q.pop_front()) out.push_back(*id);
  return out;
}

}  // namespace

TEST_CASE("IdQueuePopsInTheOrderQueued") {
  IdQueue q;
  CHECK(q.empty());
  CHECK_FALSE(q.pop_front());
  for (auto id : {"c", "b", "a"}) q.push_back(id);
  CHECK(q.size() == 3);
  CHECK(drain(q) == std::vector<std::string>{"c", "b", "a"});
  CHECK(q.empty());
}

TEST_CASE("IdQueueErasesByIdAndTellsWhetherItWasQueued") {
  IdQueue q;
  for (auto id : {"c", "b", "a"}) q.push_back(id);
  CHECK(q.contains("b"));
  CHECK(q.erase("b"));
  CHECK_FALSE(q.contains("b"));
  CHECK_FALSE(q.erase("b"));  // already gone
  CHECK_FALSE(q.erase("x"));  // never queued
  CHECK(q.size() == 2);
  CHECK(drain(q) == std::vector<std::string>{"c", "a"});
}

TEST_CASE("IdQueueQueuesAnIdOnceAndPushFrontMovesIt") {
  IdQueue q;
  for (auto id : {"c", "b", "a"}) q.push_back(id);
  q.push_back("c");  // already queued: keeps its place
  CHECK(q.size() == 3);
  q.push_front("a");  // moves to the front
  CHECK(q.size() == 3);
  CHECK(drain(q) == std::vector<std::string>{"a", "c", "b"});
}

TEST_CASE("IdQueueAnIdErasedThenQueuedAgainTakesItsNewPlace") {
  IdQueue q;
  for (auto id : {"c", "b", "a"}) q.push_back(id);
  CHECK(q.erase("c"));
  q.push_back("c");
  CHECK(drain(q) == std::vector<std::string>{"b", "a", "c"});
  q.push_back("x");
  q.clear();
  CHECK(q.empty());
  CHECK_FALSE(q.pop_front());
}
