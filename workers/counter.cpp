// otpsup-counter: a demo worker that holds one int64 and, with --interval,
// counts it up by one per tick, printing "counter: N". Its value lives only in
// the process, so a restart starts again from --start: the lesson of the demo.
//
//   otpsup-counter [--start N] [--interval DURATION] [--crash-after DURATION]
//                  [--exit-code N]
//
// Exits 0 on SIGTERM or SIGINT, or when its supervisor closes the channel;
// with --crash-after, exits --exit-code after that long with "Intentional
// crash for demonstration" on stderr.
//
// With `channel = true` it is a server (otpsup/worker.h) answering:
//   increment [N]    adds N (an integer, default 1); as a call, replies with
//                    the new value. Past INT64_MAX / INT64_MIN: error
//                    "overflow", the value is kept. A cast only logs errors.
//   get              replies with the value
//   reset            sets the value to 0; replies 0
//   crash [CODE|SIG] writes "Intentional crash for demonstration" to stderr
//                    and exits with CODE (an integer 0..255, default 1), or
//                    kills itself with SIG, a name such as "SIGSEGV" or "KILL"
//                    (no reply either way)
//   $state           {"value":N}
// Wrong argument counts or types answer "bad_args".
#include <signal.h>
#include <strings.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "otpsup/worker.h"
#include "worker_common.h"

namespace {

using nlohmann::json;
using otpsup::worker::Args;
using otpsup::worker::CallError;
using otpsup::worker::CallResult;

const CallError kBadArgs{"bad_args"};

// value + args[0] (default 1), or the error to answer.
CallResult add(std::int64_t& value, const Args& args) {
  if (args.size() > 1) return kBadArgs;
  json step = args.empty() ? json(1) : args[0];
  std::int64_t result = 0;
  bool overflow = false;
  if (step.is_number_unsigned()) {
    overflow = __builtin_add_overflow(value, step.get<std::uint64_t>(), &result);
  } else if (step.is_number_integer()) {
    overflow = __builtin_add_overflow(value, step.get<std::int64_t>(), &result);
  } else {
    return kBadArgs;
  }
  if (overflow) return CallError{"overflow"};
  value = result;
  return json(value);
}

// Signals whose default action terminates the process, by name.
std::optional<int> signal_by_name(std::string name) {
  static constexpr struct {
    const char* name;
    int number;
  } kSignals[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
      {"TRAP", SIGTRAP}, {"ABRT", SIGABRT}, {"BUS", SIGBUS},       {"FPE", SIGFPE},
      {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},
      {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},     {"SYS", SIGSYS},
      {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
  };
  if (name.size() > 3 && strncasecmp(name.c_str(), "SIG", 3) == 0) name.erase(0, 3);
  for (const auto& entry : kSignals) {
    if (strcasecmp(name.c_str(), entry.name) == 0) return entry.number;
  }
  return std::nullopt;
}

// Dies on purpose: with `signal` (default action) when non-zero, else `code`.
[[noreturn]] void crash(int code, int signal) {
  std::cout.flush();
  std::fputs("Intentional crash for demonstration\n", stderr);
  std::fflush(stderr);
  if (signal != 0) {
    ::signal(signal, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal);
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
    ::raise(signal);
    code = 128 + signal;  // not reached for the signals signal_by_name knows
  }
  std::_Exit(code);
}

CallResult crash_call(const Args& args) {
  if (args.size() > 1) return kBadArgs;
  if (args.empty()) crash(1, 0);
  const json& how = args[0];
  if (how.is_number_integer()) {
    const auto code = how.get<std::int64_t>();
    if (code < 0 || code > 255) return kBadArgs;
    crash(static_cast<int>(code), 0);
  }
  if (how.is_string()) {
    if (auto signal = signal_by_name(how.get<std::string>())) crash(0, *signal);
  }
  return kBadArgs;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace otpsup::workers;

  CLI::App app{"otpsup demo worker: an int64 counter that is lost when it restarts",
               "otpsup-counter"};
  std::int64_t value = 0;
  WorkerOptions options;
  app.add_option("--start", value, "Initial value (default 0)")->type_name("N");
  add_worker_options(app, &options);
  if (auto status = parse_command_line(app, argc, argv)) return *status;

  otpsup::worker::Server server("otpsup-counter");
  server.on_call("increment", [&value](const Args& args) { return add(value, args); });
  server.on_cast("increment", [&value](const Args& args) {
    const CallResult result = add(value, args);
    if (const auto* error = std::get_if<CallError>(&result)) {
      std::cerr << "counter: cast increment " << args.dump() << ": " << error->message << std::endl;
    }
  });
  server.on_call("get", [&value](const Args& args) -> CallResult {
    if (!args.empty()) return kBadArgs;
    return json(value);
  });
  server.on_call("reset", [&value](const Args& args) -> CallResult {
    if (!args.empty()) return kBadArgs;
    value = 0;
    return json(value);
  });
  server.on_call("crash", crash_call);
  server.on_state([&value] { return json{{"value", value}}; });

  if (options.interval) {
    server.on_tick(*options.interval, [&value] {
      if (value == INT64_MAX) {
        std::cout << "counter: " << value << " (at INT64_MAX, not counting)" << std::endl;
        return;
      }
      ++value;
      std::cout << "counter: " << value << std::endl;
    });
  }
  bool crashed = false;
  if (options.crash_after) {
    server.after(*options.crash_after, [&] {
      crashed = true;
      server.exit(finish(options, LoopEnd{.crashed = true}));
    });
  }
  server.on_ready([&value] {
    std::cout << "counter: started at " << value << " (pid " << getpid() << ")" << std::endl;
  });

  const int status = server.run();
  if (!crashed) {
    const std::string why = server.stop_signal() != 0 ? stop_signal_name(server.stop_signal())
                            : status == 0             ? "channel closed"
                                                      : "error";
    std::cout << "counter: stopped at " << value << " (" << why << ")" << std::endl;
  }
  return status;
}
