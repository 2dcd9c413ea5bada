// The worker-side message loop (otpsup/worker.h): a Server runs on a thread
// (or, for signals, in a forked child) over a real socketpair; the test plays
// the supervisor on the other end.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "otpsup/worker.h"

namespace {

using nlohmann::json;
using otpsup::UniqueFd;
using otpsup::worker::Args;
using otpsup::worker::CallError;
using otpsup::worker::CallResult;
using otpsup::worker::Server;
using namespace std::chrono_literals;

std::pair<UniqueFd, UniqueFd> socket_pair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// The supervisor's end of a channel.
class Peer {
 public:
  explicit Peer(UniqueFd fd) : fd_(std::move(fd)) {}

  void send(std::string_view text) {
    while (!text.empty()) {
      const ssize_t n = ::send(fd_.get(), text.data(), text.size(), MSG_NOSIGNAL);
      REQUIRE(n > 0);
      text.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // The next line (without '\n'), or nullopt on EOF or after `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (const auto newline = buffer_.find('\n'); newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return std::nullopt;
      pollfd fd{.fd = fd_.get(), .events = POLLIN};
      if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[65536];
      const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  json read_message() {
    auto line = read_line();
    REQUIRE(line.has_value());
    return json::parse(*line);
  }
  json call(int id, const std::string& name, json args = json::array()) {
    send(json{{"id", id}, {"call", name}, {"args", std::move(args)}}.dump() + "\n");
    return read_message();
  }
  void cast(const std::string& name, json args = json::array()) {
    send(json{{"cast", name}, {"args", std::move(args)}}.dump() + "\n");
  }
  void shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
  std::string buffer_;
};

// Runs server.run() on a thread. Destruction closes the peer (EOF for the
// server) and joins, so a failing test cannot leave the thread running.
class Running {
 public:
  Running(Server& server, UniqueFd peer_fd)
      : peer(std::move(peer_fd)), thread_([this, &server] { exit_code_ = server.run(); }) {}
  ~Running() {
    peer.close();
    if (thread_.joinable()) thread_.join();
  }
  // Closes the peer's write side (EOF) and returns what run() returned.
  int finish() {
    peer.shutdown_write();
    thread_.join();
    return exit_code_;
  }
  // Waits for run() to return on its own.
  int join() {
    thread_.join();
    return exit_code_;
  }

  Peer peer;

 private:
  int exit_code_ = -1;
  std::thread thread_;
};

// A counter server like otpsup-counter's, for the protocol tests.
void add_counter(Server& server, std::int64_t& value) {
  server.on_call("increment", [&value](const Args& args) -> CallResult {
    value += args.empty() ? 1 : args.at(0).get<std::int64_t>();
    return json(value);
  });
  server.on_cast("increment", [&value](const Args& args) {
    value += args.empty() ? 1 : args.at(0).get<std::int64_t>();
  });
  server.on_call("get", [&value](const Args&) -> CallResult { return json(value); });
  server.on_call("fail", [](const Args&) -> CallResult { return CallError{"overflow"}; });
  server.on_state([&value] { return json{{"value", value}}; });
}

json reply(int id, json value) {
  return json{{"id", id}, {"reply", std::move(value)}};
}
json error(int id, const std::string& message) {
  return json{{"id", id}, {"error", message}};
}

TEST_CASE("worker: a call is answered with its id and the handler's reply") {
  auto [ours, theirs] = socket_pair();
  std::int64_t value = 0;
  Server server("test", std::move(theirs));
  add_counter(server, value);
  Running running(server, std::move(ours));

  CHECK(running.peer.call(1, "increment", {5}) == reply(1, 5));
  CHECK(running.peer.call(2, "increment") == reply(2, 6));
  CHECK(running.peer.call(3, "fail") == error(3, "overflow"));
  // args may be omitted; ids are echoed as sent (large and negative too).
  running.peer.send(R"({"call":"get","id":-7})"
                    "\n");
  CHECK(running.peer.read_message() == reply(-7, 6));
  running.peer.send(R"({"id":18446744073709551615,"call":"get"})"
                    "\n");
  CHECK(*running.peer.read_line() == R"({"id":18446744073709551615,"reply":6})");
  CHECK(running.finish() == 0);
}

TEST_CASE("worker: a cast is applied before a later call, and gets no answer") {
  auto [ours, theirs] = socket_pair();
  std::int64_t value = 0;
  Server server("test", std::move(theirs));
  add_counter(server, value);
  Running running(server, std::move(ours));

  running.peer.cast("increment", {3});
  running.peer.cast("increment");
  CHECK(running.peer.call(1, "get") == reply(1, 4));  // the first line back is this reply
}

TEST_CASE("worker: messages split across writes and batched in one write keep their order") {
  auto [ours, theirs] = socket_pair();
  std::int64_t value = 0;
  Server server("test", std::move(theirs));
  add_counter(server, value);
  Running running(server, std::move(ours));

  running.peer.send(R"({"id":1,"call":"incr)");
  std::this_thread::sleep_for(20ms);
  running.peer.send(R"(ement","args":[2]})"
                    "\n"
                    R"({"cast":"increment"})"
                    "\n"
                    R"({"id":2,"call":"get"})"
                    "\r\n");
  CHECK(running.peer.read_message() == reply(1, 2));
  CHECK(running.peer.read_message() == reply(2, 3));
}

TEST_CASE("worker: an unknown call is answered unknown_message, an unknown cast is ignored") {
  auto [ours, theirs] = socket_pair();
  std::int64_t value = 0;
  Server server("test", std::move(theirs));
  add_counter(server, value);
  Running running(server, std::move(ours));

  CHECK(running.peer.call(1, "frobnicate", {1, 2}) == error(1, "unknown_message"));
  running.peer.cast("frobnicate");
  CHECK(running.peer.call(2, "get") == reply(2, 0));
}

TEST_CASE("worker: malformed lines are ignored and the worker keeps running") {
  auto [ours, theirs] = socket_pair();
  std::int64_t value = 0;
  Server server("test", std::move(theirs));
  add_counter(server, value);
  Running running(server, std::move(ours));

  running.peer.send(
      "not json\n"
      "[1,2]\n"
      "42\n"
      "\n"
      "   \n"
      R"({"call":"increment"})"
      "\n"  // a call without an id
      R"({"id":"x","call":"increment"})"
      "\n"  // an id that is not an integer
      R"({"id":1.5,"call":"increment"})"
      "\n"
      R"({"id":1})"
      "\n"  // neither call nor cast
      R"({"id":1,"call":"get","cast":"increment"})"
      "\n"
      R"({"id":1,"call":5})"
      "\n"  // a name that is not a string
      R"({"cast":"increment","args":7})"
      "\n"  // cast args that are not an array
      R"({"id":2,"call":"get"})"
      "\n");
  CHECK(running.peer.read_message() == reply(2, 0));
}

TEST_CASE("worker: bad arguments are answered bad_args") {
  auto [ours, theirs] = socket_pair();
  std::int64_t value = 0;
  Server server("test", std::move(theirs));
  add_counter(server, value);
  Running running(server, std::move(ours));

  running.peer.send(R"({"id":1,"call":"increment","args":5})"
                    "\n");
  CHECK(running.peer.read_message() == error(1, "bad_args"));
  // The handler's args.at(0).get<int64_t>() throws a json exception.
  CHECK(running.peer.call(2, "increment", {"five"}) == error(2, "bad_args"));
  running.peer.cast("increment", {"five"});  // logged, ignored
  CHECK(running.peer.call(3, "get") == reply(3, 0));
}

TEST_CASE("worker: a handler's std::exception is answered internal_error") {
  auto [ours, theirs] = socket_pair();
  Server server("test", std::move(theirs));
  server.on_call("boom", [](const Args&) -> CallResult { throw std::runtime_error("boom"); });
  server.on_call("ping", [](const Args&) -> CallResult { return json("pong"); });
  Running running(server, std::move(ours));

  CHECK(running.peer.call(1, "boom") == error(1, "internal_error"));
  CHECK(running.peer.call(2, "ping") == reply(2, "pong"));
}

TEST_CASE("worker: $state answers what on_state returns, unknown_message without it") {
  {
    auto [ours, theirs] = socket_pair();
    std::int64_t value = 0;
    Server server("test", std::move(theirs));
    add_counter(server, value);
    Running running(server, std::move(ours));
    running.peer.cast("increment", {41});
    CHECK(running.peer.call(1, "$state") == reply(1, json{{"value", 41}}));
  }
  {
    auto [ours, theirs] = socket_pair();
    Server server("test", std::move(theirs));
    Running running(server, std::move(ours));
    CHECK(running.peer.call(1, "$state") == error(1, "unknown_message"));
  }
}

TEST_CASE("worker: EOF on the channel ends run() with 0 after what came before it") {
  auto [ours, theirs] = socket_pair();
  std::int64_t value = 0;
  Server server("test", std::move(theirs));
  add_counter(server, value);
  Running running(server, std::move(ours));

  // The last message has no '\n': EOF ends it.
  running.peer.send(R"({"cast":"increment","args":[2]})"
                    "\n"
                    R"({"id":1,"call":"get"})");
  CHECK(running.finish() == 0);
  CHECK(running.peer.read_message() == reply(1, 2));
  CHECK_FALSE(running.peer.read_line(100ms).has_value());  // and the worker closed its end
  CHECK_FALSE(server.has_channel());
}

TEST_CASE("worker: closing the channel completely ends run() with 0") {
  auto [ours, theirs] = socket_pair();
  Server server("test", std::move(theirs));
  Running running(server, std::move(ours));
  running.peer.close();
  CHECK(running.join() == 0);
}

TEST_CASE("worker: a line over 1 MiB is dropped, the next one is handled") {
  auto [ours, theirs] = socket_pair();
  std::int64_t value = 0;
  Server server("test", std::move(theirs));
  add_counter(server, value);
  Running running(server, std::move(ours));

  const std::string head = R"({"id":9,"call":"increment","pad":")";
  const std::string tail = "\"}";
  // One byte over the limit: dropped although it is a valid call.
  std::string big =
      head + std::string(otpsup::worker::kMaxLineBytes + 1 - head.size() - tail.size(), 'x') + tail;
  REQUIRE(big.size() == otpsup::worker::kMaxLineBytes + 1);
  running.peer.send(big + "\n");
  // Much longer, and sent in pieces: dropped up to its newline.
  running.peer.send(head);
  for (int i = 0; i < 5; ++i) running.peer.send(std::string(512 * 1024, 'y'));
  running.peer.send(tail + "\n");
  CHECK(running.peer.call(10, "get") == reply(10, 0));

