// TreeMirror: the root's picture of the whole supervision tree.
//
// Built from the configuration, then kept up to date from the history
// records every supervisor sends up (started, ready, exited, restarted,
// stopped, added, removed, paused...) and from each supervisor's state
// messages (pause flag, restart-intensity window, workers' STATUS= texts).
// A start record with "awaiting":"ready" leaves the child `starting` until
// its "ready" record. `status`, path resolution and
// routing read it; nothing walks processes. Pure data: no system calls.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "otpsup/restart_intensity.h"
#include "otpsup/spec.h"

namespace otpsup {

struct MirrorNode {
  std::string path;
  std::string name;
  bool supervisor = false;
  std::string restart = "permanent";
  int pid = 0;
  std::string state = "down";  // running, starting, stopping, down, stopped, restarting
  std::string status_text;     // a worker's latest STATUS= (sd_notify)
  TimePoint started_at{};
  int restarts = 0;
  std::string last_exit;
  bool added = false;                 // added at run time: lost when its supervisor restarts
  bool frozen = false;                // `freeze`: SIGSTOPped until `thaw` or its exit
  TimePoint restart_at{};             // state "restarting": when restart_delay ends
  std::vector<std::string> children;  // names, start order (supervisors)
  // Supervisors only.
  std::string strategy;
  int intensity = 0;
  Duration period{0};
  bool paused = false;
  std::vector<TimePoint> restart_times;
};

class TreeMirror {
 public:
  // The static tree below `root` as configured; the root itself runs as pid
  // `root_pid` from `now`.
  void build(const std::map<std::string, SupervisorSpec>& library, int root_pid, TimePoint now);

  // Applies one history record. Returns the records the root must add
  // because of it: a sub-supervisor that went down lost the children added
  // to it at run time ("removed", reason "lost: ...").
  std::vector<nlohmann::ordered_json> apply(const nlohmann::ordered_json& record, TimePoint now);
  // Live reload: the configured structure becomes `library`'s. New nodes
  // appear (down until their records arrive), children take the new start
  // order; nodes that left stay until their "removed" record.
  void reconcile(const std::map<std::string, SupervisorSpec>& library);
  // A sub-supervisor about to be added at run time under `parent` (a
  // sandbox): its configured structure, all down, marked added.
  void register_added_supervisor(const std::string& parent, const SupervisorSpec& spec,
                                 const std::map<std::string, SupervisorSpec>& library);
  void set_restarts(const std::string& path, int restarts);
  // Drops a node and everything below it (an add that was refused).
  void forget(const std::string& path) { erase_subtree(path); }
  void apply_state(const nlohmann::json& state);

  const MirrorNode* find(const std::string& path) const;
  // Full paths whose last segments equal `query` ("counter1",
  // "demo_tracking/counter1"), or the exact path.
  std::vector<std::string> match(const std::string& query) const;
  // Supervisors at or below `path`, parents first.
  std::vector<std::string> supervisors_under(const std::string& path) const;
  // The worker or supervisor that ran as `pid` (kept after its supervisor
  // died, so the orphan can be named when the root reaps it).
  std::optional<std::string> path_of_pid(int pid) const;
  void forget_pid(int pid) { pids_.erase(pid); }

  nlohmann::json status(const std::string& path, TimePoint now) const;

 private:
  void add_node(const std::string& parent, const std::string& name, bool supervisor,
                const std::map<std::string, SupervisorSpec>& library, const ChildSpec* spec);
  void mark_subtree_down(const std::string& path, std::vector<std::string>* lost);
  void erase_subtree(const std::string& path);
  void reconcile_node(const std::map<std::string, SupervisorSpec>& library, const std::string& name,
                      const std::string& path);

  std::map<std::string, MirrorNode> nodes_;
  std::unordered_map<int, std::string> pids_;
  // Supervisor path -> its workers whose status_text apply_state set.
  std::unordered_map<std::string, std::vector<std::string>> texted_children_;
};

}  // namespace otpsup
