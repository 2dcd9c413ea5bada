// Control requests: decoding, routing to the supervisor that owns the target,
// replies (protocol.h).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>

#include "config/added_worker.h"
#include "daemon/daemon.h"
#include "os/private_dirs.h"
#include "os/proc_info.h"
#include "otpsup/duration.h"
#include "otpsup/history_format.h"
#include "otpsup/history_reader.h"
#include "otpsup/protocol.h"
#include "otpsup/reload_plan.h"
#include "otpsup/restart_stats.h"
#include "otpsup/spec_json.h"
#include "otpsup/tree_status_json.h"
#include "protocol/request_members.h"

namespace otpsup {

namespace {

nlohmann::json ok_reply(const nlohmann::json& id, nlohmann::json result) {
  return {{"id", id}, {"ok", true}, {"result", std::move(result)}};
}

std::string parent_of(const std::string& path) {
  return path.substr(0, path.rfind('/'));
}
std::string name_of(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

bool valid_child_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
}

}  // namespace

void Daemon::on_request(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.contains("id") ? req["id"] : nlohmann::json(nullptr);
  if (!req.contains("cmd") || !req["cmd"].is_string()) {
    server_->send_error(client, id, protocol::kBadRequest, "missing string member \"cmd\"");
    return;
  }
  if (auto wrong = protocol::wrong_member_type(req)) {
    server_->send_error(client, id, protocol::kBadRequest, *wrong);
    return;
  }
  // The members are checked above; this is the net for what a handler did
  // not expect: the request fails, the daemon and its tree go on.
  try {
    dispatch_request(client, req, req["cmd"].get<std::string>());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "otpsupd: a request could not be handled: %s: %s\n", e.what(),
                 req.dump().c_str());
    server_->send_error(client, id, protocol::kInternal,
                        std::string("the request could not be handled: ") + e.what());
  }
}

void Daemon::dispatch_request(ClientId client, const nlohmann::json& req, const std::string& cmd) {
  const nlohmann::json id = req.contains("id") ? req["id"] : nlohmann::json(nullptr);
  if (cmd == "ping") {
    server_->send(client,
                  ok_reply(id, {{"pid", options_.pids.outside(::getpid())}, {"version", "0.1.0"}}));
  } else if (cmd == "status") {
    handle_status(client, req);
  } else if (cmd == "history") {
    handle_history(client, req);
  } else if (cmd == "info") {
    handle_info(client, req);
  } else if (cmd == "log") {
    handle_log(client, req);
  } else if (cmd == "call" || cmd == "cast" || cmd == "state" || cmd == "trace") {
    handle_message(client, req, cmd);
  } else if (cmd == "sandbox") {
    if (stopping_ || root_->core().ending()) {
      server_->send_error(client, id, protocol::kShuttingDown, "the daemon is shutting down");
      return;
    }
    handle_sandbox(client, req);
  } else if (cmd == "stats") {
    handle_stats(client, req);
  } else if (cmd == "shutdown") {
    handle_shutdown(client, req);
  } else if (cmd == "wait") {
    handle_wait(client, req);
  } else if (cmd == "start" || cmd == "stop" || cmd == "restart" || cmd == "remove" ||
             cmd == "kill" || cmd == "pause" || cmd == "resume" || cmd == "add" ||
             cmd == "reload" || cmd == "freeze" || cmd == "thaw") {
    if (stopping_ || root_->core().ending()) {
      server_->send_error(client, id, protocol::kShuttingDown, "the daemon is shutting down");
      return;
    }
    if (cmd == "reload") {
      handle_reload(client, req);
    } else if (cmd == "add") {
      handle_add(client, req);
    } else {
      handle_tree_command(client, req, cmd);
    }
  } else {
    server_->send_error(client, id, protocol::kUnknownCommand, "unknown command '" + cmd + "'");
  }
}

void Daemon::on_disconnect(ClientId client) {
  std::erase_if(followers_, [&](const Follower& f) { return f.client == client; });
  std::vector<std::string> unfollowed;
  std::erase_if(trace_followers_, [&](const TraceFollower& f) {
    if (f.client != client) return false;
    unfollowed.push_back(f.path);
    return true;
  });
  // Each follower was counted by the worker's supervisor: uncount it.
  for (const std::string& path : unfollowed) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos || root_->core().ending()) continue;
    root_->route({{"owner", path.substr(0, slash)},
                  {"kind", "untrace"},
                  {"child", path.substr(slash + 1)},
                  {"token", CommandToken{0}}});
  }
  waiters_->drop(client);
}

