// otpsupctl: the command line client of otpsupd (otpsupctl(1)).
//
// Each subcommand is one request on the control socket (include/otpsup/
// protocol.h), except `history --file`, which reads the log files itself so
// the history stays readable while the daemon is down.
//
// Exit status: 0 ok, 1 refused by the daemon (or an unreadable --file),
// 2 usage error, 3 cannot reach the daemon.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/client.h"
#include "ctl/log_follow.h"
#include "ctl/render.h"
#include "otpsup/duration.h"
#include "otpsup/exit_status.h"
#include "otpsup/history_filter.h"
#include "otpsup/history_reader.h"
#include "otpsup/paths.h"

namespace otpsup::ctl {
namespace {

using json = nlohmann::ordered_json;

enum ExitCode : int {
  kExitOk = 0,
  kExitRefused = 1,
  kExitUsage = 2,
  kExitUnreachable = 3,
};

// How long the queries (status, history, info, stats) wait for their reply
// unless --timeout says otherwise. Other commands wait without limit: a stop
// lasts as long as the child's shutdown timeout, a shutdown as long as the
// whole tree's.
constexpr Duration kDefaultQueryTimeout{10'000};

struct GlobalOptions {
  std::string socket;               // --socket; empty = $OTPSUP_SOCKET or the default
  std::optional<Duration> timeout;  // --timeout; zero = no deadline
};

// ---------------------------------------------------------------------------
// Talking to the daemon.

std::string socket_path(const GlobalOptions& global) {
  if (!global.socket.empty()) return global.socket;
  if (const char* from_env = std::getenv("OTPSUP_SOCKET"); from_env && *from_env) {
    return from_env;
  }
  return default_socket_path();
}

// The reply deadline: --timeout when given (0 = none), else `fallback`.
struct Wait {
  Deadline deadline;
  std::string text;  // for "no reply from otpsupd within TEXT"
};

Wait reply_wait(const GlobalOptions& global, std::optional<Duration> fallback) {
  std::optional<Duration> limit = global.timeout ? global.timeout : fallback;
  if (!limit || limit->count() == 0) return {};
  return {Clock::now() + *limit, format_duration(*limit)};
}

// The daemon could not be reached, or the connection failed before a reply.
int unreachable(const Status& status) {
  std::cerr << "otpsupctl: " << status.message() << "\n";
  return kExitUnreachable;
}

int cannot_connect(const Status& status) {
  unreachable(status);
  std::cerr << "otpsupctl: is otpsupd running? Start it, or pass --socket PATH "
               "(or set OTPSUP_SOCKET)\n";
  return kExitUnreachable;
}

// A string member of a reply object; `fallback` when absent or not a string.
std::string string_or(const json& object, const char* key, const std::string& fallback) {
  if (!object.is_object()) return fallback;
  auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : fallback;
}

int refused(const json& reply) {
  const json error = reply.value("error", json::object());
  std::string message = string_or(error, "message", "");
  std::string code = string_or(error, "code", "");
  if (message.empty()) message = "request refused";
  if (code.empty()) code = "unknown";
  std::cerr << "otpsupctl: " << message << " (" << code << ")\n";
  return kExitRefused;
}

int unexpected_reply(const json& reply) {
  std::cerr << "otpsupctl: unexpected reply from otpsupd: " << reply.dump() << "\n";
  return kExitRefused;
}

bool reply_ok(const json& reply) {
  auto ok = reply.find("ok");
  return ok != reply.end() && ok->is_boolean() && ok->get<bool>();
}

json reply_result(const json& reply) {
  auto result = reply.find("result");
  return result != reply.end() && result->is_object() ? *result : json::object();
}

// Connects, sends `message` and reads its reply into *reply (a json, or a
// JsonDocument for large replies). Returns kExitOk, or reports on stderr why
// there is no reply and returns the exit code. The reply may be a refusal.
template <typename Reply>
int exchange(const GlobalOptions& global, json message, std::optional<Duration> default_timeout,
             Reply* reply) {
  Client client;
  if (Status status = client.connect(socket_path(global)); !status.ok()) {
    return cannot_connect(status);
  }
  Wait wait = reply_wait(global, default_timeout);
  if (Status status = client.call(std::move(message), wait.deadline, wait.text, reply);
      !status.ok()) {
    return unreachable(status);
  }
  return kExitOk;
}

// One request, one reply. On success stores the reply's result and returns
// kExitOk; otherwise reports the failure on stderr and returns the exit code.
int request(const GlobalOptions& global, json message, std::optional<Duration> default_timeout,
            json* result) {
  json reply;
  if (int rc = exchange(global, std::move(message), default_timeout, &reply)) return rc;
  if (!reply_ok(reply)) return refused(reply);
  *result = reply_result(reply);
  return kExitOk;
}

std::string pid_text(const json& result) {
  auto pid = result.find("pid");
  if (pid == result.end() || !pid->is_number_integer()) return {};
  return " (pid " + std::to_string(pid->get<std::int64_t>()) + ")";
}

// ---------------------------------------------------------------------------
// history: filters shared by the daemon request and --file.

// `--since`: a sequence number, or an instant in microseconds since the epoch.
struct Since {
  std::optional<std::uint64_t> seq;
  std::optional<std::int64_t> micros;
  std::string rfc3339;  // the instant as sent to the daemon
};

bool all_digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// Parses "YYYY-MM-DD", "YYYY-MM-DD[T ]HH:MM[:SS[.fraction]]" with an optional
// "Z" or "+HH:MM"/"-HH:MM" (no zone = UTC) into microseconds since the epoch.
std::optional<std::int64_t> parse_instant(std::string_view text) {
  std::size_t pos = 0;
  auto number = [&](std::size_t digits) -> std::optional<int> {
    if (pos + digits > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = 0; i < digits; ++i) {
      char c = text[pos + i];
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    pos += digits;
    return value;
  };
  auto expect = [&](char c) {
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };

  auto year = number(4);
  if (!year || !expect('-')) return std::nullopt;
  auto month = number(2);
  if (!month || !expect('-')) return std::nullopt;
  auto day = number(2);
  if (!day) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year(*year),
                                   std::chrono::month(static_cast<unsigned>(*month)),
                                   std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;

  int hour = 0, minute = 0, second = 0;
  std::int64_t fraction_micros = 0;
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == 't' || text[pos] == ' ')) {
    ++pos;
    auto h = number(2);
    if (!h || !expect(':')) return std::nullopt;
    auto m = number(2);
    if (!m) return std::nullopt;
    hour = *h;
    minute = *m;
    if (expect(':')) {
      auto s = number(2);
      if (!s) return std::nullopt;
      second = *s;
      if (expect('.')) {
        std::int64_t scale = 100'000;
        std::size_t digits = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
          fraction_micros += (text[pos] - '0') * scale;
          scale /= 10;
          ++pos;
          ++digits;
        }
        if (digits == 0) return std::nullopt;
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  }

  std::int64_t offset_seconds = 0;
  bool utc = expect('Z') || expect('z');
  if (!utc && pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    auto oh = number(2);
    if (!oh) return std::nullopt;
    expect(':');
    auto om = number(2);
    if (!om || *oh > 23 || *om > 59) return std::nullopt;
    offset_seconds = sign * (*oh * 3600 + *om * 60);
  }
  if (pos != text.size()) return std::nullopt;

  std::int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  return seconds * 1'000'000 + fraction_micros;
}

// "2026-11-26T12:00:01.234567Z".
std::string format_instant(std::int64_t micros) {
  using namespace std::chrono;
  sys_time<microseconds> instant{microseconds(micros)};
  sys_days day = floor<days>(instant);
  year_month_day date{day};
  hh_mm_ss<microseconds> time{instant - day};
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()),
                static_cast<long long>(time.subseconds().count()));
  return text;
}

// A seq number, an instant, or a duration meaning "that long ago".
std::optional<Since> parse_since(const std::string& text) {
  Since since;
  if (all_digits(text)) {
    errno = 0;
    char* end = nullptr;
    unsigned long long seq = std::strtoull(text.c_str(), &end, 10);
    if (errno != 0) return std::nullopt;
    since.seq = seq;
    return since;
  }
  if (auto instant = parse_instant(text)) {
    since.micros = instant;
  } else if (auto ago = parse_duration(text)) {
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    since.micros = (now - std::chrono::duration_cast<std::chrono::microseconds>(*ago)).count();
  } else {
    return std::nullopt;
  }
  since.rfc3339 = format_instant(*since.micros);
  return since;
}

struct HistoryQuery {
  std::string path;  // set from the command line's PATH
  std::size_t lines = 20;
  std::string event;
  std::optional<Since> since;
  bool follow = false;
  bool json_output = false;
  std::string file;  // --file: read the log directly
};

// The same filter the daemon applies (otpsup/history_filter.h), for --file.
HistoryFilter to_filter(const HistoryQuery& options) {
  HistoryFilter filter;
  filter.path = options.path;
  filter.event = options.event;
  if (options.since && options.since->seq) filter.since_seq = *options.since->seq;
  if (options.since && !options.since->seq) filter.since_timestamp = options.since->rfc3339;
  return filter;
}

// Prints one raw record line from the daemon; flushed at once when following.
void print_history_line(const HistoryQuery& options, const std::string& raw) {
  std::cout << (options.json_output ? raw : render_history_line(raw)) << '\n';
  if (options.follow) std::cout.flush();
}

void warn_history_problem(const HistoryProblem& problem) {
  std::cerr << "otpsupctl: warning: " << problem.file << ":";
  if (problem.line_no != 0) {
    std::cerr << problem.line_no;
  } else {
    std::cerr << "offset " << problem.offset;
  }
  std::cerr << ": " << (problem.torn ? "torn record: " : "corrupt record: ") << problem.reason
            << "\n";
}

int history_from_files(const HistoryQuery& options) {
  std::vector<std::string> files = history_files(options.file);
  if (files.empty()) {
    std::cerr << "otpsupctl: no history log at " << options.file << "\n";
    return kExitRefused;
  }
  const HistoryFilter filter = to_filter(options);
  auto matches = [&filter](const HistoryRecord& record) { return filter.matches(record.json); };
  auto print = [&options](const HistoryRecord& record) {
    std::cout << (options.json_output ? record.line : render_history_line(record.line)) << "\n";
  };

  Status status;
  if (options.lines == 0) {
    status = read_history(
        files,
        [&](const HistoryRecord& record) {
          if (matches(record)) print(record);
          return true;
        },
        warn_history_problem);
  } else {
    std::vector<HistoryRecord> records;
    status = read_history_tail(files, options.lines, matches, &records, warn_history_problem);
    if (status.ok()) {
      for (const HistoryRecord& record : records) print(record);
    }
  }
  std::cout.flush();
  if (!status.ok()) {
    std::cerr << "otpsupctl: " << status.message() << "\n";
    return kExitRefused;
  }
  return kExitOk;
}

// Sends `message`; hands the reply's result to `on_result` (whose non-zero
// return ends the command). With `follow`, then hands every item the daemon
// streams ({"id":N,"stream":ITEM}) to `on_item` until the daemon closes the
// stream, or SIGINT/SIGTERM (exit 0, never in the middle of a line).
int streamed_request(const GlobalOptions& global, json message, bool follow,
                     const std::function<int(const json& result, const json& reply)>& on_result,
                     const std::function<void(const json& item)>& on_item) {
  std::optional<InterruptScope> interrupts;
  if (follow) interrupts.emplace();

  Client client;
  if (Status status = client.connect(socket_path(global)); !status.ok()) {
    return cannot_connect(status);
  }
  std::uint64_t id = 0;
  if (Status status = client.send(std::move(message), &id); !status.ok()) {
    return unreachable(status);
  }
  Wait wait = reply_wait(global, kDefaultQueryTimeout);
  Incoming incoming;
  if (Status status = client.receive(id, wait.deadline, &incoming); !status.ok()) {
    return unreachable(status);
  }
  switch (incoming.kind) {
    case Incoming::Kind::message:
      break;
    case Incoming::Kind::interrupted:
      return kExitOk;
    case Incoming::Kind::closed:
      return unreachable(Status::error("otpsupd closed the connection before replying"));
    case Incoming::Kind::timed_out:
      return unreachable(Status::error("no reply from otpsupd within " + wait.text));
  }
  const json reply = incoming.message;
  if (!reply_ok(reply)) return refused(reply);
  if (int rc = on_result(reply_result(reply), reply)) return rc;
  std::cout.flush();
  if (!follow) return kExitOk;

  for (;;) {
    if (Status status = client.receive(id, std::nullopt, &incoming); !status.ok()) {
      return unreachable(status);
    }
    if (incoming.kind != Incoming::Kind::message) return kExitOk;  // closed or interrupted
    const json& streamed = incoming.message;
    if (auto item = streamed.find("stream"); item != streamed.end()) {
      on_item(*item);
      std::cout.flush();
    } else if (streamed.contains("ok") && !reply_ok(streamed)) {
      return refused(streamed);
    }
  }
}

int history_from_daemon(const GlobalOptions& global, const HistoryQuery& options) {
  json message = {{"cmd", "history"}, {"n", options.lines}};
  if (!options.path.empty()) message["path"] = options.path;
  if (!options.event.empty()) message["event"] = options.event;
  if (options.since) {
    message["since"] =
        options.since->seq ? std::to_string(*options.since->seq) : options.since->rfc3339;
  }
  if (options.follow) message["follow"] = true;
  auto on_result = [&](const json& result, const json& reply) -> int {
    if (auto corrupt = result.find("corrupt"); corrupt != result.end() && corrupt->is_array()) {
      for (const json& problem : *corrupt) {
        if (!problem.is_object()) continue;
        std::cerr << "otpsupctl: warning: " << string_or(problem, "file", "?") << ":"
                  << (problem.contains("line") ? problem["line"].dump() : "?") << ": "
                  << string_or(problem, "reason", "corrupt record") << "\n";
      }
    }
    auto lines = result.find("lines");
    if (lines == result.end() || !lines->is_array()) return unexpected_reply(reply);
    for (const json& line : *lines) {
      if (line.is_string()) print_history_line(options, line.get<std::string>());
    }
    return kExitOk;
  };
  return streamed_request(global, std::move(message), options.follow, on_result,
                          [&](const json& item) {
                            if (item.is_string())
                              print_history_line(options, item.get<std::string>());
                          });
}

// ---------------------------------------------------------------------------
// The other commands.

// The reply is read into a JsonDocument, not an nlohmann tree: rendering the
// status of thousands of nodes then costs about as much as reading it.
int status_command(const GlobalOptions& global, const std::string& path, bool json_output) {
  json message = {{"cmd", "status"}};
  if (!path.empty()) message["path"] = path;
  JsonDocument reply;
  if (int rc = exchange(global, std::move(message), kDefaultQueryTimeout, &reply)) return rc;
  const JsonValue* ok = reply.find(reply.root(), "ok");
  if (ok == nullptr || ok->type != JsonType::boolean || ok->text != "true") {
    return refused(json::parse(reply.text()));
  }
  const JsonValue* result = reply.find(reply.root(), "result");
  const JsonValue* tree =
      result != nullptr && result->type == JsonType::object ? reply.find(*result, "tree") : nullptr;
  if (tree == nullptr || tree->type != JsonType::object) {
    return unexpected_reply(reply_result(json::parse(reply.text())));
  }
  std::string out = json_output ? reply.dump(*tree, 2) + "\n" : render_status_tree(reply, *tree);
  std::cout.write(out.data(), static_cast<std::streamsize>(out.size())).flush();
  return kExitOk;
}

// `VERB PATH` commands: one request, then "<done> PATH[ (pid N)]<note>".
int path_command(const GlobalOptions& global, json message, const std::string& done,
                 const std::string& note = {}) {
  std::string path = string_or(message, "path", "");
  json result;
  if (int rc = request(global, std::move(message), std::nullopt, &result)) return rc;
  std::cout << done << " " << path << pid_text(result) << note << std::endl;
  return kExitOk;
}

// pause and resume: one line per supervisor acted on, as the daemon lists them
// in "supervisors" (several with --recursive).
int supervisors_command(const GlobalOptions& global, json message, const std::string& done,
                        const std::string& note = {}) {
  std::string path = string_or(message, "path", "");
  json result;
  if (int rc = request(global, std::move(message), std::nullopt, &result)) return rc;
  std::vector<std::string> supervisors;
  if (auto list = result.find("supervisors"); list != result.end() && list->is_array()) {
    for (const json& entry : *list) {
      if (entry.is_string()) supervisors.push_back(entry.get<std::string>());
    }
  }
  if (supervisors.empty()) supervisors.push_back(path);  // an older daemon: no list
  for (const std::string& supervisor : supervisors) {
    std::cout << done << " " << supervisor << note << "\n";
  }
  std::cout.flush();
  return kExitOk;
}

struct AddRequest {
  std::string id;
  std::string restart;                // empty = the daemon's default (permanent)
  std::string shutdown;               // empty = the daemon's default
  std::vector<std::string> settings;  // "KEY = VALUE" lines of a [worker] section
  std::vector<std::string> command;
};

// otpsupd resolves a command path containing '/' from its own working
// directory; the user means this one.
std::vector<std::string> absolute_command(std::vector<std::string> command) {
  if (!command.empty() && !command[0].empty() && command[0][0] != '/' &&
      command[0].find('/') != std::string::npos) {
    std::error_code error;
    std::filesystem::path absolute = std::filesystem::absolute(command[0], error);
    if (!error) command[0] = absolute.lexically_normal().string();
  }
  return command;
}

int add_child_command(const GlobalOptions& global, const std::string& path, const AddRequest& add) {
  json message = {{"cmd", "add"},
                  {"path", path},
                  {"child_id", add.id},
                  {"command", absolute_command(add.command)}};
  if (!add.restart.empty()) message["restart"] = add.restart;
  if (!add.shutdown.empty()) message["shutdown"] = add.shutdown;
  if (!add.settings.empty()) message["settings"] = add.settings;
  json result;
  if (int rc = request(global, message, std::nullopt, &result)) return rc;
  std::cout << "added " << string_or(result, "path", path + "/" + add.id) << pid_text(result)
            << std::endl;
  return kExitOk;
}

int info_command(const GlobalOptions& global, const std::string& path, bool json_output) {
  json result;
  if (int rc = request(global, {{"cmd", "info"}, {"path", path}}, kDefaultQueryTimeout, &result)) {
    return rc;
  }
  if (json_output) {
    std::cout << result.dump(2) << std::endl;
  } else {
    std::cout << render_process_info(result) << std::flush;
  }
  return kExitOk;
}

int stats_command(const GlobalOptions& global, const std::string& path, const std::string& window,
                  bool json_output) {
  json message = {{"cmd", "stats"}};
  if (!path.empty()) message["path"] = path;
  if (!window.empty()) message["window"] = window;
  json result;
  if (int rc = request(global, message, kDefaultQueryTimeout, &result)) return rc;
  if (json_output) {
    std::cout << result.dump(2) << std::endl;
  } else {
    std::cout << render_stats(result) << std::flush;
  }
  return kExitOk;
}

int kill_command(const GlobalOptions& global, const std::string& path, int signal, bool force) {
  json message = {{"cmd", "kill"}, {"path", path}, {"signal", signal}};
  if (force) message["force"] = true;
  json result;
  if (int rc = request(global, message, std::nullopt, &result)) return rc;
  std::string sent = string_or(result, "signal", signal_name(signal));
  std::cout << "sent " << sent << " to " << path << pid_text(result) << std::endl;
  return kExitOk;
}

// freeze/thaw PATH: SIGSTOP/SIGCONT to a child's process group.
int freeze_command(const GlobalOptions& global, const std::string& cmd, const std::string& path,
                   bool force) {
  json message = {{"cmd", cmd}, {"path", path}};
  if (force) message["force"] = true;
  json result;
  if (int rc = request(global, message, std::nullopt, &result)) return rc;
  std::cout << (cmd == "freeze" ? "froze " : "thawed ") << path << pid_text(result) << std::endl;
  return kExitOk;
}

// wait PATH ready|down: blocks until the daemon's mirror shows that state;
// --timeout bounds it (the daemon answers `timeout`, exit status 1).
int wait_command(const GlobalOptions& global, const std::string& path, const std::string& state) {
  const Duration limit = global.timeout ? *global.timeout : Duration{0};
  json message = {{"cmd", "wait"}, {"path", path}, {"state", state}, {"timeout_ms", limit.count()}};
  // We wait longer than the daemon does, so its timeout error reaches us.
  GlobalOptions waiting = global;
  waiting.timeout = limit.count() > 0 ? limit + Duration{5000} : Duration{0};
  json result;
  if (int rc = request(waiting, message, std::nullopt, &result)) return rc;
  std::cout << string_or(result, "path", path) << " is " << state << std::endl;
  return kExitOk;
}

// An argument of call/cast: JSON where it parses as JSON, else the string.
json message_argument(const std::string& text) {
  json value = json::parse(text, nullptr, false);
  return value.is_discarded() ? json(text) : value;
}

void print_trace_entry(const json& e, bool json_output) {
  if (json_output) {
    std::cout << e.dump() << "\n";
    return;
  }
  std::cout << string_or(e, "ts", "?") << "  " << string_or(e, "dir", "?") << "  "
            << string_or(e, "kind", "?") << "  " << e.value("size", 0) << "B  "
            << string_or(e, "payload", "") << "\n";
}

// trace PATH [-n N] [-f]: the worker's trace ring, then (with -f) live entries.
int trace_command(const GlobalOptions& global, const std::string& path, std::size_t lines,
                  bool follow, bool json_output) {
  json message = {{"cmd", "trace"}, {"path", path}, {"n", lines}};
  if (follow) message["follow"] = true;
  auto on_result = [&](const json& result, const json&) -> int {
    if (json_output && !follow) {
      std::cout << result.dump(2) << std::endl;
      return kExitOk;
    }
    for (const json& e : result.value("entries", json::array())) print_trace_entry(e, json_output);
    if (json_output) return kExitOk;
    const json counts = result.value("counts", json::object());
    std::cout << "messages: in " << counts.value("in", 0) << ", out " << counts.value("out", 0)
              << ", garbage " << counts.value("garbage", 0) << ", late replies "
              << counts.value("late_replies", 0) << std::endl;
    if (follow) std::cout << "-- following (Ctrl-C to stop) --" << std::endl;
    return kExitOk;
  };
  return streamed_request(global, std::move(message), follow, on_result,
                          [&](const json& e) { print_trace_entry(e, json_output); });
}

// log PATH [-n N] [-f]: the last lines of a worker's output log, then (with
// -f) what it writes from then on, read from the file itself.
int log_command(const GlobalOptions& global, const std::string& path, std::size_t lines,
                bool follow) {
  json message = {{"cmd", "log"}, {"path", path}, {"n", lines}};
  // With -f, SIGINT/SIGTERM end the command cleanly (exit 0) from now on.
  std::optional<InterruptScope> interrupts;
  if (follow) interrupts.emplace();
  json result;
  if (int rc = request(global, message, kDefaultQueryTimeout, &result)) return rc;
  for (const json& line : result.value("lines", json::array())) {
    if (line.is_string()) std::cout << line.get<std::string>() << "\n";
  }
  std::cout.flush();
  if (!follow) return kExitOk;
  Status s = follow_log_file(string_or(result, "file", ""), result.value("inode", std::uint64_t{0}),
                             result.value("size", std::uint64_t{0}), std::cout);
  if (!s.ok()) {
    std::cerr << "otpsupctl: cannot follow the log: " << s.message() << "\n";
    return kExitRefused;
  }
  return kExitOk;
}

// call/cast/state PATH ...: a message to a worker through its supervisor.
int message_command(const GlobalOptions& global, const std::string& cmd, const std::string& path,
                    const std::string& name, const std::vector<std::string>& args,
                    bool json_output) {
  json message = {{"cmd", cmd}, {"path", path}};
  if (cmd == "call" || cmd == "cast") {
    message["name"] = name;
    json list = json::array();
    for (const std::string& a : args) list.push_back(message_argument(a));
    message["args"] = list;
  }
  // The daemon's call timeout follows --timeout (default 5 s); we wait a bit longer.
  Duration call_timeout = Duration{5000};
  if (global.timeout && global.timeout->count() > 0) call_timeout = *global.timeout;
  if (cmd == "call" || cmd == "state") message["timeout_ms"] = call_timeout.count();
  // We wait longer than the daemon does, so its timeout error reaches us.
  GlobalOptions waiting = global;
  waiting.timeout = call_timeout + Duration{5000};
  json result;
  if (int rc = request(waiting, message, std::nullopt, &result)) return rc;
  if (cmd == "cast") {
    if (!json_output) std::cout << "sent " << name << " to " << path << std::endl;
    return kExitOk;
  }
  const json reply = result.contains("reply") ? result["reply"] : json(nullptr);
  if (json_output || !reply.is_string()) {
    std::cout << reply.dump(json_output ? 2 : -1) << std::endl;
  } else {
    std::cout << reply.get<std::string>() << std::endl;
  }
  return kExitOk;
}

// sandbox ACTION: one request; human output per action.
int sandbox_command(const GlobalOptions& global, json message, bool json_output) {
  const std::string action = message.value("action", "");
  const bool read_only = action == "list" || action == "info";
  json result;
  if (int rc =
          request(global, message,
                  read_only ? std::optional<Duration>(Duration{10000}) : std::nullopt, &result)) {
    return rc;
  }
  if (json_output) {
    std::cout << result.dump(2) << std::endl;
    return kExitOk;
  }
  const std::string id = message.value("sandbox_id", "");
  if (action == "list") {
    const json list = result.value("sandboxes", json::array());
    if (list.empty()) std::cout << "no sandboxes\n";
    for (const json& box : list) {
      std::cout << string_or(box, "id", "?") << "  " << string_or(box, "path", "?") << "  "
                << string_or(box, "state", "?") << "  pid " << box.value("pid", 0) << "  "
                << string_or(box, "strategy", "?") << "  intensity "
                << box.value("restarts_in_period", 0) << "/" << box.value("intensity", 0)
                << "  restarts " << box.value("restarts", 0) << "  template "
                << string_or(box, "template", "?") << "\n";
    }
  } else if (action == "info") {
    std::cout << render_status_tree(nlohmann::ordered_json(result));
    std::cout << "template " << string_or(result, "template", "?") << ", options "
              << result.value("options", json::object()).dump() << "\n";
  } else if (action == "destroy") {
    std::cout << "destroyed sandbox " << id << "\n";
  } else {
    std::cout << (action == "create" ? "created" : "restarted") << " sandbox " << id << " at "
              << string_or(result, "path", "?") << pid_text(result) << "\n";
  }
  std::cout.flush();
  return kExitOk;
}

// reload [--dry-run]: prints the plan (what starts, stops, restarts, updates).
int reload_command(const GlobalOptions& global, bool dry_run, bool json_output) {
  json message = {{"cmd", "reload"}};
  if (dry_run) message["dry_run"] = true;
  json result;
  if (int rc = request(global, message, std::nullopt, &result)) return rc;
  if (json_output) {
    std::cout << result.dump(2) << std::endl;
    return kExitOk;
  }
  const json changes = result.value("changes", json::array());
  std::cout << (dry_run ? "reload would change " : "reloaded: ") << changes.size()
            << (changes.size() == 1 ? " thing" : " things") << std::endl;
  for (const json& c : changes) {
    std::cout << "  " << string_or(c, "action", "?") << "  " << string_or(c, "path", "?");
    const std::string detail = string_or(c, "detail", "");
    if (!detail.empty()) std::cout << "  (" << detail << ")";
    std::cout << "\n";
  }
  std::cout.flush();
  return kExitOk;
}

int shutdown_command(const GlobalOptions& global) {
  json result;
  if (int rc = request(global, {{"cmd", "shutdown"}}, std::nullopt, &result)) return rc;
  std::cout << "otpsupd shut down" << std::endl;
  return kExitOk;
}

// ---------------------------------------------------------------------------
// The command line.

CLI::Validator duration_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return parse_duration(text) ? std::string()
                                    : "not a duration: '" + text + "' (examples: 500ms, 10s, 1m)";
      },
      "");
}

