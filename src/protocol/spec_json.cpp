#include "otpsup/spec_json.h"

#include <stdexcept>

namespace otpsup {

Strategy strategy_from_string(const std::string& s) {
  for (Strategy v :
       {Strategy::one_for_one, Strategy::one_for_all, Strategy::rest_for_one, Strategy::dynamic}) {
    if (s == to_string(v)) return v;
  }
  throw std::invalid_argument("unknown strategy '" + s + "'");
}

RestartType restart_type_from_string(const std::string& s) {
  for (RestartType v : {RestartType::permanent, RestartType::transient, RestartType::temporary}) {
    if (s == to_string(v)) return v;
  }
  throw std::invalid_argument("unknown restart type '" + s + "'");
}

AutoShutdown auto_shutdown_from_string(const std::string& s) {
  for (AutoShutdown v :
       {AutoShutdown::never, AutoShutdown::any_significant, AutoShutdown::all_significant}) {
    if (s == to_string(v)) return v;
  }
  throw std::invalid_argument("unknown auto_shutdown '" + s + "'");
}

namespace {

nlohmann::json shutdown_to_json(const Shutdown& s) {
  switch (s.kind) {
    case Shutdown::Kind::brutal_kill:
      return "brutal_kill";
    case Shutdown::Kind::infinity:
      return "infinity";
    case Shutdown::Kind::timeout:
      return s.timeout.count();
  }
  return nullptr;
}

Shutdown shutdown_from_json(const nlohmann::json& j) {
  if (j.is_number_integer()) return {Shutdown::Kind::timeout, Duration{j.get<std::int64_t>()}};
  const std::string s = j.get<std::string>();
  if (s == "brutal_kill") return {Shutdown::Kind::brutal_kill, Duration{0}};
  if (s == "infinity") return {Shutdown::Kind::infinity, Duration{0}};
  throw std::invalid_argument("bad shutdown '" + s + "'");
}

OutputTarget output_target_from_string(const std::string& s) {
  if (s == "log") return OutputTarget::log;
  if (s == "inherit") return OutputTarget::inherit;
  if (s == "null") return OutputTarget::null;
  throw std::invalid_argument("bad output target '" + s + "'");
}

ReadyKind ready_kind_from_string(const std::string& s) {
  for (ReadyKind v : {ReadyKind::none, ReadyKind::notify, ReadyKind::fd}) {
    if (s == to_string(v)) return v;
  }
  throw std::invalid_argument("bad ready '" + s + "'");
}

}  // namespace

nlohmann::json to_json(const ChildSpec& c) {
  nlohmann::json j{{"id", c.id},
                   {"is_supervisor", c.is_supervisor},
                   {"restart", to_string(c.restart)},
                   {"shutdown", shutdown_to_json(c.shutdown)},
                   {"stop_signal", c.stop_signal},
                   {"normal_exit_codes", c.normal_exit_codes},
                   {"command", c.command},
                   {"executable", c.executable},
                   {"env", c.env},
                   {"clear_env", c.clear_env},
                   {"channel", c.channel},
                   {"trace_size", c.trace_size},
                   {"stdout", to_string(c.stdout_target)},
                   {"stderr", to_string(c.stderr_target)}};
  if (c.cwd) j["cwd"] = *c.cwd;
  j["restart_delay_ms"] = c.restart_delay.count();
  j["backoff_max_ms"] = c.backoff_max.count();
  j["backoff_reset_ms"] = c.backoff_reset.count();
  j["significant"] = c.significant;
  if (c.user) j["user"] = *c.user;
  if (c.group) j["group"] = *c.group;
  if (c.umask) j["umask"] = *c.umask;
  if (!c.rlimits.empty()) {
    nlohmann::json limits = nlohmann::json::object();
    for (const auto& [name, l] : c.rlimits) limits[name] = {{"soft", l.soft}, {"hard", l.hard}};
    j["rlimits"] = std::move(limits);
  }
  if (c.nice) j["nice"] = *c.nice;
  if (c.no_new_privs) j["no_new_privs"] = true;
  if (c.ready != ReadyKind::none) {
    j["ready"] = to_string(c.ready);
    if (c.ready == ReadyKind::fd) j["ready_fd"] = c.ready_fd;
  }
  j["start_timeout_ms"] = c.start_timeout.count();
  if (c.watchdog.count() > 0) j["watchdog_ms"] = c.watchdog.count();
  return j;
}

ChildSpec child_spec_from_json(const nlohmann::json& j) {
  ChildSpec c;
  c.id = j.at("id").get<std::string>();
  c.is_supervisor = j.value("is_supervisor", false);
  c.restart = restart_type_from_string(j.value("restart", "permanent"));
  if (j.contains("shutdown")) c.shutdown = shutdown_from_json(j["shutdown"]);
  c.stop_signal = j.value("stop_signal", 15);
  if (j.contains("normal_exit_codes"))
    c.normal_exit_codes = j["normal_exit_codes"].get<std::vector<int>>();
  if (j.contains("command")) c.command = j["command"].get<std::vector<std::string>>();
  c.executable = j.value("executable", "");
  if (j.contains("env")) c.env = j["env"].get<std::map<std::string, std::string>>();
  c.clear_env = j.value("clear_env", false);
  c.channel = j.value("channel", false);
  c.trace_size = j.value("trace_size", 100);
  c.stdout_target = output_target_from_string(j.value("stdout", "log"));
  c.stderr_target = output_target_from_string(j.value("stderr", "log"));
  if (j.contains("cwd")) c.cwd = j["cwd"].get<std::string>();
  c.restart_delay = Duration{j.value("restart_delay_ms", std::int64_t{0})};
  c.backoff_max = Duration{j.value("backoff_max_ms", std::int64_t{0})};
  c.backoff_reset = Duration{j.value("backoff_reset_ms", ChildSpec{}.backoff_reset.count())};
  c.significant = j.value("significant", false);
  if (j.contains("user")) c.user = j["user"].get<std::string>();
  if (j.contains("group")) c.group = j["group"].get<std::string>();
  if (j.contains("umask")) c.umask = j["umask"].get<int>();
  if (j.contains("rlimits")) {
    for (const auto& [name, l] : j["rlimits"].items()) {
      c.rlimits[name] = {l.at("soft").get<std::uint64_t>(), l.at("hard").get<std::uint64_t>()};
    }
  }
  if (j.contains("nice")) c.nice = j["nice"].get<int>();
  c.no_new_privs = j.value("no_new_privs", false);
  c.ready = ready_kind_from_string(j.value("ready", "none"));
  c.ready_fd = j.value("ready_fd", 0);
  c.start_timeout = Duration{j.value("start_timeout_ms", c.start_timeout.count())};
  c.watchdog = Duration{j.value("watchdog_ms", std::int64_t{0})};
  return c;
}

nlohmann::json to_json(const SupervisorSpec& s) {
  nlohmann::json children = nlohmann::json::array();
  for (const ChildSpec& c : s.children) children.push_back(to_json(c));
  return {{"name", s.name},
          {"strategy", to_string(s.strategy)},
          {"intensity", s.intensity},
          {"period_ms", s.period.count()},
          {"children", std::move(children)},
          {"max_children", s.max_children},
          {"allow_add", s.allow_add},
          {"auto_shutdown", to_string(s.auto_shutdown)}};
}

SupervisorSpec supervisor_spec_from_json(const nlohmann::json& j) {
  SupervisorSpec s;
  s.name = j.at("name").get<std::string>();
  s.strategy = strategy_from_string(j.value("strategy", "one_for_one"));
  s.intensity = j.value("intensity", 1);
  s.period = Duration{j.value("period_ms", std::int64_t{5000})};
  for (const auto& c : j.value("children", nlohmann::json::array())) {
    s.children.push_back(child_spec_from_json(c));
  }
  s.max_children = j.value("max_children", 0);
  s.allow_add = j.value("allow_add", false);
  s.auto_shutdown = auto_shutdown_from_string(j.value("auto_shutdown", "never"));
  return s;
}

nlohmann::json to_json(const std::map<std::string, SupervisorSpec>& library) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, spec] : library) j[name] = to_json(spec);
  return j;
}

std::map<std::string, SupervisorSpec> library_from_json(const nlohmann::json& j) {
  std::map<std::string, SupervisorSpec> library;
  for (const auto& [name, spec] : j.items()) library[name] = supervisor_spec_from_json(spec);
  return library;
}

}  // namespace otpsup
