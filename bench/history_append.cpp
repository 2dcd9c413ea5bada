// History append throughput of otpsup's own HistoryWriter (src/history/history_writer.cpp),
// as otpsupd drives it: each record's fields are built as an nlohmann::ordered_json
// (what Daemon::append_history receives), appended, and under "batch" the writer
// is synced once per group of BATCH records, or, with BATCH given as "5ms", as
// otpsupd's group commit does it while records keep coming: at most one
// fdatasync per 5 ms, covering everything appended since the last one.
// Default rotation settings (64 MiB, keep 4) apply, so rotations are part of
// the cost.
//
// Built by bench/run against the build's libotpsup_lib.a/libotpsup_core.a:
//   history_append DIR always|batch|never SECONDS [BATCH | WINDOWms]
// prints: "<records> <seconds>"
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "otpsup/history_writer.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: history_append DIR always|batch|never SECONDS [BATCH]\n");
    return 2;
  }
  otpsup::HistoryOptions options;
  options.dir = argv[1];
  const std::string mode = argv[2];
  options.sync = mode == "always"  ? otpsup::HistorySync::always
                 : mode == "never" ? otpsup::HistorySync::never
                                   : otpsup::HistorySync::batch;
  const double seconds = std::atof(argv[3]);
  const std::string group = argc > 4 ? argv[4] : "1";
  const bool timed = group.size() > 2 && group.compare(group.size() - 2, 2, "ms") == 0;
  const long batch = timed ? 1 : std::atol(group.c_str());
  const auto window = std::chrono::milliseconds(timed ? std::atol(group.c_str()) : 0);
  std::string error;
  auto writer = otpsup::HistoryWriter::open(options, &error, nullptr);
  if (!writer) {
    std::fprintf(stderr, "history_append: %s\n", error.c_str());
    return 1;
  }
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  auto last_sync = start;
  long records = 0;
  for (;;) {
    for (long i = 0; i < batch; ++i, ++records) {
      const int pid = 100000 + static_cast<int>(records % 400000);
      const std::string child = "s" + std::to_string(records % 1000);
      nlohmann::ordered_json fields =
          records % 2 == 0
              ? nlohmann::ordered_json{{"sup", "root"}, {"child", child}, {"event", "exited"},
                                       {"pid", pid}, {"reason", "killed by SIGKILL"},
                                       {"signal", "SIGKILL"}}
              : nlohmann::ordered_json{{"sup", "root"}, {"child", child}, {"event", "restarted"},
                                       {"old_pid", pid - 1}, {"new_pid", pid},
                                       {"reason", "killed by SIGKILL"}};
      otpsup::Status st = writer->append(fields, nullptr);
      if (!st.ok()) {
        std::fprintf(stderr, "history_append: %s\n", st.message().c_str());
        return 1;
      }
    }
    if (writer->dirty() && (!timed || Clock::now() - last_sync >= window)) {
      last_sync = Clock::now();
      otpsup::Status st = writer->sync();
      if (!st.ok()) {
        std::fprintf(stderr, "history_append: %s\n", st.message().c_str());
        return 1;
      }
    }
    if (Clock::now() >= end) break;
  }
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("%ld %.6f\n", records, took);
  return 0;
}