void Daemon::on_trace(const std::string& path, const nlohmann::json& entry) {
  for (const TraceFollower& f : trace_followers_) {
    if (f.path == path) server_->send(f.client, {{"id", f.request_id}, {"stream", entry}});
  }
}

void Daemon::handle_wait(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  auto path = resolve(client, req);
  if (!path) return;
  const auto target = StateWaiters::parse_target(req.value("state", ""));
  if (!target) {
    server_->send_error(client, id, protocol::kBadRequest,
                        "wait: expected state \"ready\" or \"down\"");
    return;
  }
  const nlohmann::json timeout = req.value("timeout_ms", nlohmann::json(0));
  if (!timeout.is_number_integer() || timeout.get<std::int64_t>() < 0) {
    server_->send_error(client, id, protocol::kBadRequest, "timeout_ms must be >= 0");
    return;
  }
  waiters_->add(client, id, *path, *target, Duration{timeout.get<std::int64_t>()}, mirror_);
}

void Daemon::handle_shutdown(ClientId client, const nlohmann::json& req) {
  shutdown_waiters_.push_back({client, req.value("id", nlohmann::json(nullptr)), {}, 0});
  begin_shutdown("shutdown requested through the control socket");
}

std::optional<std::string> Daemon::resolve(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  if (!req.contains("path") || !req["path"].is_string() || req["path"].get<std::string>().empty()) {
    server_->send_error(client, id, protocol::kBadRequest, "missing string member \"path\"");
    return std::nullopt;
  }
  const std::string query = req["path"].get<std::string>();
  std::vector<std::string> matches = mirror_.match(query);
  if (matches.empty()) {
    server_->send_error(client, id, protocol::kNotFound, "no node '" + query + "' in the tree");
    return std::nullopt;
  }
  if (matches.size() > 1) {
    std::string list;
    for (const auto& m : matches) list += (list.empty() ? "" : ", ") + m;
    server_->send_error(client, id, protocol::kAmbiguous,
                        "'" + query + "' matches several nodes: " + list);
    return std::nullopt;
  }
  return matches[0];
}

// The node req["path"] names, or the root when there is no path.
std::optional<std::string> Daemon::resolve_or_root(ClientId client, const nlohmann::json& req) {
  if (!req.contains("path")) return std::string("root");
  return resolve(client, req);
}

// Sends one command to the supervisor that owns it (command["owner"]),
// through the root and the nodes on the way; the reply comes back to
// on_reply with the token.
void Daemon::send_command(ClientId client, const nlohmann::json& id, nlohmann::json command,
                          nlohmann::json extra, std::uint64_t fan_out) {
  const CommandToken token = ++next_token_;
  command["token"] = token;
  pending_[token] = {client, id, std::move(extra), fan_out};
  root_->route(command);
}

void Daemon::handle_tree_command(ClientId client, const nlohmann::json& req,
                                 const std::string& cmd) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  std::optional<std::string> target = resolve(client, req);
  if (!target) return;
  const MirrorNode* node = mirror_.find(*target);
  nlohmann::json extra = nlohmann::json::object();

  if (cmd == "pause" || cmd == "resume") {
    if (!node->supervisor) {
      server_->send_error(client, id, protocol::kRefused,
                          *target +
                              " is a worker; pause and resume apply to supervisors "
                              "(to stop a worker use `stop`)");
      return;
    }
    const std::string kind =
        cmd == "resume" ? "resume" : (req.value("stop", false) ? "pause_stop" : "pause");
    std::vector<std::string> owners{*target};
    if (req.value("recursive", false)) owners = mirror_.supervisors_under(*target);
    // Deepest first: a pause reaches the supervisors below before their
    // parent acts (and, with --stop, stops them).
    std::reverse(owners.begin(), owners.end());
    const std::uint64_t group = ++next_fan_out_;
    fan_outs_[group] = {client, id, static_cast<int>(owners.size()), nullptr, *target, {}, {}};
    for (const std::string& owner : owners) {
      send_command(client, id, {{"owner", owner}, {"kind", kind}}, {{"owner", owner}}, group);
    }
    return;
  }
  if (*target == "root") {
    server_->send_error(client, id, protocol::kRefused,
                        "'" + cmd + "' does not apply to the root supervisor" +
                            (cmd == "stop" ? " (use `shutdown`)" : ""));
    return;
  }
  nlohmann::json command{{"owner", parent_of(*target)}, {"kind", cmd}, {"child", name_of(*target)}};
  if (cmd == "freeze" && node->supervisor && !req.value("force", false)) {
    server_->send_error(client, id, protocol::kRefused,
                        *target +
                            " is a supervisor: a frozen supervisor supervises nothing (its "
                            "children keep running unwatched); add --force to do it anyway");
    return;
  }
  if (cmd == "kill") {
    if (node->supervisor && !req.value("force", false)) {
      server_->send_error(client, id, protocol::kRefused,
                          *target +
                              " is a supervisor: killing it takes its whole subtree down; "
                              "add --force to do it anyway");
      return;
    }
    int sig = 15;
    if (req.contains("signal")) {
      const auto& s = req["signal"];
      sig = s.is_number_integer() ? s.get<int>()
            : s.is_string()       ? parse_signal(s.get<std::string>())
                                  : -1;
      if (sig <= 0 || sig > 64) {
        server_->send_error(
            client, id, protocol::kBadRequest,
            "unknown signal " + s.dump() + " (use a name such as KILL or a number)");
        return;
      }
    }
    command["signal"] = sig;
    extra["signal"] = signal_name(sig);
  }
  send_command(client, id, std::move(command), std::move(extra));
}

