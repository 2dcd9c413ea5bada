// Collects the errors found while loading one config file.
//
// Loading never stops at the first problem: every reader reports into one
// Diagnostics and carries on with what it could read. `sorted()` returns the
// errors in file order (line, then column; errors without a position last,
// in the order they were reported).
#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "otpsup/config.h"
#include "otpsup/spec.h"

namespace otpsup::config {

// Where toml++ says a node or key begins (0:0 when it does not know).
SourcePos pos_of(const toml::source_region& region);
inline SourcePos pos_of(const toml::node& node) {
  return pos_of(node.source());
}
inline SourcePos pos_of(const toml::key& key) {
  return pos_of(key.source());
}

class Diagnostics {
 public:
  // Records an error at `pos` ({0, 0}: no position).
  void error(SourcePos pos, std::string message, std::string hint = {});

  bool empty() const { return errors_.empty(); }
  std::size_t size() const { return errors_.size(); }

  // All errors, each with `file` set, in file order.
  std::vector<ConfigError> sorted(const std::string& file) const;

 private:
  std::vector<ConfigError> errors_;
};

}  // namespace otpsup::config
