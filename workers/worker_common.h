// Shared plumbing of the demo workers otpsup-counter and otpsup-printer.
//
// A demo worker is a single-threaded, plain POSIX program: it parses its
// command line, prints a startup line, then runs `run_worker_loop`, which
// sleeps without spinning until the next tick, the crash deadline or a stop
// signal. SIGTERM and SIGINT end the loop and the worker exits 0 (a clean
// shutdown for its supervisor); `--crash-after` makes it fail on purpose with
// `--exit-code`, so restart policies can be demonstrated.
//
// Threading: none. The functions here own process-wide state (the signal
// mask and the SIGTERM/SIGINT dispositions); call them from the main thread.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "otpsup/spec.h"

namespace otpsup::workers {

// Options every demo worker accepts.
struct WorkerOptions {
  std::optional<Duration> interval;     // --interval: tick period; none = never tick
  std::optional<Duration> crash_after;  // --crash-after: fail on purpose after this long
  int exit_code = 1;                    // --exit-code: status of that intentional failure
};

// A CLI11 check that accepts what otpsup::parse_duration accepts ("500ms",
// "2s", "1m", "1.5s"). With `positive`, a zero duration is refused too.
CLI::Validator duration_validator(bool positive);

// Adds --interval, --crash-after and --exit-code to `app`, storing into
// `*options`. REQUIRES: `options` outlives the parse.
void add_worker_options(CLI::App& app, WorkerOptions* options);

// Parses argv into `app`. Returns nullopt when the worker should go on, or
// the exit status to return from main: 0 after --help, 2 for a usage error
// (CLI11 has already printed the message).
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv);

// Blocks SIGTERM and SIGINT and installs handlers that only record which one
// arrived; they are unblocked solely while the worker sleeps in
// run_worker_loop, so a stop request is never lost between checks.
// Call once, before printing the startup line.
void install_stop_handlers();

// What ended run_worker_loop.
struct LoopEnd {
  bool crashed = false;  // true: --crash-after elapsed; false: stopped by `signal`
  int signal = 0;        // SIGTERM or SIGINT when !crashed
};

// Runs until a stop signal or the crash deadline: calls `on_tick` once per
// `options.interval` (drift-free; ticks missed while the process was stopped
// are not replayed in a burst). Without an interval and crash deadline it
// waits in ppoll(2) with no timeout, using no CPU at all.
// REQUIRES: install_stop_handlers() was called.
LoopEnd run_worker_loop(const WorkerOptions& options, const std::function<void()>& on_tick);

// The exit status for `end`: 0 after a stop signal. After a crash deadline it
// writes "Intentional crash for demonstration" to stderr and returns
// `options.exit_code`.
int finish(const WorkerOptions& options, const LoopEnd& end);

// "SIGTERM" / "SIGINT" (the only signals run_worker_loop reports).
std::string stop_signal_name(int signal);

}  // namespace otpsup::workers