// add SUPPATH: {"path", "child_id", "command":[...], "restart"?, "shutdown"?,
// "settings"?: ["KEY = VALUE", ...]}: read as a [worker] section would be.
void Daemon::handle_add(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  std::optional<std::string> target = resolve(client, req);
  if (!target) return;
  const MirrorNode* node = mirror_.find(*target);
  if (!node->supervisor) {
    server_->send_error(client, id, protocol::kRefused, *target + " is not a supervisor");
    return;
  }
  const std::string child_id = req.value("child_id", "");
  if (!valid_child_name(child_id)) {
    server_->send_error(client, id, protocol::kBadRequest,
                        "bad child id '" + child_id + "' (letters, digits, '_', '-', '.')");
    return;
  }
  std::vector<std::string> command, settings;
  try {
    if (req.contains("command")) command = req["command"].get<std::vector<std::string>>();
    if (req.contains("settings")) settings = req["settings"].get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    server_->send_error(client, id, protocol::kBadRequest,
                        std::string("command and settings are arrays of strings: ") + e.what());
    return;
  }
  if (command.empty()) {
    server_->send_error(client, id, protocol::kBadRequest, "missing command");
    return;
  }
  // --restart and --shutdown are settings too, after the --set ones.
  for (const char* key : {"restart", "shutdown"}) {
    if (!req.contains(key)) continue;
    if (!req[key].is_string()) {
      server_->send_error(client, id, protocol::kBadRequest, std::string(key) + " is a string");
      return;
    }
    settings.push_back(std::string(key) + " = " + nlohmann::json(req[key]).dump());
  }
  config::AddedWorker added =
      config::read_added_worker(child_id, command, settings, options_.lookup);
  if (!added.errors.empty()) {
    std::string message;
    for (const ConfigError& e : added.errors) {
      message += (message.empty() ? "" : "\n") + e.to_string();
    }
    server_->send_error(client, id, protocol::kBadRequest, message);
    return;
  }
  send_command(
      client, id,
      {{"owner", *target}, {"kind", "add"}, {"child", child_id}, {"spec", to_json(added.spec)}},
      {{"path", *target + "/" + child_id}});
}

