// RestartIntensity: OTP's restart-intensity window for one supervisor.
//
// A restart is counted *before* it is attempted. The supervisor may make at
// most `intensity` restarts within any `period`; the restart that would make
// it intensity + 1 is refused and the supervisor gives up. As in OTP's
// supervisor:add_restart/3, a restart exactly `period` ago still counts.
// Pure: the caller passes the time.
#pragma once

#include <chrono>
#include <deque>

#include "otpsup/spec.h"

namespace otpsup {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

class RestartIntensity {
 public:
  RestartIntensity(int intensity, Duration period) : intensity_(intensity), period_(period) {}

  // Counts one restart at `now`. Returns false when that exceeds the intensity
  // (the supervisor must give up); the restart is counted either way.
  bool add_restart(TimePoint now);

  // Restarts counted within the window ending at `now` (for status).
  int used(TimePoint now) const;

  // The restarts remembered, oldest first (some may be older than the window).
  const std::deque<TimePoint>& times() const { return restarts_; }
  int intensity() const { return intensity_; }
  // Live reload: new limits; the restarts already counted are kept.
  void reset_limits(int intensity, Duration period) {
    intensity_ = intensity;
    period_ = period;
  }
  Duration period() const { return period_; }

 private:
  void forget_older_than_window(TimePoint now);
  int intensity_;
  Duration period_;
  std::deque<TimePoint> restarts_;  // oldest first
};

}  // namespace otpsup
