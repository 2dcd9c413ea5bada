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
    auto plan = plan_sandbox(name, req);
    if (auto* refusal = std::get_if<SandboxRefusal>(&plan)) {
      return error(refusal->code, refusal->message);
    }
    create_sandbox(client, id, std::get<SandboxPlan>(std::move(plan)), 0);
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
    // Every option is checked before the sandbox is touched: a refused
    // restart leaves it running as it was.
    nlohmann::json options = box->second.options;
    for (const char* key : {"template", "strategy", "intensity", "period", "under"}) {
      if (req.contains(key)) options[key] = req[key];
    }
    const std::string path = box->second.path;
    auto planned = plan_sandbox(name, options);
    if (auto* refusal = std::get_if<SandboxRefusal>(&planned)) {
      return error(refusal->code, refusal->message);
    }
    SandboxPlan plan = std::get<SandboxPlan>(std::move(planned));
    if (plan.under == path || plan.under.starts_with(path + "/")) {
      return error(protocol::kBadRequest, "'" + plan.under + "' is inside sandbox '" + name +
                                              "', which the restart removes first");
    }
    const MirrorNode* node = mirror_.find(path);
    const int restarts = node != nullptr ? node->restarts + 1 : 1;
    // Remove, and once it is gone, create it again.
    const CommandToken token = ++next_token_;
    PendingReply then{client, id, nullptr, 0, {}};
    then.then = [this, client, id, plan = std::move(plan), restarts](const nlohmann::json& reply) {
      if (!reply.value("ok", false)) {
        server_->send(client, {{"id", id}, {"ok", false}, {"error", reply.at("error")}});
        return;
      }
      create_sandbox(client, id, plan, restarts);
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

std::variant<Daemon::SandboxPlan, Daemon::SandboxRefusal> Daemon::plan_sandbox(
    const std::string& name, const nlohmann::json& options) const {
  auto refuse = [](std::string_view code, std::string message) {
    return SandboxRefusal{std::string(code), std::move(message)};
  };
  const auto& library = options_.config.supervisors;
  if (library.count(name) != 0) {
    return refuse(protocol::kBadRequest,
                  "'" + name + "' names a configured supervisor; choose another sandbox id");
  }
  if (!config::is_valid_name(name))
    return refuse(protocol::kBadRequest, "bad sandbox id '" + name + "'");
  SandboxPlan plan;
  plan.name = name;
  plan.template_name = options.value("template", "demo_tracking");
  auto tmpl = library.find(plan.template_name);
  if (tmpl == library.end()) {
    return refuse(protocol::kNotFound, "no supervisor '" + plan.template_name + "' to copy");
  }
  // Where: --under, else the one dynamic supervisor of the tree.
  const std::string under = options.value("under", "");
  if (under.empty()) {
    std::vector<std::string> dynamic;
    for (const std::string& p : mirror_.supervisors_under("root")) {
      if (const MirrorNode* n = mirror_.find(p); n && n->strategy == "dynamic")
        dynamic.push_back(p);
    }
    if (dynamic.size() != 1) {
      return refuse(protocol::kBadRequest,
                    dynamic.empty() ? "no dynamic supervisor in the tree to hold sandboxes"
                                    : "several dynamic supervisors: choose one with --under");
    }
    plan.under = dynamic[0];
  } else {
    auto matches = mirror_.match(under);
    if (matches.size() != 1) return refuse(protocol::kNotFound, "no supervisor '" + under + "'");
    plan.under = matches[0];
  }
  plan.spec = tmpl->second;
  plan.spec.name = name;
  try {
    if (options.contains("strategy")) {
      plan.spec.strategy = strategy_from_string(options["strategy"].get<std::string>());
    }
    if (options.contains("intensity")) plan.spec.intensity = options["intensity"].get<int>();
    if (options.contains("period")) {
      auto period = parse_duration(options["period"].get<std::string>());
      if (!period || period->count() <= 0) throw std::invalid_argument("bad period");
      plan.spec.period = *period;
    }
  } catch (const std::exception& e) {
    return refuse(protocol::kBadRequest, e.what());
  }
  if (plan.spec.intensity < 0) return refuse(protocol::kBadRequest, "intensity must be >= 0");
  if (plan.spec.strategy == Strategy::dynamic) {
    return refuse(protocol::kBadRequest, "a sandbox copies a static subtree; use another strategy");
  }
  plan.kept_options = {{"template", plan.template_name}};
  for (const char* key : {"strategy", "intensity", "period", "under"}) {
    if (options.contains(key)) plan.kept_options[key] = options[key];
  }
  return plan;
}

void Daemon::create_sandbox(ClientId client, const nlohmann::json& id, SandboxPlan plan,
                            int restarts) {
  ChildSpec child;
  child.id = plan.name;
  child.is_supervisor = true;
  child.restart = RestartType::permanent;
  child.shutdown = {Shutdown::Kind::infinity, Duration{0}};

  const std::string path = plan.under + "/" + plan.name;
  sandboxes_[plan.name] = {path, plan.template_name, plan.kept_options};
  mirror_.register_added_supervisor(plan.under, plan.spec, options_.config.supervisors);
  mirror_.set_restarts(path, restarts);
  send_command(client, id,
               {{"owner", plan.under},
                {"kind", "add"},
                {"child", plan.name},
                {"spec", to_json(child)},
                {"supervisor_spec", to_json(plan.spec)}},
               {{"path", path}, {"sandbox", plan.name}, {"restarts", restarts}});
}

}  // namespace otpsup
