// Default locations shared by otpsupd and otpsupctl.
#pragma once

#include <string>

namespace otpsup {

// $OTPSUP_SOCKET if set; else /run/otpsup/otpsupd.sock for root;
// else $XDG_RUNTIME_DIR/otpsup/otpsupd.sock; else /tmp/otpsup-UID/otpsupd.sock.
std::string default_socket_path();

// /var/lib/otpsup for root; else $XDG_STATE_HOME/otpsup or ~/.local/state/otpsup.
std::string default_state_dir();

}  // namespace otpsup
