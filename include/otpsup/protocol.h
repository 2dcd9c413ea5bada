// The control protocol between otpsupctl and otpsupd (otpsupctl(1), DESIGN §4).
//
// A Unix stream socket carrying newline-delimited JSON, one object per line.
//
// Request:  {"id":N,"cmd":"NAME", ...arguments}
// Reply:    {"id":N,"ok":true,"result":{...}}
//        or {"id":N,"ok":false,"error":{"code":"CODE","message":"text"}}
// Stream:   after an ok reply to a following request ("follow":true), the
//           daemon sends {"id":N,"stream":"<raw history line without \n>"}
//           per new item until the client hangs up.
//
// Every reply is sent after the command has been applied (a `stop` replies
// when the child is down; `shutdown` replies when the tree is down).
//
// Commands and their arguments ("path" accepts a full path such as
// "root/demo_tracking/counter1" or a unique suffix such as "counter1"; a
// supervisor's children may be supervisors, to any depth):
//   status   {"path"?}                         -> {"tree": Node}
//   pause    {"path", "stop"?: bool, "recursive"?: bool}
//            -> {"supervisors": ["root/a", "root/a/b", ...]}   (full paths acted on;
//               with "recursive", the supervisor and every supervisor below it)
//   resume   {"path", "recursive"?: bool}      -> {"supervisors": [...]}
//   start    {"path"}                          -> {"pid": N}
//   stop     {"path"}                          -> {}
//   restart  {"path"}                          -> {"pid": N}
//   remove   {"path"}                          -> {}   (a child added at run time is
//                                                       stopped, then deleted)
//   add      {"path": SUPERVISOR, "child_id": ID, "command": [argv...],
//             "restart"?: "permanent"|"transient"|"temporary",
//             "shutdown"?: "5s"|"brutal_kill"|"infinity"}
//            -> {"path": "SUPERVISOR/ID", "pid": N}
//            only under a dynamic supervisor (or one with allow_add); errors
//            refused, already_exists, max_children, bad_request (bad id, no
//            command, executable not found: argv[0] is looked up by otpsupd)
//   kill     {"path", "signal": "KILL"|9, "force"?: bool} -> {"pid": N, "signal": "SIGKILL"}
//            (a supervisor only with "force", never the root)
//   freeze   {"path", "force"?: bool} -> {"pid": N}   SIGSTOP to the child's group
//            (not_running when it has no process; a supervisor only with "force")
//   thaw     {"path"}                 -> {"pid": N}   SIGCONT; a no-op when not frozen
//   info     {"path"}  -> {"path","kind","pid","state":"S","state_name":"sleeping",
//                          "rss_bytes","threads","cpu_user_s","cpu_system_s","fd_count",
//                          "start_time":"RFC3339","uptime_s","cmdline":[...]}
//            (from /proc; not_running when the node has no process)
//   stats    {"path"? (default root), "window"?: "60s"}
//            -> {"path","restarts_in_window","restarts_per_minute","exits_in_window",
//                "last_exit_reason","last_exit_ts","last_event_ts" (null when none),
//                "window_ms", and for supervisors "intensity","period_ms",
//                "intensity_used" (restarts in the period / intensity, a fraction)}
//   history  {"path"?, "n"?: N, "event"?: E, "since"?: "RFC3339 or seq", "follow"?: bool}
//            -> {"lines": ["<raw record>", ...], "corrupt": [{"file","line","reason"}]}
//   reload   {"dry_run"?: bool}
//            -> {"changes": [{"path","action","detail"}...], "dry_run"?: true,
//                "supervisors"?: ["root", "root/a", ...]}
//            reads the -c file again and validates all of it; action is "start",
//            "stop", "restart", "update", or "none" (path "daemon": [daemon]
//            settings take effect at the next start). With "dry_run" only the
//            plan; otherwise a config_reloaded record, then every supervisor in
//            both trees applies its part and the reply lists them ("supervisors").
//            Errors: invalid_config (the file's errors in the message; nothing
//            changed), refused (the built-in demo tree), shutting_down.
//            SIGHUP does the same, with errors on otpsupd's stderr.
//   sandbox  {"action": "create"|"destroy"|"restart"|"list"|"info",
//             "sandbox_id" (all but list), "template"?: SUPERVISOR (default
//             "demo_tracking"), "strategy"?, "intensity"?: N, "period"?: "5s",
//             "under"?: DYNAMIC_SUPERVISOR (default: the only dynamic one)}
//            a sandbox is a copy of a configured supervisor and its subtree,
//            named sandbox_id, added as a child of a dynamic supervisor.
//            create  -> {"path": "root/demo_dynamic/ID", "pid": N, "sandbox": ID,
//                        "restarts": N}
//            restart -> as create (removed, then created again with the same
//                       options unless new ones are given; "under" is kept)
//            destroy -> {"path"}
//            list    -> {"sandboxes": [Node without "children", plus "id", "template"]}
//            info    -> Node plus "id", "template", "options"
//            errors already_exists, not_found, bad_request, max_children, refused,
//            shutting_down
//   shutdown {}                                -> {}
//   wait     {"path", "state":"ready"|"down", "timeout_ms"?: N (0/absent: no limit)}
//                                              -> {"path", "state"} once reached
//            errors not_found, bad_request, timeout, shutting_down
//   ping     {}                                -> {"pid": N, "version": "..."}
//
// Node (status):
//   {"path":"root/counter1","name":"counter1","kind":"worker"|"supervisor",
//    "pid":N|0,"state":"running"|"starting"|"stopping"|"down"|"stopped",
//    "uptime_ms":N,"restarts":N,"restart":"permanent"|...,
//    "last_exit"?:"reason","added"?:true (added at run time),
//    "status_text"?:"..." (a worker's latest sd_notify STATUS=),
//    // supervisors also:
//    "strategy":"one_for_one"|...|"dynamic","intensity":N,"period_ms":N,
//    "restarts_in_period":N,"paused":bool,"children":[Node...]}
//
// Besides the codes below, the supervisors themselves reply "already_exists"
// and "max_children" to an add (and to a sandbox create), the sandbox
// requests reply "already_exists" to a create of an existing id, and reload
// replies "invalid_config".
#pragma once

#include <cstddef>
#include <string_view>

namespace otpsup::protocol {

// Largest request line the daemon accepts; a longer one gets `too_large` and
// the connection is closed.
inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;

// Error codes (error.code). otpsupctl exits 1 for any of them.
inline constexpr std::string_view kBadRequest = "bad_request";  // not JSON / missing field
inline constexpr std::string_view kUnknownCommand = "unknown_command";
inline constexpr std::string_view kTooLarge = "too_large";
inline constexpr std::string_view kNotFound = "not_found";   // no such path
inline constexpr std::string_view kAmbiguous = "ambiguous";  // suffix matches several
inline constexpr std::string_view kRefused = "refused";      // e.g. kill of a supervisor
inline constexpr std::string_view kRunning = "running";      // remove of a running child
inline constexpr std::string_view kAlreadyRunning = "already_running";
inline constexpr std::string_view kNotRunning = "not_running";
inline constexpr std::string_view kStartFailed = "start_failed";
inline constexpr std::string_view kShuttingDown = "shutting_down";
inline constexpr std::string_view kPermissionDenied = "permission_denied";
inline constexpr std::string_view kInternal = "internal";
// `wait`: the state was not reached in time.
inline constexpr std::string_view kTimeout = "timeout";

}  // namespace otpsup::protocol
