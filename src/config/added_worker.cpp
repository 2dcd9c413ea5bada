#include "config/added_worker.h"

#include <toml++/toml.h>

#include "config/diagnostics.h"
#include "config/worker_section.h"

namespace otpsup::config {

namespace {

constexpr const char* kSource = "--set";

}  // namespace

AddedWorker read_added_worker(const std::string& id, const std::vector<std::string>& command,
                              const std::vector<std::string>& settings, const ConfigContext& ctx) {
  AddedWorker out;
  Diagnostics diag;
  // One line per setting, so that an error's line is the setting's number.
  std::string text;
  for (std::size_t i = 0; i < settings.size(); ++i) {
    if (settings[i].find_first_of("\r\n") != std::string::npos) {
      diag.error({static_cast<int>(i + 1), 1}, "a setting is one line: KEY = VALUE");
      out.errors = diag.sorted(kSource);
      return out;
    }
    text += settings[i] + "\n";
  }
  toml::table worker;
#if TOML_EXCEPTIONS
  try {
    worker = toml::parse(text, std::string_view(kSource));
  } catch (const toml::parse_error& e) {
    diag.error(pos_of(e.source()), "TOML syntax error: " + std::string(e.description()),
               "each --set is KEY = VALUE as in a [worker] section; strings are quoted: "
               "user = \"nobody\"");
    out.errors = diag.sorted(kSource);
    return out;
  }
#else
  toml::parse_result parsed = toml::parse(text, std::string_view(kSource));
  if (!parsed) {
    diag.error(pos_of(parsed.error().source()),
               "TOML syntax error: " + std::string(parsed.error().description()),
               "each --set is KEY = VALUE as in a [worker] section; strings are quoted: "
               "user = \"nobody\"");
    out.errors = diag.sorted(kSource);
    return out;
  }
  worker = std::move(parsed).table();
#endif
  if (const toml::node* given = worker.get("command")) {
    diag.error(pos_of(*given), "command: give the program and its arguments after '--'");
    out.errors = diag.sorted(kSource);
    return out;
  }
  toml::array argv;
  for (const std::string& arg : command) argv.push_back(arg);
  worker.insert("command", std::move(argv));
  WorkerDraft draft = read_worker_section(id, {}, worker, ctx, diag);
  out.errors = diag.sorted(kSource);
  out.spec = std::move(draft.spec);
  return out;
}

}  // namespace otpsup::config