  // Exactly at the limit: handled.
  std::string fits = R"({"id":11,"call":"increment","pad":")";
  fits += std::string(otpsup::worker::kMaxLineBytes - fits.size() - tail.size(), 'z') + tail;
  REQUIRE(fits.size() == otpsup::worker::kMaxLineBytes);
  running.peer.send(fits + "\n");
  CHECK(running.peer.read_message() == reply(11, 1));
}

TEST_CASE("worker: a reply larger than the socket buffer arrives whole") {
  auto [ours, theirs] = socket_pair();
  Server server("test", std::move(theirs));
  const std::string big(3 * 1024 * 1024, 'q');
  server.on_call("big", [&big](const Args&) -> CallResult { return json(big); });
  server.on_call("ping", [](const Args&) -> CallResult { return json("pong"); });
  Running running(server, std::move(ours));

  running.peer.send(R"({"id":1,"call":"big"})"
                    "\n"
                    R"({"id":2,"call":"ping"})"
                    "\n");
  std::this_thread::sleep_for(50ms);  // let the worker hit EAGAIN before we read
  CHECK(running.peer.read_message() == reply(1, big));
  CHECK(running.peer.read_message() == reply(2, "pong"));
}

TEST_CASE("worker: exit() from a handler sends its reply, then ends run() with the code") {
  auto [ours, theirs] = socket_pair();
  Server server("test", std::move(theirs));
  int pings = 0;
  server.on_call("stop", [&server](const Args&) -> CallResult {
    server.exit(7);
    return json("bye");
  });
  server.on_call("ping", [&pings](const Args&) -> CallResult { return json(++pings); });
  Running running(server, std::move(ours));

  running.peer.send(R"({"id":1,"call":"stop"})"
                    "\n"
                    R"({"id":2,"call":"ping"})"
                    "\n");
  CHECK(running.join() == 7);
  CHECK(running.peer.read_message() == reply(1, "bye"));
  CHECK(pings == 0);  // messages after exit() are not handled
}

