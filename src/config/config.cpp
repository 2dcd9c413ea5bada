// Loading otpsup.toml: parse with toml++, read each section, link the tree.
// See otpsup.toml(5) for the format and config.h for the contract.
#include "otpsup/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <toml++/toml.h>

#include "daemon_section.h"
#include "diagnostics.h"
#include "did_you_mean.h"
#include "schema.h"
#include "supervisor_section.h"
#include "toml_text.h"
#include "tree_linker.h"
#include "value_readers.h"
#include "worker_section.h"

namespace otpsup {
namespace {

using config::Diagnostics;
using config::pos_of;

// A named section ([supervisor.NAME] or [worker.NAME]) as found in the file.
struct NamedSection {
  std::string name;
  SourcePos name_pos;
  const toml::node* node;
};

// The NAME -> table entries under a top-level "supervisor" or "worker"
// table, in file order (toml++ iterates tables in key order). Invalid names
// are reported and left out.
std::vector<NamedSection> named_sections(const toml::node& group, std::string_view kind,
                                         Diagnostics& diag) {
  std::vector<NamedSection> out;
  const auto* table = group.as_table();
  if (table == nullptr) {
    diag.error(pos_of(group), std::string(kind) + ": expected a table of [" + std::string(kind) +
                                  ".NAME] sections, found " +
                                  std::string(config::type_phrase(group)));
    return out;
  }
  for (auto&& [key, value] : *table) {
    std::string name(key.str());
    if (!config::is_valid_name(name)) {
      diag.error(pos_of(key),
                 "invalid " + std::string(kind) + " name " + config::quote_value(name) +
                     ": a name is made of letters, digits, '_', '.' and '-' (and is not '.' "
                     "or '..')");
      continue;
    }
    out.push_back(NamedSection{std::move(name), pos_of(key), &value});
  }
  std::stable_sort(out.begin(), out.end(), [](const NamedSection& a, const NamedSection& b) {
    return std::pair{a.name_pos.line, a.name_pos.column} <
           std::pair{b.name_pos.line, b.name_pos.column};
  });
  return out;
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string text = file;
  if (line > 0) text += ":" + std::to_string(line) + ":" + std::to_string(column);
  text += ": " + message;
  if (!hint.empty()) text += " (" + hint + ")";
  return text;
}

ConfigLoad load_config_text(std::string_view text, const std::string& source_name,
                            const ConfigContext& ctx) {
  ConfigLoad result;
  Diagnostics diag;

  std::optional<toml::table> parsed = config::parse_toml_text(text, source_name, diag);
  if (!parsed) {
    result.errors = diag.sorted(source_name);
    return result;
  }
  toml::table doc = std::move(*parsed);

  Config config;
  config.source = source_name;
  std::vector<config::SupervisorDraft> supervisors;
  std::vector<config::WorkerDraft> workers;
  for (auto&& [key, value] : doc) {
    const std::string_view name = key.str();
    if (name == "daemon") {
      config.daemon = config::read_daemon_section(value, diag);
    } else if (name == "supervisor") {
      for (const NamedSection& s : named_sections(value, name, diag)) {
        supervisors.push_back(config::read_supervisor_section(s.name, s.name_pos, *s.node, diag));
      }
    } else if (name == "worker") {
      for (const NamedSection& s : named_sections(value, name, diag)) {
        workers.push_back(config::read_worker_section(s.name, s.name_pos, *s.node, ctx, diag));
      }
    } else {
      const std::string what = value.is_table() ? "table" : "key";
      diag.error(pos_of(key),
                 "unknown top-level " + what + " '" + std::string(name) +
                     "'; expected [daemon], [supervisor.NAME] or [worker.NAME]",
                 config::did_you_mean(name, config::kTopLevelTables));
    }
  }

  config::LinkedTree tree = config::link_tree(supervisors, workers, diag);
  if (!diag.empty()) {
    result.errors = diag.sorted(source_name);
    return result;
  }
  config.supervisors = std::move(tree.supervisors);
  config.child_specs = std::move(tree.child_specs);
  result.config = std::move(config);
  return result;
}

ConfigLoad load_config_file(const std::string& path, const ConfigContext& ctx) {
  auto failed = [&](std::string what, int err) {
    ConfigLoad result;
    result.errors.push_back(ConfigError{path, 0, 0, what + ": " + std::strerror(err), {}});
    return result;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failed("cannot open the file", errno);
  std::string content;
  struct stat st {};
  int err = 0;
  if (::fstat(fd, &st) != 0) {
    err = errno;
  } else if (S_ISDIR(st.st_mode)) {
    err = EISDIR;
  } else {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        content.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0) {
        break;
      } else if (errno != EINTR) {
        err = errno;
        break;
      }
    }
  }
  ::close(fd);
  if (err != 0) return failed("cannot read the file", err);
  return load_config_text(content, path, ctx);
}

}  // namespace otpsup
