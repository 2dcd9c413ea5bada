#include "os/service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "otpsup/unique_fd.h"

namespace otpsup {

ServiceNotifier ServiceNotifier::from_environment() {
  ServiceNotifier n;
  if (const char* path = std::getenv("NOTIFY_SOCKET")) n.socket_path_ = path;
  ::unsetenv("NOTIFY_SOCKET");
  return n;
}

void ServiceNotifier::notify(std::string_view state) const {
  if (socket_path_.empty() || socket_path_.size() >= sizeof(sockaddr_un{}.sun_path)) return;
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size());
  ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
           len);
}

}  // namespace otpsup