TEST_CASE("worker: without a channel, timers run until exit()") {
  Server server("test", UniqueFd{});
  bool ready = false;
  int ticks = 0;
  int ticks_at_ready = -1;
  server.on_ready([&] {
    ready = true;
    ticks_at_ready = ticks;
  });
  server.on_tick(5ms, [&] { ++ticks; });
  server.after(60ms, [&] { server.exit(3); });
  const auto started = std::chrono::steady_clock::now();
  CHECK(server.run() == 3);
  CHECK(std::chrono::steady_clock::now() - started >= 60ms);
  CHECK(ready);
  CHECK(ticks_at_ready == 0);
  CHECK(ticks >= 3);
  CHECK_FALSE(server.has_channel());
}

TEST_CASE("worker: ticks are handled between messages") {
  auto [ours, theirs] = socket_pair();
  Server server("test", std::move(theirs));
  int ticks = 0;
  server.on_tick(2ms, [&ticks] { ++ticks; });
  server.on_call("ticks", [&ticks](const Args&) -> CallResult { return json(ticks); });
  Running running(server, std::move(ours));

  const auto deadline = std::chrono::steady_clock::now() + 5s;
  int seen = 0;
  for (int id = 1; seen < 3 && std::chrono::steady_clock::now() < deadline; ++id) {
    seen = running.peer.call(id, "ticks").at("reply").get<int>();
    std::this_thread::sleep_for(5ms);
  }
  CHECK(seen >= 3);
}

