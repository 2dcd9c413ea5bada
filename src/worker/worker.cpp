// otpsup::worker::Server (see otpsup/worker.h for the protocol and contracts).
#include "otpsup/worker.h"

#include "otpsup/sd_notify.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace otpsup::worker {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// The write end of the running Server's self-pipe (-1 when no Server handles
// signals) and the last stop signal seen. Both are touched by the handler,
// so they are lock-free atomics (async-signal-safe).
std::atomic<int> g_signal_pipe{-1};
std::atomic<int> g_pending_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void otpsup_worker_record_stop_signal(int signal) {
  const int saved_errno = errno;
  g_pending_signal.store(signal);
  const int fd = g_signal_pipe.load();
  if (fd >= 0) {
    const auto byte = static_cast<unsigned char>(signal);
    if (::write(fd, &byte, 1) < 0) {
      // Pipe full: a byte is already waiting, which is all the loop needs.
    }
  }
  errno = saved_errno;
}

// Installs the SIGTERM/SIGINT handlers and the self-pipe for the duration of
// run(); restores the previous dispositions and signal mask when destroyed.
class StopSignals {
 public:
  StopSignals() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw std::system_error(errno, std::generic_category(), "otpsup::worker: pipe2");
    }
    read_end_.reset(fds[0]);
    write_end_.reset(fds[1]);
    int expected = -1;
    if (!g_signal_pipe.compare_exchange_strong(expected, write_end_.get())) {
      throw std::logic_error("otpsup::worker: another Server is already handling signals");
    }
    g_pending_signal.store(0);

    struct sigaction action {};
    action.sa_handler = otpsup_worker_record_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGTERM, &action, &old_term_);
    ::sigaction(SIGINT, &action, &old_int_);

    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    ::pthread_sigmask(SIG_UNBLOCK, &stop_set, &old_mask_);
  }
  ~StopSignals() {
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGINT, &old_int_, nullptr);
    g_signal_pipe.store(-1);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  int fd() const { return read_end_.get(); }

  // Empties the pipe; returns the last signal recorded (0 if none).
  int drain() {
    unsigned char bytes[64];
    while (::read(read_end_.get(), bytes, sizeof bytes) > 0) {
    }
    return g_pending_signal.load();
  }

 private:
  UniqueFd read_end_;
  UniqueFd write_end_;
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
  sigset_t old_mask_{};
};

// The start of `text` for a log line: at most 80 bytes, then its size.
std::string excerpt(std::string_view text) {
  constexpr std::size_t kMax = 80;
  if (text.size() <= kMax) return std::string(text);
  return std::string(text.substr(0, kMax)) + "... (" + std::to_string(text.size()) + " bytes)";
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

timespec to_timespec(Clock::duration remaining) {
  if (remaining < Clock::duration::zero()) remaining = Clock::duration::zero();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(remaining);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining - seconds);
  timespec out{};
  out.tv_sec = static_cast<time_t>(seconds.count());
  out.tv_nsec = static_cast<long>(nanos.count());
  return out;
}

// Sets O_NONBLOCK and FD_CLOEXEC; false when `fd` is not an open descriptor.
bool prepare_channel(int fd) {
  const int fd_flags = ::fcntl(fd, F_GETFD);
  const int fl_flags = ::fcntl(fd, F_GETFL);
  if (fd_flags < 0 || fl_flags < 0) return false;
  ::fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC);
  ::fcntl(fd, F_SETFL, fl_flags | O_NONBLOCK);
  return true;
}

}  // namespace

Server::Server(std::string name, UniqueFd channel) : name_(std::move(name)) {
  log_prefix_ = name_;
  if (const char* path = std::getenv("OTPSUP_CHILD_PATH"); path != nullptr && *path != '\0') {
    log_prefix_ += " [" + std::string(path) + "]";
  }
  log_prefix_ += ": ";
  if (channel) {
    if (prepare_channel(channel.get())) {
      channel_ = std::move(channel);
    } else {
      log("channel fd " + std::to_string(channel.get()) + " is not open; running without one");
      [[maybe_unused]] int ignored = channel.release();
    }
  }
}

