#include "otpsup/tree_mirror.h"

#include <algorithm>

#include "otpsup/duration.h"

namespace otpsup {

namespace {

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

long long ms_between(TimePoint from, TimePoint to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace

void TreeMirror::build(const std::map<std::string, SupervisorSpec>& library, int root_pid,
                       TimePoint now) {
  nodes_.clear();
  pids_.clear();
  texted_children_.clear();
  add_node("", "root", true, library, nullptr);
  MirrorNode& root = nodes_.at("root");
  root.pid = root_pid;
  root.state = "running";
  root.started_at = now;
}

void TreeMirror::add_node(const std::string& parent, const std::string& name, bool supervisor,
                          const std::map<std::string, SupervisorSpec>& library,
                          const ChildSpec* spec) {
  const std::string path = parent.empty() ? name : parent + "/" + name;
  MirrorNode n;
  n.path = path;
  n.name = name;
  n.supervisor = supervisor;
  if (spec != nullptr) n.restart = to_string(spec->restart);
  if (!parent.empty()) nodes_.at(parent).children.push_back(name);
  if (supervisor) {
    auto it = library.find(name);
    if (it != library.end()) {
      n.strategy = to_string(it->second.strategy);
      n.intensity = it->second.intensity;
      n.period = it->second.period;
    }
    nodes_[path] = n;
    if (it != library.end()) {
      for (const ChildSpec& c : it->second.children) {
        add_node(path, c.id, c.is_supervisor, library, &c);
      }
    }
    return;
  }
  nodes_[path] = n;
}

void TreeMirror::register_added_supervisor(const std::string& parent, const SupervisorSpec& spec,
                                           const std::map<std::string, SupervisorSpec>& library) {
  if (nodes_.count(parent) == 0 || nodes_.count(parent + "/" + spec.name) != 0) return;
  std::map<std::string, SupervisorSpec> with_it = library;
  with_it[spec.name] = spec;
  ChildSpec as_child;
  as_child.id = spec.name;
  as_child.is_supervisor = true;
  add_node(parent, spec.name, true, with_it, &as_child);
  nodes_.at(parent + "/" + spec.name).added = true;
}

void TreeMirror::set_restarts(const std::string& path, int restarts) {
  if (auto it = nodes_.find(path); it != nodes_.end()) it->second.restarts = restarts;
}

void TreeMirror::reconcile(const std::map<std::string, SupervisorSpec>& library) {
  if (library.count("root")) reconcile_node(library, "root", "root");
}

void TreeMirror::reconcile_node(const std::map<std::string, SupervisorSpec>& library,
                                const std::string& name, const std::string& path) {
  auto spec = library.find(name);
  auto self = nodes_.find(path);
  if (spec == library.end() || self == nodes_.end()) return;
  self->second.strategy = to_string(spec->second.strategy);
  self->second.intensity = spec->second.intensity;
  self->second.period = spec->second.period;
  std::vector<std::string> order;
  for (const ChildSpec& c : spec->second.children) {
    const std::string child_path = path + "/" + c.id;
    if (!nodes_.count(child_path)) {
      MirrorNode n;
      n.path = child_path;
      n.name = c.id;
      n.supervisor = c.is_supervisor;
      nodes_[child_path] = n;
      if (c.is_supervisor) {
        // A new sub-supervisor: its own configured children, all down.
        nodes_.at(child_path).children.clear();
      }
    } else if (nodes_.at(child_path).supervisor != c.is_supervisor) {
      // Its kind changed (the reload restarts it as the other kind): what it
      // supervised goes; a new supervisor's children are added below, down.
      for (const std::string& grandchild :
           std::vector<std::string>(nodes_.at(child_path).children)) {
        erase_subtree(child_path + "/" + grandchild);
      }
      MirrorNode& n = nodes_.at(child_path);
      n.supervisor = c.is_supervisor;
      n.children.clear();
      n.strategy.clear();
      n.intensity = 0;
      n.period = Duration{0};
      n.paused = false;
      n.restart_times.clear();
    }
    nodes_.at(child_path).restart = to_string(c.restart);
    order.push_back(c.id);
  }
  for (const std::string& existing : nodes_.at(path).children) {
    if (std::find(order.begin(), order.end(), existing) == order.end()) order.push_back(existing);
  }
  nodes_.at(path).children = order;
  for (const ChildSpec& c : spec->second.children) {
    if (c.is_supervisor) reconcile_node(library, c.id, path + "/" + c.id);
  }
}

const MirrorNode* TreeMirror::find(const std::string& path) const {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<std::string> TreeMirror::match(const std::string& query) const {
  if (nodes_.count(query)) return {query};
  std::vector<std::string> out;
  for (const auto& [path, node] : nodes_) {
    if (path.size() > query.size() && path.ends_with(query) &&
        path[path.size() - query.size() - 1] == '/') {
      out.push_back(path);
    }
  }
  return out;
}

std::vector<std::string> TreeMirror::supervisors_under(const std::string& path) const {
  std::vector<std::string> out;
  const MirrorNode* n = find(path);
  if (n == nullptr || !n->supervisor) return out;
  out.push_back(path);
  for (const std::string& child : n->children) {
    for (auto& p : supervisors_under(path + "/" + child)) out.push_back(p);
  }
  return out;
}

std::optional<std::string> TreeMirror::path_of_pid(int pid) const {
  auto it = pids_.find(pid);
  if (it == pids_.end()) return std::nullopt;
  return it->second;
}

void TreeMirror::mark_subtree_down(const std::string& path, std::vector<std::string>* lost) {
  auto it = nodes_.find(path);
  if (it == nodes_.end()) return;
  for (const std::string& child : std::vector<std::string>(it->second.children)) {
    const std::string child_path = path + "/" + child;
    const MirrorNode* c = find(child_path);
    if (c == nullptr) continue;
    if (c->added) {
      lost->push_back(child_path);
      continue;
    }
    MirrorNode& m = nodes_.at(child_path);
    m.pid = 0;  // its pid stays in pids_ until the orphan is reaped
    m.state = "down";
    m.frozen = false;
    if (m.supervisor) {
      m.paused = false;
      m.restart_times.clear();
      mark_subtree_down(child_path, lost);
    }
  }
}

void TreeMirror::erase_subtree(const std::string& path) {
  auto it = nodes_.find(path);
  if (it == nodes_.end()) return;
  for (const std::string& child : std::vector<std::string>(it->second.children)) {
    erase_subtree(path + "/" + child);
  }
  const std::string parent = parent_of(path);
  if (auto p = nodes_.find(parent); p != nodes_.end())
    std::erase(p->second.children, it->second.name);
  nodes_.erase(path);
}

std::vector<nlohmann::ordered_json> TreeMirror::apply(const nlohmann::ordered_json& record,
                                                      TimePoint now) {
  std::vector<nlohmann::ordered_json> extra;
  if (!record.is_object()) return extra;
  const std::string sup = record.value("sup", "");
  const std::string child = record.value("child", "");
  const std::string event = record.value("event", "");
  const std::string path = child.empty() ? sup : sup + "/" + child;

  if (event == "paused" || event == "resumed") {
    if (auto it = nodes_.find(sup); it != nodes_.end()) it->second.paused = event == "paused";
    return extra;
  }
  if (event == "gave_up" || event == "auto_shutdown") {
    if (auto it = nodes_.find(sup); it != nodes_.end()) it->second.state = "stopping";
    return extra;
  }
  if (child.empty()) return extra;
  if (event == "added") {
    if (auto known = nodes_.find(path); known != nodes_.end()) {
      known->second.added = true;  // registered beforehand (a sandbox)
    } else if (nodes_.count(sup) != 0) {
      MirrorNode n;
      n.path = path;
      n.name = child;
      n.supervisor = record.value("kind", "") == "supervisor";
      n.restart = record.value("restart", "permanent");
      n.added = true;
      nodes_.at(sup).children.push_back(child);
      nodes_[path] = n;
    }
    return extra;
  }
  auto it = nodes_.find(path);
  if (it == nodes_.end()) return extra;
  MirrorNode& n = it->second;
  if (event == "removed") {
    erase_subtree(path);
    return extra;
  }
  if (event == "restart_scheduled") {
    n.state = "restarting";
    n.restart_at = now + Duration{record.value("delay_ms", std::int64_t{0})};
    return extra;
  }
  if (event == "restart_cancelled") {
    if (n.state == "restarting")
      n.state = record.value("reason", "") == "manual stop" ? "stopped" : "down";
    return extra;
  }
  if (event == "frozen" || event == "thawed") {
    n.frozen = event == "frozen";
    return extra;
  }
  if (event == "started" || event == "restarted" || event == "manual_restart") {
    const int pid = record.value("new_pid", record.value("pid", 0));
    n.pid = pid;
    n.state = record.value("awaiting", "") == "ready" ? "starting" : "running";
    n.frozen = false;
    n.started_at = now;
    if (event == "restarted") n.restarts++;
    if (pid != 0) pids_[pid] = path;
    return extra;
  }
  if (event == "ready") {
    if (n.state == "starting") n.state = "running";
    return extra;
  }
  if (event == "exited" || event == "stopped" || event == "start_failed") {
    if (const int pid = record.value("pid", 0); pid != 0) pids_.erase(pid);
    n.pid = 0;
    n.frozen = false;
    n.state =
        event == "stopped" && record.value("reason", "") == "manual stop" ? "stopped" : "down";
    if (event != "start_failed") n.last_exit = record.value("reason", "");
    if (n.supervisor) {
      n.paused = false;
      n.restart_times.clear();
      std::vector<std::string> lost;
      mark_subtree_down(path, &lost);
      for (const std::string& p : lost) {
        extra.push_back({{"sup", parent_of(p)},
                         {"child", p.substr(p.rfind('/') + 1)},
                         {"event", "removed"},
                         {"reason", "lost: its supervisor " + path + " went down"}});
      }
    }
  }
  return extra;
}

void TreeMirror::apply_state(const nlohmann::json& state) {
  auto it = nodes_.find(state.value("path", ""));
  if (it == nodes_.end()) return;
  it->second.paused = state.value("paused", false);
  // Only the workers that had a STATUS= text or have one now are touched: a
  // state message comes with every restart, and a supervisor may have 10,000
  // children.
  const nlohmann::json texts = state.value("child_status", nlohmann::json::object());
  std::vector<std::string>& texted = texted_children_[it->first];
  auto worker = [&](const std::string& child) -> MirrorNode* {
    auto c = nodes_.find(it->first + "/" + child);
    return c == nodes_.end() || c->second.supervisor ? nullptr : &c->second;
  };
  for (const std::string& child : texted) {
    if (MirrorNode* w = worker(child)) w->status_text.clear();
  }
  texted.clear();
  for (const auto& [child, text] : texts.items()) {
    MirrorNode* w = worker(child);
    if (w == nullptr || !text.is_string()) continue;
    w->status_text = text.get<std::string>();
    if (!w->status_text.empty()) texted.push_back(child);
  }
  if (texted.empty()) texted_children_.erase(it->first);
  it->second.restart_times.clear();
  for (const auto& ns : state.value("restart_times_ns", nlohmann::json::array())) {
    it->second.restart_times.push_back(TimePoint(std::chrono::duration_cast<Clock::duration>(
        std::chrono::nanoseconds(ns.get<std::int64_t>()))));
  }
}

nlohmann::json TreeMirror::status(const std::string& path, TimePoint now) const {
  const MirrorNode* n = find(path);
  if (n == nullptr) return nullptr;
  nlohmann::json j{{"path", n->path},
                   {"name", n->name},
                   {"kind", n->supervisor ? "supervisor" : "worker"},
                   {"pid", n->pid},
                   {"state", n->state},
                   {"uptime_ms", n->state == "running" ? ms_between(n->started_at, now) : 0},
                   {"restarts", n->restarts},
                   {"restart", n->restart}};
  if (!n->last_exit.empty()) j["last_exit"] = n->last_exit;
  if (!n->status_text.empty()) j["status_text"] = n->status_text;
  if (n->added) j["added"] = true;
  if (n->frozen) j["frozen"] = true;
  if (n->state == "restarting") j["restart_in_ms"] = std::max(0LL, ms_between(now, n->restart_at));
  if (n->supervisor) {
    int used = 0;
    for (TimePoint t : n->restart_times) used += t >= now - n->period ? 1 : 0;
    j["strategy"] = n->strategy;
    j["intensity"] = n->intensity;
    j["period_ms"] = n->period.count();
    j["restarts_in_period"] = used;
    j["paused"] = n->paused;
    nlohmann::json children = nlohmann::json::array();
    for (const std::string& c : n->children) children.push_back(status(path + "/" + c, now));
    j["children"] = std::move(children);
  }
  return j;
}

}  // namespace otpsup
