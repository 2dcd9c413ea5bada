// Control requests: decoding, dispatch to the core, replies (protocol.h).
#include <unistd.h>

#include <algorithm>
#include <limits>

#include "daemon/daemon.h"
#include "otpsup/history_reader.h"
#include "otpsup/protocol.h"

namespace otpsup {

namespace {

nlohmann::json ok_reply(const nlohmann::json& id, nlohmann::json result) {
  return {{"id", id}, {"ok", true}, {"result", std::move(result)}};
}

long long ms_between(TimePoint from, TimePoint to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace

void Daemon::on_request(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.contains("id") ? req["id"] : nlohmann::json(nullptr);
  if (!req.contains("cmd") || !req["cmd"].is_string()) {
    server_->send_error(client, id, protocol::kBadRequest, "missing string member \"cmd\"");
    return;
  }
  const std::string cmd = req["cmd"].get<std::string>();
  if (cmd == "ping") {
    server_->send(client, ok_reply(id, {{"pid", ::getpid()}, {"version", "0.1.0"}}));
  } else if (cmd == "status") {
    handle_status(client, req);
  } else if (cmd == "history") {
    handle_history(client, req);
  } else if (cmd == "shutdown") {
    handle_shutdown(client, req);
  } else if (cmd == "start" || cmd == "stop" || cmd == "restart" || cmd == "remove" ||
             cmd == "kill" || cmd == "pause" || cmd == "resume") {
    if (stopping_) {
      server_->send_error(client, id, protocol::kShuttingDown, "the daemon is shutting down");
      return;
    }
    handle_child_command(client, req, cmd);
  } else {
    server_->send_error(client, id, protocol::kUnknownCommand, "unknown command '" + cmd + "'");
  }
}

void Daemon::on_disconnect(ClientId client) {
  std::erase_if(followers_, [&](const Follower& f) { return f.client == client; });
}

void Daemon::handle_shutdown(ClientId client, const nlohmann::json& req) {
  shutdown_waiters_.push_back({client, req.value("id", nlohmann::json(nullptr)), {}});
  begin_shutdown("shutdown requested through the control socket");
}

void Daemon::handle_child_command(ClientId client, const nlohmann::json& req,
                                  const std::string& cmd) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  std::optional<Resolved> target = resolve(client, req);
  if (!target) return;
  const bool on_supervisor = target->child.empty();

  Command command;
  nlohmann::json extra = nlohmann::json::object();
  if (cmd == "pause" || cmd == "resume") {
    if (!on_supervisor) {
      server_->send_error(client, id, protocol::kRefused,
                          target->path +
                              " is a worker; pause and resume apply to supervisors "
                              "(to stop a worker use `stop`)");
      return;
    }
    const bool with_stop = req.value("stop", false);
    command.kind = cmd == "resume" ? Command::Kind::resume
                   : with_stop     ? Command::Kind::pause_stop
                                   : Command::Kind::pause;
  } else {
    if (on_supervisor) {
      server_->send_error(client, id, protocol::kRefused,
                          "'" + cmd + "' does not apply to the root supervisor" +
                              (cmd == "stop" ? " (use `shutdown`)" : ""));
      return;
    }
    command.child = target->child;
    if (cmd == "start") command.kind = Command::Kind::start;
    if (cmd == "stop") command.kind = Command::Kind::stop;
    if (cmd == "restart") command.kind = Command::Kind::restart;
    if (cmd == "remove") command.kind = Command::Kind::remove;
    if (cmd == "kill") {
      command.kind = Command::Kind::kill;
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
      command.signal = sig;
      extra["signal"] = signal_name(sig);
    }
  }
  command.token = ++next_token_;
  pending_[command.token] = {client, id, extra};
  root_->on_command(command, now());
  pump();
}

// Resolves req["path"] to a node, sending the error reply itself on failure.
std::optional<Daemon::Resolved> Daemon::resolve(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  if (!req.contains("path") || !req["path"].is_string() || req["path"].get<std::string>().empty()) {
    server_->send_error(client, id, protocol::kBadRequest, "missing string member \"path\"");
    return std::nullopt;
  }
  const std::string query = req["path"].get<std::string>();
  std::vector<std::string> matches;
  for (const std::string& p : all_paths()) {
    if (p == query) {
      matches = {p};
      break;
    }
    if (p.size() > query.size() && p.ends_with(query) && p[p.size() - query.size() - 1] == '/') {
      matches.push_back(p);
    }
  }
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
  Resolved r{matches[0], ""};
  if (r.path != root_path()) r.child = r.path.substr(root_path().size() + 1);
  return r;
}

std::vector<std::string> Daemon::all_paths() const {
  std::vector<std::string> paths{root_path()};
  for (const auto& c : root_->children()) paths.push_back(root_path() + "/" + c->spec.id);
  return paths;
}

nlohmann::json Daemon::status_tree(const std::string& only_path) const {
  const TimePoint t = now();
  auto child_node = [&](const Child& c) {
    nlohmann::json n{
        {"path", root_path() + "/" + c.spec.id},
        {"name", c.spec.id},
        {"kind", c.spec.is_supervisor ? "supervisor" : "worker"},
        {"pid", c.pid},
        {"state",
         c.state == ChildState::down && c.stopped_by_hand ? "stopped" : to_string(c.state)},
        {"uptime_ms", c.state == ChildState::running ? ms_between(c.started_at, t) : 0},
        {"restarts", c.restarts},
        {"restart", to_string(c.spec.restart)}};
    if (c.last_exit) n["last_exit"] = describe(*c.last_exit);
    return n;
  };
  if (!only_path.empty() && only_path != root_path()) {
    for (const auto& c : root_->children()) {
      if (root_path() + "/" + c->spec.id == only_path) return child_node(*c);
    }
  }
  const SupervisorSpec& spec = root_->spec();
  nlohmann::json children = nlohmann::json::array();
  for (const auto& c : root_->children()) children.push_back(child_node(*c));
  return {{"path", root_path()},
          {"name", root_path()},
          {"kind", "supervisor"},
          {"pid", ::getpid()},
          {"state", stopping_ ? "stopping" : "running"},
          {"uptime_ms", ms_between(started_at_, t)},
          {"restarts", 0},
          {"strategy", to_string(spec.strategy)},
          {"intensity", spec.intensity},
          {"period_ms", spec.period.count()},
          {"restarts_in_period", root_->restarts_in_period(t)},
          {"paused", root_->paused()},
          {"children", std::move(children)}};
}

void Daemon::handle_status(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  std::string path;
  if (req.contains("path")) {
    auto r = resolve(client, req);
    if (!r) return;
    path = r->path;
  }
  server_->send(client, ok_reply(id, {{"tree", status_tree(path)}}));
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
