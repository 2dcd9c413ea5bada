// otpsup-printer: a demo worker with a name that, with --interval, prints
// "[Printer NAME] tick N" once per tick, so its output shows up in its log.
//
//   otpsup-printer --id NAME [--interval DURATION] [--crash-after DURATION]
//                  [--exit-code N]
//
// Exits 0 on SIGTERM or SIGINT, or when its supervisor closes the channel;
// with --crash-after, exits --exit-code after that long with "Intentional
// crash for demonstration" on stderr.
//
// With `channel = true` it is a server (otpsup/worker.h) answering:
//   print VALUE   writes "[Printer NAME] VALUE" to stdout and flushes (a string
//                 as is, any other JSON value as compact JSON); as a call,
//                 replies with the number of lines printed by `print` so far
//   count         replies with that number (ticks are not counted)
//   $state        {"id":NAME,"print_count":N}
// Wrong argument counts answer "bad_args".
#include <unistd.h>

#include <cstdint>
#include <iostream>
#include <string>

#include "otpsup/worker.h"
#include "worker_common.h"

namespace {

using nlohmann::json;
using otpsup::worker::Args;
using otpsup::worker::CallError;
using otpsup::worker::CallResult;

}  // namespace

int main(int argc, char** argv) {
  using namespace otpsup::workers;

  CLI::App app{"otpsup demo worker: prints numbered ticks under its name", "otpsup-printer"};
  std::string id;
  WorkerOptions options;
  app.add_option("--id", id, "Name shown in every line")->type_name("NAME")->required();
  add_worker_options(app, &options);
  if (auto status = parse_command_line(app, argc, argv)) return *status;

  const std::string prefix = "[Printer " + id + "] ";
  std::uint64_t print_count = 0;

  otpsup::worker::Server server("otpsup-printer");
  // Prints args[0]; false when args is not exactly one value.
  auto print = [&](const Args& args) {
    if (args.size() != 1) return false;
    const json& value = args[0];
    const std::string text = value.is_string()
                                 ? value.get<std::string>()
                                 : value.dump(-1, ' ', false, json::error_handler_t::replace);
    std::cout << prefix << text << std::endl;
    ++print_count;
    return true;
  };
  server.on_call("print", [&](const Args& args) -> CallResult {
    if (!print(args)) return CallError{"bad_args"};
    return json(print_count);
  });
  server.on_cast("print", [&](const Args& args) {
    if (!print(args))
      std::cerr << prefix << "cast print " << args.dump() << ": bad_args" << std::endl;
  });
  server.on_call("count", [&](const Args& args) -> CallResult {
    if (!args.empty()) return CallError{"bad_args"};
    return json(print_count);
  });
  server.on_state([&] { return json{{"id", id}, {"print_count", print_count}}; });

  std::uint64_t ticks = 0;
  if (options.interval) {
    server.on_tick(*options.interval, [&] {
      ++ticks;
      std::cout << prefix << "tick " << ticks << std::endl;
    });
  }
  bool crashed = false;
  if (options.crash_after) {
    server.after(*options.crash_after, [&] {
      crashed = true;
      server.exit(finish(options, LoopEnd{.crashed = true}));
    });
  }
  server.on_ready([&] { std::cout << prefix << "started (pid " << getpid() << ")" << std::endl; });

  const int status = server.run();
  if (!crashed) {
    const std::string why = server.stop_signal() != 0 ? stop_signal_name(server.stop_signal())
                            : status == 0             ? "channel closed"
                                                      : "error";
    std::cout << prefix << "stopped after " << ticks << " ticks (" << why << ")" << std::endl;
  }
  return status;
}