Server::Server(std::string name) : Server(std::move(name), UniqueFd{}) {
  handle_signals_ = true;
  // Under a supervisor's watchdog: WATCHDOG=1 every half period.
  if (auto every = watchdog_interval()) {
    on_tick(std::max(*every / 2, Duration{1}), [] { sd_notify("WATCHDOG=1"); });
  }
  const char* text = std::getenv("OTPSUP_CHANNEL_FD");
  if (text == nullptr) return;
  const std::string_view view(text);
  int fd = -1;
  auto [end, error] = std::from_chars(view.data(), view.data() + view.size(), fd);
  if (error != std::errc{} || end != view.data() + view.size() || fd < 0 || !prepare_channel(fd)) {
    log("ignoring OTPSUP_CHANNEL_FD='" + std::string(view) +
        "': not an open file descriptor; running without a channel");
    return;
  }
  channel_.reset(fd);
}

Server::~Server() = default;

void Server::on_call(std::string name, CallHandler handler) {
  calls_.insert_or_assign(std::move(name), std::move(handler));
}

void Server::on_cast(std::string name, CastHandler handler) {
  casts_.insert_or_assign(std::move(name), std::move(handler));
}

void Server::on_state(std::function<json()> state) {
  on_call(kStateCall, [state = std::move(state)](const Args&) -> CallResult { return state(); });
}

void Server::on_tick(Duration every, std::function<void()> tick) {
  if (running_) throw std::logic_error("otpsup::worker::Server::on_tick while running");
  if (every <= Duration::zero()) throw std::invalid_argument("on_tick: period must be > 0");
  timers_.push_back(Timer{.delay = every, .period = every, .fire = std::move(tick)});
}

void Server::after(Duration delay, std::function<void()> fire) {
  if (running_) throw std::logic_error("otpsup::worker::Server::after while running");
  if (delay < Duration::zero()) throw std::invalid_argument("after: delay must be >= 0");
  timers_.push_back(Timer{.delay = delay, .period = Duration::zero(), .fire = std::move(fire)});
}

void Server::on_ready(std::function<void()> ready) {
  ready_ = std::move(ready);
}

void Server::exit(int code) {
  if (!exit_code_) exit_code_ = code;
}

