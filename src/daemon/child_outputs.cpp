#include "daemon/child_outputs.h"

namespace otpsup {

nlohmann::json to_json(const OutputLogSettings& s) {
  return {{"dir", s.dir}, {"max_size", s.max_size}, {"keep", s.keep}, {"echo", s.echo}};
}

OutputLogSettings output_log_settings_from_json(const nlohmann::json& j) {
  OutputLogSettings s;
  s.dir = j.value("dir", "");
  s.max_size = j.value("max_size", s.max_size);
  s.keep = j.value("keep", s.keep);
  s.echo = j.value("echo", false);
  return s;
}

std::string child_log_file(const std::string& log_dir, const std::string& child_path) {
  return log_dir + "/" + child_path + ".log";
}

ChildOutputs::ChildOutputs(uv_loop_t* loop, OutputLogSettings settings)
    : loop_(loop), settings_(std::move(settings)) {}

ChildOutputs::~ChildOutputs() {
  close();
}

Status ChildOutputs::prepare(const ChildSpec& spec, const std::string& child_path, ChildIo* io) {
  pending_.reset();
  auto target = [&](OutputTarget t) {
    if (t == OutputTarget::null) return ChildIo::kDevNull;
    return ChildIo::kInherit;
  };
  io->out = target(spec.stdout_target);
  io->err = target(spec.stderr_target);
  const bool logs = !settings_.dir.empty() && (spec.stdout_target == OutputTarget::log ||
                                               spec.stderr_target == OutputTarget::log);
  if (!logs) return Status::ok_status();
  LogOptions options;
  options.file = child_log_file(settings_.dir, child_path);
  options.max_size = settings_.max_size;
  options.keep = settings_.keep;
  options.echo = settings_.echo;
  options.echo_prefix = child_path;
  std::string error;
  if (!readers_) readers_ = ReadableSet::create(loop_, &error);
  if (!readers_) return Status::error("output pipes: " + error);
  pending_ = ChildLog::open(readers_.get(), std::move(options), &error);
  if (!pending_) return Status::error("output pipes: " + error);
  if (spec.stdout_target == OutputTarget::log) io->out = pending_->child_stdout_fd();
  if (spec.stderr_target == OutputTarget::log) io->err = pending_->child_stderr_fd();
  return Status::ok_status();
}

void ChildOutputs::started(int pid) {
  if (!pending_) return;
  pending_->started();
  logs_[pid] = std::move(pending_);
}

void ChildOutputs::abandoned() {
  pending_.reset();
}

void ChildOutputs::exited(int pid) {
  auto it = logs_.find(pid);
  if (it == logs_.end()) return;
  it->second->finish();
  logs_.erase(it);
}

void ChildOutputs::close() {
  pending_.reset();
  for (auto& [pid, log] : logs_) log->finish();
  logs_.clear();
  readers_.reset();  // its handle is freed by the loop's next run
}

}  // namespace otpsup
