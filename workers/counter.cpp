// otpsup-counter: a demo worker that holds one int64 and, with --interval,
// counts it up by one per tick, printing "counter: N". Its value lives only in
// the process, so a restart starts again from --start: the lesson of the demo.
//
//   otpsup-counter [--start N] [--interval DURATION] [--crash-after DURATION]
//                  [--exit-code N]
//
// Exits 0 on SIGTERM or SIGINT; with --crash-after, exits --exit-code after
// that long with "Intentional crash for demonstration" on stderr.
#include <unistd.h>

#include <cstdint>
#include <iostream>

#include "worker_common.h"

int main(int argc, char** argv) {
  using namespace otpsup::workers;

  CLI::App app{"otpsup demo worker: an int64 counter that is lost when it restarts",
               "otpsup-counter"};
  std::int64_t value = 0;
  WorkerOptions options;
  app.add_option("--start", value, "Initial value (default 0)")->type_name("N");
  add_worker_options(app, &options);
  if (auto status = parse_command_line(app, argc, argv)) return *status;

  install_stop_handlers();
  std::cout << "counter: started at " << value << " (pid " << getpid() << ")" << std::endl;

  LoopEnd end = run_worker_loop(options, [&value] {
    ++value;
    std::cout << "counter: " << value << std::endl;
  });
  if (!end.crashed) {
    std::cout << "counter: stopped at " << value << " (" << stop_signal_name(end.signal) << ")"
              << std::endl;
  }
  return finish(options, end);
}
