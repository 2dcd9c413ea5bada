#include "otpsup/restart_intensity.h"

namespace otpsup {

void RestartIntensity::forget_older_than_window(TimePoint now) {
  const TimePoint threshold = now - period_;
  while (!restarts_.empty() && restarts_.front() < threshold) restarts_.pop_front();
}

bool RestartIntensity::add_restart(TimePoint now) {
  restarts_.push_back(now);
  forget_older_than_window(now);
  return static_cast<int>(restarts_.size()) <= intensity_;
}

int RestartIntensity::used(TimePoint now) const {
  const TimePoint threshold = now - period_;
  int n = 0;
  for (const TimePoint& t : restarts_) n += t >= threshold ? 1 : 0;
  return n;
}

}  // namespace otpsup