void Server::log(const std::string& text) const {
  const std::string line = log_prefix_ + text + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

bool Server::stopping() {
  if (handle_signals_ && stop_signal_ == 0) stop_signal_ = g_pending_signal.load();
  return exit_code_.has_value() || stop_signal_ != 0 || input_closed_ || output_closed_;
}

int Server::run() {
  if (running_) throw std::logic_error("otpsup::worker::Server::run while running");
  running_ = true;
  struct RunningFlag {
    bool* flag;
    ~RunningFlag() { *flag = false; }
  } running_flag{&running_};

  std::optional<StopSignals> signals;
  if (handle_signals_) signals.emplace();

  const auto started = Clock::now();
  for (Timer& timer : timers_) {
    timer.next = started + timer.delay;
    timer.done = false;
  }
  if (ready_) ready_();
  sd_notify("READY=1");  // ready = "notify": the next sibling may start

  while (!stopping()) {
    fire_due_timers();
    if (stopping()) break;

    pollfd fds[2];
    nfds_t count = 0;
    int signal_index = -1;
    int channel_index = -1;
    if (signals) {
      signal_index = static_cast<int>(count);
      fds[count++] = pollfd{.fd = signals->fd(), .events = POLLIN};
    }
    if (channel_) {
      short events = 0;
      if (output_.size() - written_ <= kMaxPendingOutputBytes) events |= POLLIN;
      if (written_ < output_.size()) events |= POLLOUT;
      channel_index = static_cast<int>(count);
      fds[count++] = pollfd{.fd = channel_.get(), .events = events};
    }
    const auto deadline = next_deadline();
    if (count == 0 && !deadline) {
      log("nothing to wait for (no channel, no timer, no signals); stopping");
      break;
    }
    timespec timeout{};
    if (deadline) timeout = to_timespec(*deadline - Clock::now());
    const int ready = ::ppoll(fds, count, deadline ? &timeout : nullptr, nullptr);
    if (ready < 0) {
      if (errno == EINTR) continue;
      log(std::string("poll failed: ") + std::strerror(errno));
      exit(1);
      break;
    }
    if (signal_index >= 0 && fds[signal_index].revents != 0) {
      if (const int signal = signals->drain(); signal != 0) stop_signal_ = signal;
    }
    if (channel_index >= 0 && fds[channel_index].revents != 0) {
      const short revents = fds[channel_index].revents;
      if (revents & POLLNVAL) {
        log("the channel fd was closed behind the Server's back");
        input_closed_ = true;
        break;
      }
      if (revents & (POLLOUT | POLLERR | POLLHUP)) write_channel();
      if ((revents & (POLLIN | POLLERR | POLLHUP)) && !stopping()) read_channel();
    }
  }

  flush_output();
  if (input_closed_ || output_closed_) channel_.reset();
  return exit_code_.value_or(0);
}

void Server::fire_due_timers() {
  const auto now = Clock::now();
  for (Timer& timer : timers_) {
    if (timer.done || now < timer.next) continue;
    if (timer.period == Duration::zero()) {
      timer.done = true;
    } else {
      timer.next += timer.period;
      // Behind by more than a period (the process was stopped or the machine
      // suspended): resume the rhythm instead of replaying missed ticks.
      if (timer.next <= now) timer.next = now + timer.period;
    }
    timer.fire();
    if (stopping()) return;
  }
}

std::optional<Clock::time_point> Server::next_deadline() const {
  std::optional<Clock::time_point> earliest;
  for (const Timer& timer : timers_) {
    if (!timer.done && (!earliest || timer.next < *earliest)) earliest = timer.next;
  }
  return earliest;
}

void Server::read_channel() {
  char buffer[64 * 1024];
  const ssize_t n = ::read(channel_.get(), buffer, sizeof buffer);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    // ECONNRESET and the like: the supervisor's end is gone.
    input_closed_ = true;
    return;
  }
  if (n == 0) {
    // EOF: handle what came before it, a last line without '\n' included.
    take_lines();
    if (!discarding_ && !input_.empty() && !stopping()) handle_line(input_);
    input_.clear();
    scanned_ = 0;
    input_closed_ = true;
    return;
  }
  input_.append(buffer, static_cast<std::size_t>(n));
  take_lines();
  write_channel();
}

void Server::take_lines() {
  std::size_t begin = 0;  // start of the current line
  std::size_t search = scanned_;
  bool all_taken = true;
  while (!stopping()) {
    const std::size_t newline = input_.find('\n', search);
    if (newline == std::string::npos) {
      all_taken = false;
      break;
    }
    const std::string_view line(input_.data() + begin, newline - begin);
    if (discarding_) {
      discarding_ = false;  // the tail of a line already reported
    } else if (line.size() > kMaxLineBytes) {
      log("dropped a line of " + std::to_string(line.size()) + " bytes (limit " +
          std::to_string(kMaxLineBytes) + ")");
    } else {
      handle_line(line);
    }
    begin = search = newline + 1;
  }
  input_.erase(0, begin);
  scanned_ = all_taken ? 0 : input_.size();
  if (discarding_) {
    input_.clear();
    scanned_ = 0;
  } else if (input_.size() > kMaxLineBytes) {
    log("dropping a line longer than " + std::to_string(kMaxLineBytes) +
        " bytes (up to its newline)");
    discarding_ = true;
    input_.clear();
    scanned_ = 0;
  }
}

