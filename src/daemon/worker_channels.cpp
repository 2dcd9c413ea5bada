#include "daemon/worker_channels.h"

#include <errno.h>
#include <sys/socket.h>

#include "otpsup/duration.h"
#include "otpsup/history_format.h"

namespace otpsup {

namespace {

constexpr std::size_t kPayloadBytes = 512;
constexpr std::size_t kMaxWorkerLine = 1u << 20;
constexpr std::size_t kMaxQueuedToWorker = 1u << 20;

nlohmann::json error_reply(const std::string& code, const std::string& message) {
  return {{"ok", false}, {"error", {{"code", code}, {"message", message}}}};
}

}  // namespace

WorkerChannels::WorkerChannels(uv_loop_t* loop, std::string supervisor_path, Reply reply,
                               TraceSink trace_sink)
    : loop_(loop),
      path_(std::move(supervisor_path)),
      reply_(std::move(reply)),
      trace_sink_(std::move(trace_sink)) {
  timer_ = std::make_unique<uv_timer_t>();
  uv_timer_init(loop_, timer_.get());
  timer_->data = this;
}

WorkerChannels::~WorkerChannels() {
  close();
}

void WorkerChannels::close() {
  for (auto& [id, c] : channels_) {
    if (c.line) c.line->close();
    c.open = false;
  }
  if (timer_) {
    uv_timer_t* t = timer_.release();
    uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
      std::unique_ptr<uv_timer_t> done(reinterpret_cast<uv_timer_t*>(h));
    });
  }
}

UniqueFd WorkerChannels::prepare(const std::string& child, int trace_size) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) return UniqueFd();
  Channel& c = channels_[child];
  c.ring_size = static_cast<std::size_t>(trace_size);
  if (c.line) c.line->close();
  c.line = std::make_unique<LineChannel>(
      loop_, UniqueFd(fds[0]), [this, child](const nlohmann::json& m) { on_message(child, m); },
      nullptr);
  c.line->set_max_line(kMaxWorkerLine);
  c.line->on_garbage([this, child](const std::string& what, std::size_t bytes) {
    auto it = channels_.find(child);
    if (it == channels_.end()) return;
    it->second.garbage++;
    note(child, it->second, "in", "garbage", what + " (" + std::to_string(bytes) + " bytes)");
  });
  c.open = false;
  return UniqueFd(fds[1]);
}

void WorkerChannels::attached(const std::string& child) {
  auto it = channels_.find(child);
  if (it == channels_.end() || !it->second.line) return;
  it->second.open = true;
  it->second.line->start();
}

void WorkerChannels::abandoned(const std::string& child) {
  auto it = channels_.find(child);
  if (it == channels_.end()) return;
  if (it->second.line) it->second.line->close();
  it->second.line.reset();
  it->second.open = false;
}

void WorkerChannels::exited(const std::string& child, const std::string& reason) {
  auto it = channels_.find(child);
  if (it == channels_.end()) return;
  if (it->second.line) it->second.line->drain();  // replies written before the exit count
  it = channels_.find(child);
  if (it == channels_.end()) return;
  note(child, it->second, "-", "exit", reason);
  if (it->second.line) it->second.line->close();
  it->second.line.reset();
  it->second.open = false;
  std::vector<std::uint64_t> failed;
  for (const auto& [id, call] : calls_) {
    if (call.child == child) failed.push_back(id);
  }
  for (std::uint64_t id : failed) {
    fail(id, "worker_exited", path_ + "/" + child + " exited during the call: " + reason);
  }
}

void WorkerChannels::forget(const std::string& child) {
  abandoned(child);
  channels_.erase(child);
}

bool WorkerChannels::has_channel(const std::string& child) const {
  return channels_.count(child) != 0;
}

bool WorkerChannels::connected(const std::string& child) const {
  auto it = channels_.find(child);
  return it != channels_.end() && it->second.open && it->second.line;
}

void WorkerChannels::follow(const std::string& child, int delta) {
  const int count = (followers_.count(child) ? followers_[child] : 0) + delta;
  if (count > 0) {
    followers_[child] = count;
  } else {
    followers_.erase(child);
  }
}

void WorkerChannels::note(const std::string& child, Channel& c, const std::string& direction,
                          const std::string& kind, const std::string& payload) {
  if (direction == "in") c.in++;
  if (direction == "out") c.out++;
  const bool followed = !followers_.empty() && followers_.count(child) != 0;
  if (c.ring_size == 0 && !followed) return;
  nlohmann::json entry{{"ts", format_record_timestamp(std::chrono::system_clock::now())},
                       {"dir", direction},
                       {"kind", kind},
                       {"size", payload.size()}};
  entry["payload"] =
      payload.size() > kPayloadBytes ? payload.substr(0, kPayloadBytes) + "..." : payload;
  if (followed && trace_sink_) trace_sink_(child, entry);
  if (c.ring_size == 0) return;
  c.ring.push_back(std::move(entry));
  while (c.ring.size() > c.ring_size) c.ring.pop_front();
}

