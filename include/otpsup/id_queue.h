// IdQueue: the children an operation still has to stop, in the order they
// must be stopped, with membership and removal by id in O(1).
//
// A shutdown of N children queues all N and then, for every child that
// exits, asks whether it was queued (an exit absorbed by the operation) and
// removes it: a plain deque made each of those a scan, O(N^2) for the stop.
// Here a removal only forgets the id; its slot in the order is skipped when
// it reaches the front. An id is queued at most once: queueing one that is
// already queued moves it (push_front) or keeps its place (push_back).
//
// Threading: none (part of the pure core).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace otpsup {

class IdQueue {
 public:
  void push_back(const std::string& id) {
    if (live_.count(id) != 0) return;
    const std::uint64_t ticket = next_ticket_++;
    live_.emplace(id, ticket);
    order_.push_back({id, ticket});
  }
  void push_front(const std::string& id) {
    const std::uint64_t ticket = next_ticket_++;
    live_[id] = ticket;  // an earlier slot of the same id becomes stale
    order_.push_front({id, ticket});
  }
  // The first queued id, removed from the queue; nullopt when empty.
  std::optional<std::string> pop_front() {
    while (!order_.empty()) {
      Slot slot = std::move(order_.front());
      order_.pop_front();
      auto it = live_.find(slot.id);
      if (it == live_.end() || it->second != slot.ticket) continue;  // removed or moved
      live_.erase(it);
      return std::move(slot.id);
    }
    return std::nullopt;
  }
  // Removes `id`; true when it was queued.
  bool erase(const std::string& id) {
    if (live_.erase(id) == 0) return false;
    if (live_.empty()) order_.clear();
    return true;
  }
  bool contains(const std::string& id) const { return live_.count(id) != 0; }
  bool empty() const { return live_.empty(); }
  std::size_t size() const { return live_.size(); }
  void clear() {
    order_.clear();
    live_.clear();
  }

 private:
  struct Slot {
    std::string id;
    std::uint64_t ticket = 0;  // matches live_[id] while this slot is the id's place
  };
  std::deque<Slot> order_;
  std::unordered_map<std::string, std::uint64_t> live_;
  std::uint64_t next_ticket_ = 0;
};

}  // namespace otpsup
