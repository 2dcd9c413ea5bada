// otpsup-printer: a demo worker with a name that, with --interval, prints
// "[Printer NAME] tick N" once per tick, so its output shows up in its log.
//
//   otpsup-printer --id NAME [--interval DURATION] [--crash-after DURATION]
//                  [--exit-code N]
//
// Exits 0 on SIGTERM or SIGINT; with --crash-after, exits --exit-code after
// that long with "Intentional crash for demonstration" on stderr.
#include <unistd.h>

#include <cstdint>
#include <iostream>
#include <string>

#include "worker_common.h"

int main(int argc, char** argv) {
  using namespace otpsup::workers;

  CLI::App app{"otpsup demo worker: prints numbered ticks under its name", "otpsup-printer"};
  std::string id;
  WorkerOptions options;
  app.add_option("--id", id, "Name shown in every line")->type_name("NAME")->required();
  add_worker_options(app, &options);
  if (auto status = parse_command_line(app, argc, argv)) return *status;

  install_stop_handlers();
  const std::string prefix = "[Printer " + id + "] ";
  std::cout << prefix << "started (pid " << getpid() << ")" << std::endl;

  std::uint64_t ticks = 0;
  LoopEnd end = run_worker_loop(options, [&] {
    ++ticks;
    std::cout << prefix << "tick " << ticks << std::endl;
  });
  if (!end.crashed) {
    std::cout << prefix << "stopped after " << ticks << " ticks (" << stop_signal_name(end.signal)
              << ")" << std::endl;
  }
  return finish(options, end);
}