TEST_CASE("worker: an invalid OTPSUP_CHANNEL_FD means no channel") {
  REQUIRE(::setenv("OTPSUP_CHANNEL_FD", "not-a-number", 1) == 0);
  Server bad_number("test");
  CHECK_FALSE(bad_number.has_channel());
  REQUIRE(::setenv("OTPSUP_CHANNEL_FD", "987", 1) == 0);  // not open
  Server closed_fd("test");
  CHECK_FALSE(closed_fd.has_channel());
  ::unsetenv("OTPSUP_CHANNEL_FD");
  Server unset("test");
  CHECK_FALSE(unset.has_channel());
}

TEST_CASE("worker: SIGTERM ends run() with 0 (environment channel, forked child)") {
  auto [ours, theirs] = socket_pair();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ours.reset();
    ::setenv("OTPSUP_CHANNEL_FD", std::to_string(theirs.release()).c_str(), 1);
    Server server("test-child");
    server.on_call("ping", [](const Args&) -> CallResult { return json("pong"); });
    const int code = server.run();
    ::_exit(code == 0 && server.stop_signal() == SIGTERM ? 0 : 10 + code);
  }
  theirs.reset();
  Peer peer(std::move(ours));
  CHECK(peer.call(1, "ping") == reply(1, "pong"));  // the loop runs: handlers are in place
  REQUIRE(::kill(pid, SIGTERM) == 0);

  int status = 0;
  pid_t waited = 0;
  for (int i = 0; i < 500 && waited == 0; ++i) {
    waited = ::waitpid(pid, &status, WNOHANG);
    if (waited == 0) std::this_thread::sleep_for(10ms);
  }
  if (waited == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL("the worker did not stop on SIGTERM");
  }
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

}  // namespace
