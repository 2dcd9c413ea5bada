// Telling the service manager that otpsupd is up (systemd's sd_notify
// protocol, so `Type=notify` units and tests can wait for readiness).
#pragma once

#include <string>
#include <string_view>

namespace otpsup {

class ServiceNotifier {
 public:
  // Takes $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace) and
  // removes it from the environment so children do not inherit it.
  static ServiceNotifier from_environment();

  // Sends one datagram such as "READY=1" or "STOPPING=1". Without a socket,
  // or on error, does nothing: readiness reporting never stops the daemon.
  void notify(std::string_view state) const;

 private:
  std::string socket_path_;
};

}  // namespace otpsup
