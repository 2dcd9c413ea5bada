#include "otpsup/reload_plan.h"

namespace otpsup {

namespace {

using Library = std::map<std::string, SupervisorSpec>;

std::string policy_difference(const SupervisorSpec& a, const SupervisorSpec& b) {
  std::string d;
  auto add = [&](const std::string& what) { d += (d.empty() ? "" : ", ") + what; };
  if (a.strategy != b.strategy)
    add(std::string("strategy ") + to_string(a.strategy) + " -> " + to_string(b.strategy));
  if (a.intensity != b.intensity)
    add("intensity " + std::to_string(a.intensity) + " -> " + std::to_string(b.intensity));
  if (a.period != b.period) add("period changed");
  if (a.max_children != b.max_children) add("max_children changed");
  if (a.allow_add != b.allow_add) add("allow_add changed");
  if (a.auto_shutdown != b.auto_shutdown)
    add(std::string("auto_shutdown ") + to_string(a.auto_shutdown) + " -> " +
        to_string(b.auto_shutdown));
  return d;
}

std::string child_difference(const ChildSpec& a, const ChildSpec& b) {
  std::string d;
  auto add = [&](const std::string& what) { d += (d.empty() ? "" : ", ") + what; };
  if (a.command != b.command) add("command");
  if (a.restart != b.restart) add("restart");
  if (!(a.shutdown == b.shutdown)) add("shutdown");
  if (a.stop_signal != b.stop_signal) add("stop_signal");
  if (a.normal_exit_codes != b.normal_exit_codes) add("normal_exit_codes");
  if (a.env != b.env || a.clear_env != b.clear_env) add("env");
  if (a.cwd != b.cwd) add("cwd");
  if (a.user != b.user || a.group != b.group) add("user/group");
  if (a.umask != b.umask) add("umask");
  if (a.rlimits != b.rlimits) add("rlimits");
  if (a.nice != b.nice) add("nice");
  if (a.no_new_privs != b.no_new_privs) add("no_new_privs");
  if (a.channel != b.channel) add("channel");
  if (a.trace_size != b.trace_size) add("trace_size");
  if (a.restart_delay != b.restart_delay || a.backoff_max != b.backoff_max ||
      a.backoff_reset != b.backoff_reset)
    add("restart_delay");
  if (a.significant != b.significant) add("significant");
  if (a.ready != b.ready || a.ready_fd != b.ready_fd) add("ready");
  if (a.start_timeout != b.start_timeout) add("start_timeout");
  if (a.watchdog != b.watchdog) add("watchdog");
  if (a.executable != b.executable && a.command == b.command) add("executable");
  if (a.is_supervisor != b.is_supervisor) add("kind");
  return d;
}

void walk(const Library& running, const Library& next, const std::string& name,
          const std::string& path, std::vector<ReloadChange>* out) {
  const SupervisorSpec& a = running.at(name);
  const SupervisorSpec& b = next.at(name);
  if (std::string d = policy_difference(a, b); !d.empty()) out->push_back({path, "update", d});
  std::map<std::string, const ChildSpec*> old_children;
  for (const ChildSpec& c : a.children) old_children[c.id] = &c;
  std::map<std::string, const ChildSpec*> new_children;
  for (const ChildSpec& c : b.children) new_children[c.id] = &c;
  for (auto it = a.children.rbegin(); it != a.children.rend(); ++it) {
    if (!new_children.count(it->id)) out->push_back({path + "/" + it->id, "stop", "removed"});
  }
  for (const ChildSpec& c : b.children) {
    const std::string child_path = path + "/" + c.id;
    auto old = old_children.find(c.id);
    if (old == old_children.end()) {
      out->push_back({child_path, "start", "new"});
      continue;
    }
    const ChildSpec& before = *old->second;
    if (before.is_supervisor && c.is_supervisor) {
      if (std::string d = child_difference(before, c); !d.empty()) {
        out->push_back({child_path, "update", d});
      }
      if (running.count(c.id) && next.count(c.id)) walk(running, next, c.id, child_path, out);
    } else if (!(before == c)) {
      out->push_back({child_path, "restart", child_difference(before, c)});
    }
  }
}

void collect_common(const Library& running, const Library& next, const std::string& name,
                    const std::string& path, std::vector<std::string>* out) {
  out->push_back(path);
  std::map<std::string, bool> old_supervisors;
  for (const ChildSpec& c : running.at(name).children) old_supervisors[c.id] = c.is_supervisor;
  for (const ChildSpec& c : next.at(name).children) {
    auto it = old_supervisors.find(c.id);
    if (c.is_supervisor && it != old_supervisors.end() && it->second && running.count(c.id) &&
        next.count(c.id)) {
      collect_common(running, next, c.id, path + "/" + c.id, out);
    }
  }
}

}  // namespace

std::vector<ReloadChange> plan_reload(const Library& running, const Library& next) {
  std::vector<ReloadChange> out;
  if (running.count("root") && next.count("root")) walk(running, next, "root", "root", &out);
  return out;
}

std::vector<std::string> common_supervisor_paths(const Library& running, const Library& next) {
  std::vector<std::string> out;
  if (running.count("root") && next.count("root")) {
    collect_common(running, next, "root", "root", &out);
  }
  return out;
}

nlohmann::json to_json(const std::vector<ReloadChange>& plan) {
  nlohmann::json j = nlohmann::json::array();
  for (const ReloadChange& c : plan) {
    j.push_back({{"path", c.path}, {"action", c.action}, {"detail", c.detail}});
  }
  return j;
}

}  // namespace otpsup
