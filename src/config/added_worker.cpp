#include "config/added_worker.h"

#include <toml++/toml.h>

#include "config/diagnostics.h"
#include "config/toml_text.h"
#include "config/worker_section.h"

namespace otpsup::config {

namespace {

constexpr std::string_view kSource = "--set";

}  // namespace

AddedWorker read_added_worker(const std::string& id, const std::vector<std::string>& command,
                              const std::vector<std::string>& settings, const ConfigContext& ctx) {
  AddedWorker out;
  Diagnostics diag;
  const std::string source(kSource);
  // One line per setting, so that an error's line is the setting's number.
  std::string text;
  for (std::size_t i = 0; i < settings.size(); ++i) {
    if (settings[i].find_first_of("\r\n") != std::string::npos) {
      diag.error({static_cast<int>(i + 1), 1}, "a setting is one line: KEY = VALUE");
      out.errors = diag.sorted(source);
      return out;
    }
    text += settings[i] + "\n";
  }
  std::optional<toml::table> parsed =
      parse_toml_text(text, source, diag,
                      "each --set is KEY = VALUE as in a [worker] section; strings are quoted: "
                      "user = \"nobody\"");
  if (!parsed) {
    out.errors = diag.sorted(source);
    return out;
  }
  toml::table worker = std::move(*parsed);
  if (const toml::node* given = worker.get("command")) {
    diag.error(pos_of(*given), "command: give the program and its arguments after '--'");
    out.errors = diag.sorted(source);
    return out;
  }
  toml::array argv;
  for (const std::string& arg : command) argv.push_back(arg);
  worker.insert("command", std::move(argv));
  WorkerDraft draft = read_worker_section(id, {}, worker, ctx, diag);
  out.errors = diag.sorted(source);
  out.spec = std::move(draft.spec);
  return out;
}

}  // namespace otpsup::config
