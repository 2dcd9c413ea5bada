#include "worker_common.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "otpsup/duration.h"

namespace otpsup::workers {
namespace {

using Clock = std::chrono::steady_clock;

// The signal that asked us to stop (0 = none yet). Written only by the handler.
volatile sig_atomic_t g_stop_signal = 0;

// The mask to sleep with: the mask in force before install_stop_handlers
// blocked SIGTERM and SIGINT, minus those two.
sigset_t g_sleep_mask;

extern "C" void record_stop_signal(int signal) {
  g_stop_signal = signal;
}

// Sleeps until `deadline` (forever when nullopt) or until a stop signal has
// been handled, whichever is first. Spurious wake-ups just return early; the
// caller re-checks its deadlines.
void sleep_until(std::optional<Clock::time_point> deadline) {
  timespec timeout{};
  timespec* timeout_arg = nullptr;
  if (deadline) {
    auto remaining = *deadline - Clock::now();
    if (remaining <= Clock::duration::zero()) return;
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(remaining);
    auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining - seconds);
    timeout.tv_sec = static_cast<time_t>(seconds.count());
    timeout.tv_nsec = static_cast<long>(nanos.count());
    timeout_arg = &timeout;
  }
  // No fds: ppoll is sigsuspend with an optional timeout; SIGTERM/SIGINT are
  // unblocked atomically for the duration of the wait only.
  ppoll(nullptr, 0, timeout_arg, &g_sleep_mask);
}

}  // namespace

CLI::Validator duration_validator(bool positive) {
  return CLI::Validator(
      [positive](std::string& text) -> std::string {
        auto parsed = otpsup::parse_duration(text);
        if (!parsed) return "not a duration: '" + text + "' (examples: 500ms, 2s, 1m)";
        if (positive && parsed->count() <= 0) return "must be longer than zero: '" + text + "'";
        return {};
      },
      "");
}

void add_worker_options(CLI::App& app, WorkerOptions* options) {
  app.add_option_function<std::string>(
         "--interval",
         [options](const std::string& text) { options->interval = parse_duration(text); },
         "Do one unit of work every DURATION (e.g. 500ms, 2s, 1m)")
      ->type_name("DURATION")
      ->check(duration_validator(/*positive=*/true));
  app.add_option_function<std::string>(
         "--crash-after",
         [options](const std::string& text) { options->crash_after = parse_duration(text); },
         "Exit with --exit-code after DURATION, on purpose")
      ->type_name("DURATION")
      ->check(duration_validator(/*positive=*/false));
  app.add_option("--exit-code", options->exit_code,
                 "Exit status of the intentional crash (default 1)")
      ->type_name("N")
      ->check(CLI::Range(0, 255).description(""));
}

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int status = app.exit(error);  // prints help or the error message
    return status == 0 ? 0 : 2;
  }
  return std::nullopt;
}

void install_stop_handlers() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, &g_sleep_mask);
  sigdelset(&g_sleep_mask, SIGTERM);
  sigdelset(&g_sleep_mask, SIGINT);

  struct sigaction action {};
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

LoopEnd run_worker_loop(const WorkerOptions& options, const std::function<void()>& on_tick) {
  const auto started = Clock::now();
  std::optional<Clock::time_point> crash_at;
  if (options.crash_after) crash_at = started + *options.crash_after;
  std::optional<Clock::time_point> next_tick;
  if (options.interval) next_tick = started + *options.interval;

  for (;;) {
    if (g_stop_signal != 0) return LoopEnd{false, g_stop_signal};
    auto now = Clock::now();
    if (crash_at && now >= *crash_at) return LoopEnd{true, 0};
    if (next_tick && now >= *next_tick) {
      on_tick();
      *next_tick += *options.interval;
      // Behind by more than one period (the process was stopped, or the
      // machine suspended): resume the rhythm instead of replaying ticks.
      if (*next_tick <= now) next_tick = now + *options.interval;
      continue;
    }
    std::optional<Clock::time_point> wake = next_tick;
    if (crash_at && (!wake || *crash_at < *wake)) wake = crash_at;
    sleep_until(wake);
  }
}

int finish(const WorkerOptions& options, const LoopEnd& end) {
  std::fflush(stdout);
  if (!end.crashed) return 0;
  std::fputs("Intentional crash for demonstration\n", stderr);
  std::fflush(stderr);
  return options.exit_code;
}

std::string stop_signal_name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "signal " + std::to_string(signal);
  }
}

}  // namespace otpsup::workers