// A duration greater than zero (stats --window).
CLI::Validator window_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto window = parse_duration(text);
        return window && window->count() > 0
                   ? std::string()
                   : "not a positive duration: '" + text + "' (examples: 30s, 5m, 1h)";
      },
      "");
}

// add --shutdown: a duration, brutal_kill or infinity.
CLI::Validator shutdown_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return text == "brutal_kill" || text == "infinity" || parse_duration(text)
                   ? std::string()
                   : "not a shutdown: '" + text +
                         "' (a duration such as 5s, brutal_kill or infinity)";
      },
      "");
}

CLI::Validator signal_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return parse_signal(text) > 0 ? std::string() : "unknown signal: '" + text + "'";
      },
      "");
}

// CLI11 2.1 would wrap "-5" around into a huge unsigned value.
CLI::Validator count_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return all_digits(text) && text.size() <= 9 ? std::string()
                                                    : "not a count (0, 1, 2, ...): '" + text + "'";
      },
      "");
}

CLI::Validator since_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return parse_since(text) ? std::string()
                                 : "not a seq number, time or duration: '" + text + "'";
      },
      "");
}

int run(int argc, char** argv) {
  CLI::App app{"Control otpsupd, the Erlang/OTP-style process supervisor.", "otpsupctl"};
  app.fallthrough();  // global options may also follow the subcommand
  app.require_subcommand(1);
  app.footer(
      "PATH is a node's full path (root/demo_tracking/counter1) or a unique suffix of it at a\n"
      "'/' boundary (counter1, demo_tracking/counter1).\n"
      "Exit status: 0 ok, 1 refused by otpsupd, 2 usage error, 3 cannot reach otpsupd.\n"
      "See otpsupctl(1).");

  GlobalOptions global;
  app.add_option("--socket", global.socket,
                 "Control socket (default: $OTPSUP_SOCKET, else the per-user default)")
      ->type_name("PATH");
  app.add_option_function<std::string>(
         "--timeout", [&global](const std::string& text) { global.timeout = parse_duration(text); },
         "How long to wait for a reply (default: 10s for status, history, info and stats, "
         "no limit otherwise; 0 = no limit)")
      ->type_name("DURATION")
      ->check(duration_check());

  // Each subcommand and what it does once the command line is parsed.
  std::vector<std::pair<CLI::App*, std::function<int()>>> commands;
  auto add_command = [&](const std::string& name, const std::string& description,
                         std::function<int()> action) {
    CLI::App* command = app.add_subcommand(name, description);
    commands.emplace_back(command, std::move(action));
    return command;
  };
  auto add_path = [](CLI::App* command, std::string* path, const std::string& description) {
    return command->add_option("PATH", *path, description)->type_name("");
  };
  const std::string node_path = "Node: full path or unique suffix";

  std::string path;  // every command takes at most one PATH
  bool json_output = false;

  CLI::App* status = add_command("status", "Show the supervision tree, or the subtree at PATH",
                                 [&] { return status_command(global, path, json_output); });
  add_path(status, &path, node_path);
  status->add_flag("--json", json_output, "Print the tree as JSON");

  bool pause_stop = false;
  bool recursive = false;
  CLI::App* pause = add_command("pause", "Suspend a supervisor's restart policy", [&] {
    json message = {{"cmd", "pause"}, {"path", path}};
    if (pause_stop) message["stop"] = true;
    if (recursive) message["recursive"] = true;
    return supervisors_command(global, message, "paused",
                               pause_stop ? " and stopped its children" : "");
  });
  add_path(pause, &path, "Supervisor: full path or unique suffix")->required();
  pause->add_flag("--stop", pause_stop, "Also stop its children (reverse start order)");
  pause->add_flag("--recursive", recursive, "Also pause every supervisor below it");

  CLI::App* resume =
      add_command("resume", "Resume a paused supervisor and apply its deferred policy", [&] {
        json message = {{"cmd", "resume"}, {"path", path}};
        if (recursive) message["recursive"] = true;
        return supervisors_command(global, message, "resumed");
      });
  add_path(resume, &path, "Supervisor: full path or unique suffix")->required();
  resume->add_flag("--recursive", recursive, "Also resume every supervisor below it");

  struct Verb {
    const char* name;
    const char* description;
    const char* done;
  };
  for (const Verb& verb : {
           Verb{"start", "Start a stopped child", "started"},
           Verb{"stop", "Stop a child and keep its spec; it stays down until started", "stopped"},
           Verb{"restart", "Stop and start a child (recorded as manual_restart)", "restarted"},
           Verb{"remove",
                "Delete the spec of a stopped child; a child added at run time is stopped first",
                "removed"},
       }) {
    CLI::App* command = add_command(verb.name, verb.description, [&global, &path, verb] {
      return path_command(global, {{"cmd", verb.name}, {"path", path}}, verb.done);
    });
    add_path(command, &path, node_path)->required();
  }

  // add SUPPATH --id ID [...] -- COMMAND [ARGS...]: the argv is exactly what
  // follows the first "--" of the command line.
  AddRequest add;
  std::vector<std::string> after_dashes;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      after_dashes.assign(argv + i + 1, argv + argc);
      break;
    }
  }
  CLI::App* add_cmd = add_command(
      "add", "Add a child to a dynamic supervisor and start it (lost if the supervisor restarts)",
      [&]() -> int {
        if (add.command.empty() || add.command != after_dashes) {
          std::cerr << "otpsupctl: add: give the command after '--': otpsupctl add SUPPATH --id "
                       "ID [--restart TYPE] [--shutdown T] [--set 'KEY = VALUE']... -- COMMAND "
                       "[ARGS...]\n";
          return kExitUsage;
        }
        return add_child_command(global, path, add);
      });
  add_cmd->footer(
      "Usage: otpsupctl add SUPPATH --id ID [--restart TYPE] [--shutdown T]\n"
      "                     [--set 'KEY = VALUE']... -- COMMAND [ARGS...]\n"
      "Everything after '--' is the child's argv. otpsupd looks a bare COMMAND name up in its\n"
      "own $PATH, then in its own directory; a relative COMMAND path (./run) is taken from\n"
      "the current directory. Each --set is one key of a [worker] section (otpsup.toml(5)),\n"
      "in TOML: --set 'user = \"nobody\"' --set 'restart_delay = \"1s\"'\n"
      "--set 'env = { MODE = \"test\" }'. Errors name the Nth --set as --set:N:COLUMN.");
  add_cmd->add_option("SUPPATH", path, "Dynamic supervisor: full path or unique suffix")
      ->type_name("")
      ->required();
  add_cmd->add_option("COMMAND", add.command, "The child's program and arguments, after '--'")
      ->type_name("");
  add_cmd->add_option("--id", add.id, "The child's name, unique under SUPPATH")
      ->type_name("ID")
      ->required();
  add_cmd
      ->add_option("--restart", add.restart,
                   "permanent (default), transient (only after an abnormal exit) or temporary "
                   "(never)")
      ->type_name("TYPE")
      ->check(CLI::IsMember({"permanent", "transient", "temporary"}));
  add_cmd
      ->add_option("--shutdown", add.shutdown,
                   "How long stop waits before SIGKILL (a duration), brutal_kill or infinity")
      ->type_name("T")
      ->check(shutdown_check());
  add_cmd
      ->add_option("--set", add.settings,
                   "A key of the worker's section, in TOML (repeatable): 'user = \"nobody\"'")
      ->type_name("'KEY = VALUE'")
      ->allow_extra_args(false);

  CLI::App* info = add_command("info", "Show a running node's process: memory, CPU, fds, ...",
                               [&] { return info_command(global, path, json_output); });
  add_path(info, &path, node_path)->required();
  info->add_flag("--json", json_output, "Print the daemon's reply as JSON");

  std::string window;
  CLI::App* stats =
      add_command("stats", "Show restart and exit counts of a node (default: root) over a window",
                  [&] { return stats_command(global, path, window, json_output); });
  add_path(stats, &path, node_path);
  stats->add_option("--window", window, "The window, ending now (default 60s)")
      ->type_name("DURATION")
      ->check(window_check());
  stats->add_flag("--json", json_output, "Print the daemon's reply as JSON");

  std::string signal_text = "TERM";
  bool kill_force = false;
  CLI::App* kill = add_command(
      "kill", "Send a signal to a child; its supervisor reacts as to a crash",
      [&] { return kill_command(global, path, parse_signal(signal_text), kill_force); });
  add_path(kill, &path, node_path)->required();
  kill->add_option("-s,--signal", signal_text, "Signal name or number (default TERM)")
      ->type_name("SIGNAL")
      ->check(signal_check());
  kill->add_flag("--force", kill_force, "Allow killing a supervisor (never the root)");

  CLI::App* freeze = add_command(
      "freeze", "SIGSTOP a child's process group (not pause: its supervisor still watches it)",
      [&] { return freeze_command(global, "freeze", path, kill_force); });
  add_path(freeze, &path, node_path)->required();
  freeze->add_flag("--force", kill_force, "Allow freezing a supervisor (never the root)");
  CLI::App* thaw = add_command("thaw", "SIGCONT a frozen child's process group",
                               [&] { return freeze_command(global, "thaw", path, false); });
  add_path(thaw, &path, node_path)->required();

  add_command("shutdown", "Stop the whole tree, then otpsupd",
              [&] { return shutdown_command(global); });

  std::string wait_state;
  CLI::App* wait = add_command(
      "wait",
      "Block until a node is ready (running; a worker with `ready` once it said so) or down",
      [&] { return wait_command(global, path, wait_state); });
  add_path(wait, &path, node_path)->required();
  wait->add_option("STATE", wait_state, "ready or down")
      ->type_name("")
      ->required()
      ->check(CLI::IsMember({"ready", "down"}));
  wait->footer(
      "--timeout T bounds the wait (default: no limit); past it otpsupctl exits 1 with "
      "the error code `timeout`.");

  // Messages to workers.
  std::string message_name;
  std::vector<std::string> message_args;
  std::size_t trace_lines = 0;
  for (const std::string cmd : {"call", "cast"}) {
    CLI::App* m = add_command(cmd,
                              cmd == "call" ? "Send a call to a worker and print its reply"
                                            : "Send a cast to a worker (no reply)",
                              [&, cmd] {
                                return message_command(global, cmd, path, message_name,
                                                       message_args, json_output);
                              });
    add_path(m, &path, node_path)->required();
    m->add_option("NAME", message_name, "Message name (e.g. increment)")->required();
    m->add_option("ARGS", message_args, "Arguments: JSON where they parse as JSON, else strings");
    m->add_flag("--json", json_output, "Print the reply as JSON");
  }
  CLI::App* state = add_command("state", "Show a worker's state (the reserved call $state)", [&] {
    return message_command(global, "state", path, "", {}, json_output);
  });
  add_path(state, &path, node_path)->required();
  state->add_flag("--json", json_output, "Print the state as JSON");
  bool follow_live = false;
  CLI::App* trace = add_command(
      "trace", "Show the messages in and out of a worker (its supervisor's trace ring)",
      [&] { return trace_command(global, path, trace_lines, follow_live, json_output); });
  add_path(trace, &path, node_path)->required();
  trace->add_option("-n,--lines", trace_lines, "Show the last N messages (0 = all)")
      ->type_name("N");
  trace->add_flag("-f,--follow", follow_live,
                  "Then keep printing messages as they pass, until Ctrl-C");
  trace->add_flag("--json", json_output,
                  "Print the ring as JSON (with -f: one entry per line, no counts)");

  std::size_t log_lines = 20;
  CLI::App* log =
      add_command("log", "Show a worker's captured stdout/stderr (STATE_DIR/logs/PATH.log)",
                  [&] { return log_command(global, path, log_lines, follow_live); });
  add_path(log, &path, node_path)->required();
  log->add_option("-n,--lines", log_lines, "Show the last N lines (default 20)")->type_name("N");
  log->add_flag("-f,--follow", follow_live,
                "Then keep printing what the worker writes, across rotations, until Ctrl-C");

  // sandbox create|destroy|restart|list|info
  CLI::App* sandbox = app.add_subcommand(
      "sandbox", "Sandboxes: copies of a configured subtree under the dynamic supervisor");
  sandbox->require_subcommand(1);
  std::string sandbox_id, sandbox_template, sandbox_strategy, sandbox_period, sandbox_under;
  int sandbox_intensity = -1;
  auto sandbox_message = [&](const std::string& action) {
    json m = {{"cmd", "sandbox"}, {"action", action}};
    if (!sandbox_id.empty()) m["sandbox_id"] = sandbox_id;
    if (!sandbox_template.empty()) m["template"] = sandbox_template;
    if (!sandbox_strategy.empty()) m["strategy"] = sandbox_strategy;
    if (!sandbox_period.empty()) m["period"] = sandbox_period;
    if (!sandbox_under.empty()) m["under"] = sandbox_under;
    if (sandbox_intensity >= 0) m["intensity"] = sandbox_intensity;
    return m;
  };
  auto sandbox_action = [&](const std::string& name, const std::string& description, bool takes_id,
                            bool takes_options) {
    CLI::App* sub = sandbox->add_subcommand(name, description);
    commands.emplace_back(
        sub, [&, name] { return sandbox_command(global, sandbox_message(name), json_output); });
    if (takes_id) sub->add_option("ID", sandbox_id, "The sandbox id")->required();
    if (takes_options) {
      sub->add_option("--template", sandbox_template, "Supervisor to copy (default demo_tracking)")
          ->type_name("SUP");
      sub->add_option("--strategy", sandbox_strategy, "one_for_one, one_for_all, rest_for_one")
          ->type_name("S");
      sub->add_option("--intensity", sandbox_intensity, "Restart intensity")
          ->type_name("N")
          ->check(CLI::NonNegativeNumber);
      sub->add_option("--period", sandbox_period, "Intensity period (e.g. 5s)")
          ->type_name("T")
          ->check(duration_check());
      sub->add_option("--under", sandbox_under,
                      "Dynamic supervisor to add it to (default: the only one)")
          ->type_name("SUP");
    }
    if (!takes_id || name == "info") sub->add_flag("--json", json_output, "Print JSON");
  };
  sandbox_action("create", "Add a new sandbox (a copy of a configured subtree)", true, true);
  sandbox_action("destroy", "Stop a sandbox and delete it", true, false);
  sandbox_action("restart",
                 "Destroy and create again (options checked first): new pids, restart count + 1",
                 true, true);
  sandbox_action("list", "List the sandboxes", false, false);
  sandbox_action("info", "Show one sandbox and its subtree", true, false);

  bool dry_run = false;
  CLI::App* reload =
      add_command("reload",
                  "Read the configuration file again and apply the difference (new children start, "
                  "removed ones stop, changed ones restart, the others are not disturbed)",
                  [&] { return reload_command(global, dry_run, json_output); });
  reload->add_flag("--dry-run", dry_run, "Only print what would change");
  reload->add_flag("--json", json_output, "Print the daemon's reply as JSON");

  HistoryQuery query;
  std::string since_text;
  CLI::App* history = add_command("history", "Show the restart history", [&] {
    query.path = path;
    query.json_output = json_output;
    if (!since_text.empty()) query.since = parse_since(since_text);
    if (!query.file.empty()) return history_from_files(query);
    return history_from_daemon(global, query);
  });
  add_path(history, &path, "Only records of this node and of its children (path suffix)");
  history->add_option("-n,--lines", query.lines, "Show the last N records (0 = all; default 20)")
      ->type_name("N")
      ->check(count_check());
  history->add_option("--event", query.event, "Only records of this event (restarted, ...)")
      ->type_name("EVENT");
  history
      ->add_option("--since", since_text,
                   "Only records from this seq number, time (2026-11-26T12:00:00Z; UTC "
                   "when no zone) or duration ago (10m)")
      ->type_name("T")
      ->check(since_check());
  CLI::Option* follow =
      history->add_flag("-f,--follow", query.follow, "Keep printing new records until Ctrl-C");
  history->add_flag("--json", json_output, "Print records exactly as stored, one per line");
  history
      ->add_option("--file", query.file,
                   "Read the history log LOG (a file or its directory, with its rotations) "
                   "directly, without otpsupd")
      ->type_name("LOG")
      ->excludes(follow);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int status = app.exit(error);
    return status == 0 ? kExitOk : kExitUsage;
  }
  for (const auto& [command, action] : commands) {
    if (command->parsed()) return action();
  }
  return kExitUsage;  // not reached: require_subcommand(1)
}

}  // namespace
}  // namespace otpsup::ctl

int main(int argc, char** argv) {
  return otpsup::ctl::run(argc, argv);
}
