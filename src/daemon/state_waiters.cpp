#include "daemon/state_waiters.h"

#include <algorithm>
#include <memory>

#include "otpsup/duration.h"
#include "otpsup/protocol.h"

namespace otpsup {

namespace {
const char* name_of(StateWaiters::Target t) {
  return t == StateWaiters::Target::ready ? "ready" : "down";
}
}  // namespace

StateWaiters::StateWaiters(uv_loop_t* loop, Send send) : loop_(loop), send_(std::move(send)) {}

StateWaiters::~StateWaiters() {
  close();
}

std::optional<StateWaiters::Target> StateWaiters::parse_target(const std::string& text) {
  if (text == "ready") return Target::ready;
  if (text == "down") return Target::down;
  return std::nullopt;
}

bool StateWaiters::reached(const TreeMirror& mirror, const std::string& path, Target target) {
  const MirrorNode* n = mirror.find(path);
  if (target == Target::down) return n == nullptr || n->state == "down" || n->state == "stopped";
  return n != nullptr && n->state == "running";
}

void StateWaiters::add(ClientId client, nlohmann::json request_id, std::string path, Target target,
                       Duration timeout, const TreeMirror& mirror) {
  Waiter w{client, std::move(request_id), std::move(path), target, std::nullopt};
  if (reached(mirror, w.path, target)) {
    reply_ok(w);
    return;
  }
  if (timeout.count() > 0) w.deadline = Clock::now() + timeout;
  waiters_.push_back(std::move(w));
  rearm();
}

void StateWaiters::reply_ok(const Waiter& w) {
  send_(w.client, {{"id", w.request_id},
                   {"ok", true},
                   {"result", {{"path", w.path}, {"state", name_of(w.target)}}}});
}

void StateWaiters::check(const TreeMirror& mirror) {
  if (waiters_.empty()) return;
  std::vector<Waiter> done;
  std::erase_if(waiters_, [&](Waiter& w) {
    if (!reached(mirror, w.path, w.target)) return false;
    done.push_back(std::move(w));
    return true;
  });
  for (const Waiter& w : done) reply_ok(w);
  if (!done.empty()) rearm();
}

void StateWaiters::drop(ClientId client) {
  std::erase_if(waiters_, [&](const Waiter& w) { return w.client == client; });
  rearm();
}

void StateWaiters::on_timer() {
  const TimePoint now = Clock::now();
  std::vector<Waiter> expired;
  std::erase_if(waiters_, [&](Waiter& w) {
    if (!w.deadline || *w.deadline > now) return false;
    expired.push_back(std::move(w));
    return true;
  });
  for (const Waiter& w : expired) {
    send_(w.client, {{"id", w.request_id},
                     {"ok", false},
                     {"error",
                      {{"code", std::string(protocol::kTimeout)},
                       {"message", w.path + " is not " + name_of(w.target) + " yet"}}}});
  }
  rearm();
}

void StateWaiters::rearm() {
  std::optional<TimePoint> earliest;
  for (const Waiter& w : waiters_) {
    if (w.deadline && (!earliest || *w.deadline < *earliest)) earliest = w.deadline;
  }
  if (!earliest) {
    if (timer_ != nullptr) uv_timer_stop(timer_);
    return;
  }
  if (timer_ == nullptr) {
    auto t = std::make_unique<uv_timer_t>();
    uv_timer_init(loop_, t.get());
    t->data = this;
    timer_ = t.release();  // freed by the close callback
  }
  uv_update_time(loop_);
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*earliest - Clock::now()).count();
  uv_timer_start(
      timer_, [](uv_timer_t* h) { static_cast<StateWaiters*>(h->data)->on_timer(); },
      static_cast<std::uint64_t>(ms < 0 ? 0 : ms), 0);
}

void StateWaiters::close() {
  for (const Waiter& w : waiters_) {
    send_(w.client,
          {{"id", w.request_id},
           {"ok", false},
           {"error",
            {{"code", std::string(protocol::kShuttingDown)},
             {"message", "the daemon stopped before " + w.path + " was " + name_of(w.target)}}}});
  }
  waiters_.clear();
  if (timer_ == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) {
    std::unique_ptr<uv_timer_t> owned(reinterpret_cast<uv_timer_t*>(h));
  });
  timer_ = nullptr;
}

}  // namespace otpsup
