// Sandboxes: the original teaching tool's sandbox manager, done with real
// processes. A sandbox is a new sub-supervisor, a copy of a configured
// subtree (default template demo_tracking) with its own strategy and
// intensity, added at run time under a dynamic supervisor. It is supervised
// like any child: kill -9 of its node is a crash its dynamic supervisor
// handles; it is lost when that supervisor restarts.
#include "config/schema.h"
#include "daemon/daemon.h"
#include "otpsup/duration.h"
#include "otpsup/protocol.h"
#include "otpsup/spec_json.h"

namespace otpsup {

namespace {

nlohmann::json ok_reply(const nlohmann::json& id, nlohmann::json result) {
  return {{"id", id}, {"ok", true}, {"result", std::move(result)}};
}

}  // namespace

void Daemon::handle_sandbox(ClientId client, const nlohmann::json& req) {
  const nlohmann::json id = req.value("id", nlohmann::json(nullptr));
  const std::string action = req.value("action", "");
  const std::string name = req.value("sandbox_id", "");
  auto error = [&](std::string_view code, const std::string& message) {
    server_->send_error(client, id, code, message);
  };
  if (action == "list") {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [sid, box] : sandboxes_) {
      nlohmann::json entry = mirror_.status(box.path, Clock::now());
      if (entry.is_null()) continue;
      entry["id"] = sid;
      entry["template"] = box.template_name;
      entry.erase("children");
      list.push_back(entry);
    }
    server_->send(client, ok_reply(id, {{"sandboxes", list}}));
    return;
  }
  if (name.empty()) return error(protocol::kBadRequest, "missing \"sandbox_id\"");
  auto box = sandboxes_.find(name);
  if (action == "create") {
    if (box != sandboxes_.end()) {
      return error("already_exists",
                   "sandbox '" + name + "' already exists at " + box->second.path);
    }
    create_sandbox(client, id, name, req, 0);
    return;
  }
  if (box == sandboxes_.end()) return error(protocol::kNotFound, "no sandbox '" + name + "'");
  if (action == "info") {
    nlohmann::json info = mirror_.status(box->second.path, Clock::now());
    info["id"] = name;
    info["template"] = box->second.template_name;
    info["options"] = box->second.options;
    server_->send(client, ok_reply(id, std::move(info)));
  } else if (action == "destroy") {
    const std::string path = box->second.path;
    send_command(client, id,
                 {{"owner", path.substr(0, path.rfind('/'))}, {"kind", "remove"}, {"child", name}},
                 {{"path", path}});
  } else if (action == "restart") {
    // Same options unless new ones are given; new pids; restart count + 1.
    nlohmann::json options = box->second.options;
    for (const char* key : {"template", "strategy", "intensity", "period"}) {
      if (req.contains(key)) options[key] = req[key];
    }
    const MirrorNode* node = mirror_.find(box->second.path);
    const int restarts = node != nullptr ? node->restarts + 1 : 1;
    const std::string path = box->second.path;
    // Remove, and once it is gone, create it again.
    const CommandToken token = ++next_token_;
    PendingReply then{client, id, nullptr, 0, {}};
    then.then = [this, client, id, name, options, restarts](const nlohmann::json& reply) {
      if (!reply.value("ok", false)) {
        server_->send(client, {{"id", id}, {"ok", false}, {"error", reply.at("error")}});
        return;
      }
      create_sandbox(client, id, name, options, restarts);
    };
    pending_[token] = std::move(then);
    root_->route({{"owner", path.substr(0, path.rfind('/'))},
                  {"kind", "remove"},
                  {"child", name},
                  {"token", token}});
  } else {
    error(protocol::kBadRequest,
          "unknown sandbox action '" + action + "' (create, destroy, restart, list, info)");
  }
}

void Daemon::create_sandbox(ClientId client, const nlohmann::json& id, const std::string& name,
                            const nlohmann::json& options, int restarts) {
  auto error = [&](std::string_view code, const std::string& message) {
    server_->send_error(client, id, code, message);
  };
  const auto& library = options_.config.supervisors;
  if (library.count(name) != 0) {
    return error(protocol::kBadRequest,
                 "'" + name + "' names a configured supervisor; choose another sandbox id");
  }
  if (!config::is_valid_name(name)) {
    return error(protocol::kBadRequest, "bad sandbox id '" + name + "'");
  }
  const std::string template_name = options.value("template", "demo_tracking");
  auto tmpl = library.find(template_name);
  if (tmpl == library.end()) {
    return error(protocol::kNotFound, "no supervisor '" + template_name + "' to copy");
  }
  // Where: --under, else the one dynamic supervisor of the tree.
  std::string under = options.value("under", "");
  if (under.empty()) {
    std::vector<std::string> dynamic;
    for (const std::string& p : mirror_.supervisors_under("root")) {
      if (const MirrorNode* n = mirror_.find(p); n && n->strategy == "dynamic")
        dynamic.push_back(p);
    }
    if (dynamic.size() != 1) {
      return error(protocol::kBadRequest,
                   dynamic.empty() ? "no dynamic supervisor in the tree to hold sandboxes"
                                   : "several dynamic supervisors: choose one with --under");
    }
    under = dynamic[0];
  } else {
    auto matches = mirror_.match(under);
    if (matches.size() != 1) return error(protocol::kNotFound, "no supervisor '" + under + "'");
    under = matches[0];
  }
  SupervisorSpec spec = tmpl->second;
  spec.name = name;
  try {
    if (options.contains("strategy")) {
      spec.strategy = strategy_from_string(options["strategy"].get<std::string>());
    }
    if (options.contains("intensity")) spec.intensity = options["intensity"].get<int>();
    if (options.contains("period")) {
      auto period = parse_duration(options["period"].get<std::string>());
      if (!period || period->count() <= 0) throw std::invalid_argument("bad period");
      spec.period = *period;
    }
  } catch (const std::exception& e) {
    return error(protocol::kBadRequest, e.what());
  }
  if (spec.intensity < 0) return error(protocol::kBadRequest, "intensity must be >= 0");
  if (spec.strategy == Strategy::dynamic) {
    return error(protocol::kBadRequest, "a sandbox copies a static subtree; use another strategy");
  }
  ChildSpec child;
  child.id = name;
  child.is_supervisor = true;
  child.restart = RestartType::permanent;
  child.shutdown = {Shutdown::Kind::infinity, Duration{0}};

  const std::string path = under + "/" + name;
  nlohmann::json kept{{"template", template_name}};
  for (const char* key : {"strategy", "intensity", "period", "under"}) {
    if (options.contains(key)) kept[key] = options[key];
  }
  sandboxes_[name] = {path, template_name, kept};
  mirror_.register_added_supervisor(under, spec, library);
  mirror_.set_restarts(path, restarts);
  send_command(client, id,
               {{"owner", under},
                {"kind", "add"},
                {"child", name},
                {"spec", to_json(child)},
                {"supervisor_spec", to_json(spec)}},
               {{"path", path}, {"sandbox", name}, {"restarts", restarts}});
}

}  // namespace otpsup
