// The worker side of readiness and the watchdog (ChildSpec::ready = "notify",
// ::watchdog): systemd's sd_notify protocol, without libsystemd.
//
// A supervisor that wants to hear from a worker sets NOTIFY_SOCKET (an
// AF_UNIX datagram address: a path, or "@name" in the abstract namespace)
// and, with a watchdog, WATCHDOG_USEC. otpsup::worker::Server uses these: it
// sends READY=1 once its loop is set up and WATCHDOG=1 every half period.
#pragma once

#include <optional>
#include <string_view>

#include "otpsup/spec.h"

namespace otpsup::worker {

// Sends `state` ("READY=1", "STATUS=...", "WATCHDOG=1", newline-separated)
// to $NOTIFY_SOCKET. Returns false when the variable is unset or the send
// failed (nobody listens): callers treat notification as best effort.
bool sd_notify(std::string_view state);

// $WATCHDOG_USEC as a duration (at least 1 ms), or nullopt when unset/invalid.
std::optional<Duration> watchdog_interval();

}  // namespace otpsup::worker