void Server::handle_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.remove_suffix(1);
  }
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;

  const json message = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) {
    log("ignoring a line that is not JSON: " + excerpt(line));
    return;
  }
  if (!message.is_object()) {
    log("ignoring a message that is not a JSON object: " + excerpt(line));
    return;
  }
  const auto call = message.find("call");
  const auto cast = message.find("cast");
  if ((call == message.end()) == (cast == message.end())) {
    log("ignoring a message without exactly one of \"call\" and \"cast\": " + excerpt(line));
    return;
  }
  const auto name = call != message.end() ? call : cast;
  if (!name->is_string()) {
    log("ignoring a message whose name is not a string: " + excerpt(line));
    return;
  }
  static const json kNoArgs = json::array();
  const auto args_it = message.find("args");
  const json& args = args_it != message.end() ? *args_it : kNoArgs;

  if (call != message.end()) {
    const auto id = message.find("id");
    if (id == message.end() || !id->is_number_integer()) {
      log("ignoring a call without an integer \"id\": " + excerpt(line));
      return;
    }
    if (!args.is_array()) {
      queue_reply(*id, "error", "bad_args");
      return;
    }
    handle_call(*id, name->get_ref<const std::string&>(), args);
  } else {
    if (!args.is_array()) {
      log("ignoring cast '" + name->get<std::string>() + "': args is not an array");
      return;
    }
    handle_cast(name->get_ref<const std::string&>(), args);
  }
}

void Server::handle_call(const json& id, const std::string& name, const json& args) {
  const auto handler = calls_.find(name);
  if (handler == calls_.end()) {
    queue_reply(id, "error", "unknown_message");
    return;
  }
  try {
    CallResult result = handler->second(args);
    if (auto* error = std::get_if<CallError>(&result)) {
      queue_reply(id, "error", error->message);
    } else {
      queue_reply(id, "reply", std::get<json>(result));
    }
  } catch (const json::exception& error) {
    log("call '" + name + "' " + dump(args) + ": " + error.what());
    queue_reply(id, "error", "bad_args");
  } catch (const std::exception& error) {
    log("call '" + name + "' failed: " + error.what());
    queue_reply(id, "error", "internal_error");
  }
}

void Server::handle_cast(const std::string& name, const json& args) {
  const auto handler = casts_.find(name);
  if (handler == casts_.end()) {
    log("ignoring unknown cast '" + name + "'");
    return;
  }
  try {
    handler->second(args);
  } catch (const std::exception& error) {
    log("cast '" + name + "' " + dump(args) + " failed: " + error.what());
  }
}

void Server::queue_reply(const json& id, const char* key, const json& value) {
  if (!channel_ || output_closed_) return;
  output_ += "{\"id\":";
  output_ += dump(id);
  output_ += ",\"";
  output_ += key;
  output_ += "\":";
  output_ += dump(value);
  output_ += "}\n";
}

void Server::write_channel() {
  while (channel_ && !output_closed_ && written_ < output_.size()) {
    const char* data = output_.data() + written_;
    const std::size_t size = output_.size() - written_;
    ssize_t n = ::send(channel_.get(), data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(channel_.get(), data, size);
    if (n >= 0) {
      written_ += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    // EPIPE, ECONNRESET: nobody will read these replies.
    output_closed_ = true;
    output_.clear();
    written_ = 0;
    return;
  }
  if (written_ == output_.size()) {
    output_.clear();
    written_ = 0;
  } else if (written_ > output_.size() / 2) {
    output_.erase(0, written_);
    written_ = 0;
  }
}

void Server::flush_output() {
  const auto deadline = Clock::now() + kFlushTimeout;
  for (;;) {
    write_channel();
    if (!channel_ || output_closed_ || written_ == output_.size()) return;
    const auto now = Clock::now();
    if (now >= deadline) break;
    pollfd fd{.fd = channel_.get(), .events = POLLOUT};
    const timespec timeout = to_timespec(deadline - now);
    if (::ppoll(&fd, 1, &timeout, nullptr) < 0 && errno != EINTR) break;
  }
  log("dropped " + std::to_string(output_.size() - written_) +
      " bytes of replies the supervisor did not read");
  output_.clear();
  written_ = 0;
}

}  // namespace otpsup::worker