// Reads the configuration file again, validates all of it (a bad file changes
// nothing and the errors go back to the caller), then has every supervisor
// that exists in both trees apply its part (core Command::reconfigure).
void Daemon::handle_reload(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  auto refuse = [&](std::string_view code, const std::string& message) {
    if (client == 0) std::fprintf(stderr, "otpsupd: reload: %s\n", message.c_str());
    server_->send_error(client, id, code, message);
  };
  if (options_.config_path.empty()) {
    return refuse(protocol::kRefused,
                  "otpsupd runs the built-in demo tree; start it with -c FILE to reload");
  }
  if (stopping_ || root_->core().ending()) {
    return refuse(protocol::kShuttingDown, "the daemon is shutting down");
  }
  ConfigLoad next = load_config_file(options_.config_path, options_.lookup);
  if (!next.ok()) {
    std::string message = "the configuration was not reloaded; nothing changed:";
    for (const ConfigError& e : next.errors) message += "\n" + e.to_string();
    return refuse("invalid_config", message);
  }
  const std::vector<ReloadChange> plan =
      plan_reload(options_.config.supervisors, next.config->supervisors);
  nlohmann::json changes = to_json(plan);
  if (!(next.config->daemon == options_.config.daemon)) {
    changes.push_back({{"path", "daemon"},
                       {"action", "none"},
                       {"detail", "[daemon] settings take effect at the next start"}});
  }
  if (req.value("dry_run", false)) {
    server_->send(client, ok_reply(id, {{"changes", changes}, {"dry_run", true}}));
    return;
  }
  append_history({{"sup", "root"},
                  {"event", "config_reloaded"},
                  {"config", options_.config_path},
                  {"changes", changes}});
  const std::vector<std::string> owners =
      common_supervisor_paths(options_.config.supervisors, next.config->supervisors);
  options_.config.supervisors = next.config->supervisors;
  mirror_.reconcile(options_.config.supervisors);
  const nlohmann::json library = to_json(options_.config.supervisors);
  const std::uint64_t group = ++next_fan_out_;
  FanOut fan{client, id, static_cast<int>(owners.size()), nullptr, "root", {}, {}};
  fan.result["changes"] = changes;
  fan_outs_[group] = std::move(fan);
  for (const std::string& owner : owners) {
    const std::string name = owner.substr(owner.rfind('/') + 1);
    send_command(client, id,
                 {{"owner", owner},
                  {"kind", "reconfigure"},
                  {"new_spec", to_json(options_.config.supervisors.at(name))},
                  {"library", library}},
                 {{"owner", owner}}, group);
  }
}

void Daemon::handle_message(ClientId client, const nlohmann::json& req, const std::string& cmd) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  std::optional<std::string> target = resolve(client, req);
  if (!target) return;
  const MirrorNode* node = mirror_.find(*target);
  if (node->supervisor) {
    server_->send_error(client, id, "not_a_server", *target + " is a supervisor, not a worker");
    return;
  }
  nlohmann::json command{
      {"owner", *target == "root" ? "root" : target->substr(0, target->rfind('/'))},
      {"kind", cmd == "state" ? "call" : cmd},
      {"child", target->substr(target->rfind('/') + 1)}};
  if (cmd == "trace") {
    command["n"] = req.value("n", 0);
    if (req.value("follow", false)) {
      command["follow"] = true;
      trace_followers_.push_back({client, id, *target});
    }
  } else {
    if (cmd == "state") {
      command["name"] = "$state";
      command["args"] = nlohmann::json::array();
    } else {
      if (!req.contains("name") || !req["name"].is_string()) {
        server_->send_error(client, id, protocol::kBadRequest, "missing message name");
        return;
      }
      command["name"] = req["name"];
      command["args"] =
          req.contains("args") && req["args"].is_array() ? req["args"] : nlohmann::json::array();
    }
    const auto timeout = req.value("timeout_ms", 5000);
    if (timeout <= 0) {
      server_->send_error(client, id, protocol::kBadRequest, "timeout_ms must be > 0");
      return;
    }
    command["timeout_ms"] = timeout;
  }
  send_command(client, id, std::move(command), {{"path", *target}});
}

// The reply is written as text straight from the mirror (tree_status_json.h):
// the same bytes as building the Node as nlohmann::json and dumping it, at a
// fraction of the cost for a tree of thousands of nodes.
void Daemon::handle_status(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  std::optional<std::string> resolved = resolve_or_root(client, req);
  if (!resolved) return;
  StatusJsonOptions options;
  if (*resolved == "root" && stopping_) options.top_state = "stopping";
  if (options_.pids.translating()) {
    options.shown_pid = [this](int pid) { return options_.pids.outside(pid); };
  }
  std::string line = "{\"id\":";
  line += id.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += ",\"ok\":true,\"result\":{\"tree\":";
  append_status_json(mirror_, *resolved, Clock::now(), options, &line);
  line += "}}";
  server_->send_line(client, std::move(line));
}

void Daemon::handle_info(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  auto path = resolve(client, req);
  if (!path) return;
  const MirrorNode* node = mirror_.find(*path);
  std::string error = "not_running";
  std::optional<ProcessInfo> info;
  if (node->pid != 0) info = read_process_info(node->pid, &error);
  if (!info) {
    server_->send_error(client, id, protocol::kNotRunning, *path + " is not running");
    return;
  }
  nlohmann::json result = to_json(*info);
  result["pid"] = options_.pids.outside(info->pid);
  result["path"] = *path;
  result["kind"] = node->supervisor ? "supervisor" : "worker";
  server_->send(client, ok_reply(id, std::move(result)));
}