void WorkerChannels::call(CommandToken token, const std::string& child, const std::string& name,
                          const nlohmann::json& args, Duration timeout) {
  Channel& c = channels_.at(child);
  if (!connected(child)) {
    reply_(token, error_reply("not_running", path_ + "/" + child + " is not running"));
    return;
  }
  const std::uint64_t id = ++next_call_id_;
  const nlohmann::json message{{"id", id}, {"call", name}, {"args", args}};
  const std::string text = message.dump();
  Status s = c.line->send_nonblocking(message, kMaxQueuedToWorker);
  if (!s.ok()) {
    note(child, c, "out", "call_dropped", s.message());
    reply_(token, error_reply("channel_full", s.message()));
    return;
  }
  note(child, c, "out", "call", text);
  calls_[id] = {token, child, Clock::now() + timeout};
  rearm();
}

void WorkerChannels::cast(CommandToken token, const std::string& child, const std::string& name,
                          const nlohmann::json& args) {
  Channel& c = channels_.at(child);
  if (!connected(child)) {
    reply_(token, error_reply("not_running", path_ + "/" + child + " is not running"));
    return;
  }
  const nlohmann::json message{{"cast", name}, {"args", args}};
  Status s = c.line->send_nonblocking(message, kMaxQueuedToWorker);
  if (!s.ok()) {
    note(child, c, "out", "cast_dropped", s.message());
    reply_(token, error_reply("channel_full", s.message()));
    return;
  }
  note(child, c, "out", "cast", message.dump());
  reply_(token, {{"ok", true}, {"result", {{"sent", true}}}});
}

void WorkerChannels::on_message(const std::string& child, const nlohmann::json& m) {
  auto ch = channels_.find(child);
  if (ch == channels_.end()) return;
  Channel& c = ch->second;
  const std::string text = m.dump();
  if (!m.contains("id") || !m["id"].is_number_unsigned()) {
    note(child, c, "in", "unsolicited", text);
    return;
  }
  auto it = calls_.find(m["id"].get<std::uint64_t>());
  if (it == calls_.end() || it->second.child != child) {
    c.late++;
    note(child, c, "in", "late_reply", text);
    return;
  }
  const CommandToken token = it->second.token;
  calls_.erase(it);
  if (m.contains("reply")) {
    note(child, c, "in", "reply", text);
    reply_(token, {{"ok", true}, {"result", {{"reply", m["reply"]}}}});
  } else {
    note(child, c, "in", "error", text);
    // Whatever the worker sent as its error, it cannot hurt us: a non-string
    // is reported as its JSON text.
    const nlohmann::json& err = m.contains("error") ? m["error"] : nlohmann::json("error");
    const std::string message = err.is_string() ? err.get<std::string>() : err.dump();
    const bool is_code = !message.empty() && message.find(' ') == std::string::npos;
    reply_(token, error_reply(is_code ? message : "worker_error", message));
  }
  rearm();
}

void WorkerChannels::fail(std::uint64_t call_id, const std::string& code,
                          const std::string& message) {
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  const CommandToken token = it->second.token;
  calls_.erase(it);
  reply_(token, error_reply(code, message));
}

nlohmann::json WorkerChannels::trace(const std::string& child, std::size_t n) const {
  auto it = channels_.find(child);
  if (it == channels_.end()) return nullptr;
  const Channel& c = it->second;
  nlohmann::json entries = nlohmann::json::array();
  const std::size_t skip = n == 0 || n >= c.ring.size() ? 0 : c.ring.size() - n;
  for (std::size_t i = skip; i < c.ring.size(); ++i) entries.push_back(c.ring[i]);
  return {
      {"entries", std::move(entries)},
      {"counts", {{"in", c.in}, {"out", c.out}, {"garbage", c.garbage}, {"late_replies", c.late}}}};
}

void WorkerChannels::on_timer() {
  const TimePoint now = Clock::now();
  std::vector<std::uint64_t> expired;
  for (const auto& [id, call] : calls_) {
    if (call.deadline <= now) expired.push_back(id);
  }
  for (std::uint64_t id : expired) {
    const std::string child = calls_.at(id).child;
    if (auto ch = channels_.find(child); ch != channels_.end()) {
      note(child, ch->second, "-", "timeout", "call " + std::to_string(id));
    }
    fail(id, "timeout", "no reply from " + path_ + "/" + child + " in time");
  }
  rearm();
}

// One timer for the earliest call deadline; none when no call is waiting.
void WorkerChannels::rearm() {
  if (!timer_) return;
  if (calls_.empty()) {
    uv_timer_stop(timer_.get());
    return;
  }
  TimePoint earliest = calls_.begin()->second.deadline;
  for (const auto& [id, call] : calls_) earliest = std::min(earliest, call.deadline);
  uv_update_time(loop_);
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(earliest - Clock::now()).count();
  uv_timer_start(
      timer_.get(), [](uv_timer_t* h) { static_cast<WorkerChannels*>(h->data)->on_timer(); },
      static_cast<std::uint64_t>(ms < 0 ? 0 : ms), 0);
}

}  // namespace otpsup
