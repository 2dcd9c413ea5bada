#include "tree_linker.h"

#include <algorithm>
#include <set>
#include <utility>

#include "did_you_mean.h"
#include "schema.h"

namespace otpsup::config {
namespace {

constexpr std::string_view kRoot = "root";

std::string at(SourcePos pos) {
  return std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

bool before(SourcePos a, SourcePos b) {
  return std::pair{a.line, a.column} < std::pair{b.line, b.column};
}

class Linker {
 public:
  Linker(const std::vector<SupervisorDraft>& sups, const std::vector<WorkerDraft>& workers,
         Diagnostics& diag)
      : sups_(sups), workers_(workers), diag_(diag) {}

  LinkedTree run() {
    index_names();
    check_root();
    find_cycles();
    for (std::size_t s = 0; s < sups_.size(); ++s) link_children(s);
    return std::move(tree_);
  }

 private:
  // Builds the name indexes; a name defined both as a worker and as a
  // supervisor is reported at the later definition, and the earlier wins.
  void index_names() {
    for (std::size_t i = 0; i < sups_.size(); ++i) sup_index_.emplace(sups_[i].spec.name, i);
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      const WorkerDraft& worker = workers_[i];
      auto sup = sup_index_.find(worker.spec.id);
      if (sup == sup_index_.end()) {
        worker_index_.emplace(worker.spec.id, i);
        continue;
      }
      const SupervisorDraft& other = sups_[sup->second];
      const std::string& name = worker.spec.id;
      const bool worker_later = before(other.name_pos, worker.name_pos);
      const SourcePos later = worker_later ? worker.name_pos : other.name_pos;
      const SourcePos earlier = worker_later ? other.name_pos : worker.name_pos;
      diag_.error(later,
                  "'" + name + "' is defined both as " +
                      section_label(SectionKind::supervisor, name) + " and as " +
                      section_label(SectionKind::worker, name) + " (first at " + at(earlier) + ")",
                  "names are unique in the file; rename one of them");
      if (worker_later) continue;
      sup_index_.erase(sup);
      worker_index_.emplace(name, i);
    }
    for (const auto& [name, i] : sup_index_) {
      tree_.supervisors.emplace(name, sups_[i].spec);
      tree_.child_specs.emplace(name, sups_[i].as_child);
    }
    for (const auto& [name, i] : worker_index_) tree_.child_specs.emplace(name, workers_[i].spec);
    for (const auto& [name, i] : sup_index_) all_names_.push_back(name);
    for (const auto& [name, i] : worker_index_) all_names_.push_back(name);
  }

  void check_root() {
    if (sup_index_.count(std::string(kRoot)) != 0) return;
    std::string hint = "add a [supervisor.root] section listing the top-level children";
    if (worker_index_.count(std::string(kRoot)) != 0) {
      hint = "'root' is defined as a worker; the root must be a supervisor";
    }
    diag_.error(SourcePos{},
                "no [supervisor.root] section: the root supervisor must be named 'root'", hint);
  }

  void link_children(std::size_t s) {
    const SupervisorDraft& sup = sups_[s];
    auto tree_sup = tree_.supervisors.find(sup.spec.name);
    // A supervisor that lost its name to an earlier worker is still checked.
    SupervisorSpec* out = tree_sup != tree_.supervisors.end() && sup_index_[sup.spec.name] == s
                              ? &tree_sup->second
                              : nullptr;
    std::map<std::string, SourcePos> seen;  // children of this supervisor so far
    for (const ChildRef& child : sup.children) {
      if (auto first = seen.find(child.name); first != seen.end()) {
        diag_.error(child.pos,
                    "child '" + child.name + "' is listed twice in " +
                        section_label(SectionKind::supervisor, sup.spec.name) + " (first at " +
                        at(first->second) + ")",
                    "a supervisor runs each child once; define another worker to run it twice");
        continue;
      }
      seen.emplace(child.name, child.pos);

      auto as_sup = sup_index_.find(child.name);
      auto as_worker = worker_index_.find(child.name);
      if (as_sup == sup_index_.end() && as_worker == worker_index_.end()) {
        std::string hint = did_you_mean(child.name, all_names_);
        if (hint.empty()) {
          hint = "define it as " + section_label(SectionKind::worker, child.name) + " or " +
                 section_label(SectionKind::supervisor, child.name);
        }
        diag_.error(child.pos,
                    "child '" + child.name + "' of " +
                        section_label(SectionKind::supervisor, sup.spec.name) + " is not defined",
                    std::move(hint));
        continue;
      }
      if (child.name == kRoot && as_sup != sup_index_.end()) {
        diag_.error(child.pos, "'root' is the root supervisor and cannot be a child",
                    "remove it from " + section_label(SectionKind::supervisor, sup.spec.name) +
                        " children");
        continue;
      }
      // An entry that closes a cycle was reported as such.
      if (cycle_entries_.count({child.pos.line, child.pos.column}) != 0) continue;
      if (auto other = listed_.find(child.name); other != listed_.end()) {
        diag_.error(child.pos,
                    "child '" + child.name + "' is already a child of " +
                        section_label(SectionKind::supervisor, other->second.first) + " (at " +
                        at(other->second.second) + "); a child has exactly one supervisor",
                    "define another worker or supervisor with a different name");
        continue;
      }
      listed_.emplace(child.name, std::pair{sup.spec.name, child.pos});
      check_significant(sup, as_sup != sup_index_.end()
                                 ? sups_[as_sup->second].significant_pos
                                 : workers_[as_worker->second].significant_pos);

      if (as_sup != sup_index_.end()) {
        if (out != nullptr) out->children.push_back(sups_[as_sup->second].as_child);
      } else if (out != nullptr) {
        out->children.push_back(workers_[as_worker->second].spec);
      }
    }
  }

  // OTP rejects a significant child under a supervisor whose auto_shutdown
  // is never (it could never take effect).
  void check_significant(const SupervisorDraft& sup, const std::optional<SourcePos>& significant) {
    if (!significant || sup.spec.auto_shutdown != AutoShutdown::never) return;
    diag_.error(*significant,
                "significant: the child's supervisor " +
                    section_label(SectionKind::supervisor, sup.spec.name) +
                    " has auto_shutdown = \"never\"",
                "set auto_shutdown = \"any_significant\" or \"all_significant\" in " +
                    section_label(SectionKind::supervisor, sup.spec.name) +
                    ", or remove significant");
  }

  // Depth-first search over "supervisor lists supervisor" edges, every
  // listing counted (also the ones that are errors for another reason: a
  // second parent is the usual way to write a cycle). Each edge that leads
  // back into the current path closes a cycle, reported at that entry as the
  // path from the entered supervisor round to itself. Searches start from
  // the supervisors in file order, so the root's subtree comes first.
  void find_cycles() {
    std::vector<std::vector<std::pair<std::size_t, SourcePos>>> edges(sups_.size());
    for (std::size_t s = 0; s < sups_.size(); ++s) {
      std::set<std::string> seen;
      for (const ChildRef& child : sups_[s].children) {
        if (!seen.insert(child.name).second || child.name == kRoot) continue;
        auto target = sup_index_.find(child.name);
        if (target != sup_index_.end()) edges[s].emplace_back(target->second, child.pos);
      }
    }
    std::vector<std::size_t> order(sups_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return before(sups_[a].name_pos, sups_[b].name_pos);
    });

    enum class Mark { unvisited, on_path, done };
    std::vector<Mark> mark(sups_.size(), Mark::unvisited);
    struct Frame {
      std::size_t node;
      std::size_t next_edge;
    };
    for (std::size_t start : order) {
      if (mark[start] != Mark::unvisited) continue;
      std::vector<Frame> path{{start, 0}};
      mark[start] = Mark::on_path;
      while (!path.empty()) {
        Frame& top = path.back();
        if (top.next_edge == edges[top.node].size()) {
          mark[top.node] = Mark::done;
          path.pop_back();
          continue;
        }
        const auto [target, pos] = edges[top.node][top.next_edge++];
        if (mark[target] == Mark::unvisited) {
          mark[target] = Mark::on_path;
          path.push_back(Frame{target, 0});
        } else if (mark[target] == Mark::on_path) {
          std::string text;
          bool in_cycle = false;
          for (const Frame& f : path) {
            in_cycle = in_cycle || f.node == target;
            if (in_cycle) text += sups_[f.node].spec.name + " -> ";
          }
          text += sups_[target].spec.name;
          diag_.error(pos, "supervisors form a cycle: " + text,
                      "a supervisor cannot contain itself, directly or through its children");
          cycle_entries_.insert({pos.line, pos.column});
        }
      }
    }
  }

  const std::vector<SupervisorDraft>& sups_;
  const std::vector<WorkerDraft>& workers_;
  Diagnostics& diag_;
  std::set<std::pair<int, int>> cycle_entries_;      // (line, column) of entries closing a cycle
  std::map<std::string, std::size_t> sup_index_;     // name -> supervisor draft
  std::map<std::string, std::size_t> worker_index_;  // name -> worker draft
  std::vector<std::string_view> all_names_;          // for suggestions
  std::map<std::string, std::pair<std::string, SourcePos>> listed_;  // child -> (parent, pos)
  LinkedTree tree_;
};

}  // namespace

LinkedTree link_tree(const std::vector<SupervisorDraft>& supervisors,
                     const std::vector<WorkerDraft>& workers, Diagnostics& diag) {
  return Linker(supervisors, workers, diag).run();
}

}  // namespace otpsup::config