void Daemon::handle_log(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  auto path = resolve(client, req);
  if (!path) return;
  if (mirror_.find(*path)->supervisor) {
    server_->send_error(client, id, protocol::kBadRequest,
                        *path + " is a supervisor; only workers have output logs");
    return;
  }
  const auto n = req.value("n", 20);
  if (n < 0 || n > 1'000'000) {
    server_->send_error(client, id, protocol::kBadRequest, "\"n\" must be in 0..1000000");
    return;
  }
  const std::string file = child_log_file(log_settings().dir, *path);
  // A worker that wrote nothing yet has no file: its directory is made here,
  // so that `log -f` can wait in it for the file.
  (void)make_private_dirs(file.substr(0, file.rfind('/')));
  LogEnd end;
  std::vector<std::string> lines = read_log_tail(file, static_cast<std::size_t>(n), &end);
  server_->send(client, ok_reply(id, {{"path", *path},
                                      {"file", file},
                                      {"lines", std::move(lines)},
                                      {"inode", end.inode},
                                      {"size", end.size}}));
}

void Daemon::handle_stats(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  std::optional<std::string> resolved = resolve_or_root(client, req);
  if (!resolved) return;
  const std::string path = *resolved;
  Duration window{60000};
  if (req.contains("window")) {
    auto w =
        req["window"].is_string() ? parse_duration(req["window"].get<std::string>()) : std::nullopt;
    if (!w || w->count() <= 0) {
      server_->send_error(client, id, protocol::kBadRequest, "bad window (use e.g. 60s or 5m)");
      return;
    }
    window = *w;
  }
  HistoryFilter filter;
  filter.path = path;
  std::vector<HistoryRecord> records;
  Status s = read_history_tail(
      history_files(options_.state_dir), std::numeric_limits<std::size_t>::max(),
      [&](const HistoryRecord& r) { return filter.matches(r.json); }, &records, nullptr);
  if (!s.ok()) {
    server_->send_error(client, id, protocol::kInternal, s.message());
    return;
  }
  std::vector<nlohmann::json> plain;
  plain.reserve(records.size());
  for (const HistoryRecord& r : records) plain.push_back(r.json);
  nlohmann::json result =
      to_json(compute_restart_stats(plain, path, std::chrono::system_clock::now(), window));
  result["window_ms"] = window.count();
  if (const MirrorNode* n = mirror_.find(path); n != nullptr && n->supervisor) {
    int used = 0;
    for (TimePoint t : n->restart_times) used += t >= Clock::now() - n->period ? 1 : 0;
    result["intensity"] = n->intensity;
    result["period_ms"] = n->period.count();
    result["intensity_used"] =
        n->intensity > 0 ? static_cast<double>(used) / n->intensity : static_cast<double>(used);
  }
  server_->send(client, ok_reply(id, std::move(result)));
}

void Daemon::handle_history(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  HistoryFilter filter;
  if (req.contains("path") && req["path"].is_string()) filter.path = req["path"];
  if (req.contains("event") && req["event"].is_string()) filter.event = req["event"];
  if (req.contains("since") && req["since"].is_string() &&
      !filter.set_since(req["since"].get<std::string>(), std::chrono::system_clock::now())) {
    server_->send_error(
        client, id, protocol::kBadRequest,
        "bad \"since\": use a seq number, an RFC 3339 time or a duration such as 5m");
    return;
  }
  const auto n_value = req.value("n", 20);
  if (n_value < 0) {
    server_->send_error(client, id, protocol::kBadRequest, "\"n\" must be >= 0");
    return;
  }
  const std::size_t n =
      n_value == 0 ? std::numeric_limits<std::size_t>::max() : static_cast<std::size_t>(n_value);
  std::vector<HistoryRecord> records;
  nlohmann::json problems = nlohmann::json::array();
  Status s = read_history_tail(
      history_files(options_.state_dir), n,
      [&](const HistoryRecord& r) { return filter.matches(r.json); }, &records,
      [&](const HistoryProblem& p) {
        problems.push_back({{"file", p.file},
                            {"line", p.line_no},
                            {"offset", p.offset},
                            {"reason", p.reason},
                            {"torn", p.torn}});
      });
  if (!s.ok()) {
    server_->send_error(client, id, protocol::kInternal, s.message());
    return;
  }
  nlohmann::json lines = nlohmann::json::array();
  for (const HistoryRecord& r : records) lines.push_back(r.line);
  server_->send(client,
                ok_reply(id, {{"lines", std::move(lines)}, {"corrupt", std::move(problems)}}));
  if (req.value("follow", false)) followers_.push_back({client, id, filter});
}

}  // namespace otpsup
