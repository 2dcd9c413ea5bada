// ChildOutputs: where one supervisor's workers write their stdout and stderr
// (DESIGN §6).
//
// A worker whose `stdout`/`stderr` is "log" (the default) writes into a pipe;
// this supervisor reads it on its loop (never blocking it: see ChildLog) and
// writes timestamped lines to LOG_DIR/<path>.log, e.g.
// STATE_DIR/logs/root/demo_tracking/counter1.log, rotated by size. With echo
// (otpsupd --foreground) each line also goes to our stdout as
// "<path> | <text>". "inherit" passes the supervisor's own descriptor, "null"
// /dev/null. A log outlives its child's restarts (each start appends).
//
// Threading: the supervisor's loop thread.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "os/child_log.h"
#include "os/readable_set.h"
#include "os/spawn.h"
#include "otpsup/spec.h"
#include "otpsup/status.h"

namespace otpsup {

struct OutputLogSettings {
  std::string dir;  // LOG_DIR; empty: "log" outputs are inherited instead
  std::uint64_t max_size = 10ull << 20;
  int keep = 3;
  bool echo = false;
  bool operator==(const OutputLogSettings&) const = default;
};
nlohmann::json to_json(const OutputLogSettings& s);
OutputLogSettings output_log_settings_from_json(const nlohmann::json& j);

// The log file of the child at `child_path` ("root/a/counter1").
std::string child_log_file(const std::string& log_dir, const std::string& child_path);

class ChildOutputs {
 public:
  ChildOutputs(uv_loop_t* loop, OutputLogSettings settings);
  ~ChildOutputs();
  ChildOutputs(const ChildOutputs&) = delete;
  ChildOutputs& operator=(const ChildOutputs&) = delete;

  // Before spawning a worker: sets io->out and io->err as its spec says,
  // creating the pipes when it logs. Then exactly one of started()/abandoned().
  Status prepare(const ChildSpec& spec, const std::string& child_path, ChildIo* io);
  void started(int pid);  // the spawn succeeded: read its pipes from now on
  void abandoned();       // the spawn failed: drop the pipes
  // The child `pid` exited: read what is left, write partial lines, close.
  void exited(int pid);
  // Closes every log and the ReadableSet of their pipes (shutdown: the loop
  // must run once more to free its handle).
  void close();

 private:
  uv_loop_t* loop_;
  OutputLogSettings settings_;
  std::unique_ptr<ReadableSet> readers_;  // every log's pipes; made with the first log
  std::unique_ptr<ChildLog> pending_;
  std::unordered_map<int, std::unique_ptr<ChildLog>> logs_;  // by child pid
};

}  // namespace otpsup
