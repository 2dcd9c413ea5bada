#include "otpsup/tree_status_json.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

namespace otpsup {

namespace {

long long ms_between(TimePoint from, TimePoint to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

void append_integer(long long value, std::string* out) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out->append(digits, end);
}

// `"key":` — keys are plain ASCII, written as they are.
void append_key(std::string_view key, std::string* out) {
  out->push_back('"');
  out->append(key);
  out->append("\":", 2);
}

class StatusWriter {
 public:
  StatusWriter(const TreeMirror& mirror, TimePoint now, const StatusJsonOptions& options,
               std::string* out)
      : mirror_(mirror), now_(now), options_(options), out_(*out) {}

  // `path` is a scratch buffer: extended for the children, restored after.
  void node(std::string* path, bool top) {
    const MirrorNode* n = mirror_.find(*path);
    if (n == nullptr) {
      out_.append("null");
      return;
    }
    // Members in std::map (sorted) order, as nlohmann::json prints them.
    char sep = '{';
    auto member = [&](std::string_view key) {
      out_.push_back(sep);
      sep = ',';
      append_key(key, &out_);
    };
    auto boolean = [&](bool value) { out_.append(value ? "true" : "false"); };
    if (n->added) {
      member("added");
      boolean(true);
    }
    if (n->supervisor) {
      member("children");
      out_.push_back('[');
      const std::size_t length = path->size();
      bool first = true;
      for (const std::string& child : n->children) {
        if (!first) out_.push_back(',');
        first = false;
        path->push_back('/');
        path->append(child);
        node(path, false);
        path->resize(length);
      }
      out_.push_back(']');
    }
    if (n->frozen) {
      member("frozen");
      boolean(true);
    }
    if (n->supervisor) {
      member("intensity");
      append_integer(n->intensity, &out_);
    }
    member("kind");
    out_.append(n->supervisor ? "\"supervisor\"" : "\"worker\"");
    if (!n->last_exit.empty()) {
      member("last_exit");
      append_json_string(n->last_exit, &out_);
    }
    member("name");
    append_json_string(n->name, &out_);
    member("path");
    append_json_string(n->path, &out_);
    if (n->supervisor) {
      member("paused");
      boolean(n->paused);
      member("period_ms");
      append_integer(n->period.count(), &out_);
    }
    member("pid");
    append_integer(n->pid != 0 && options_.shown_pid ? options_.shown_pid(n->pid) : n->pid, &out_);
    member("restart");
    append_json_string(n->restart, &out_);
    if (n->state == "restarting") {
      member("restart_in_ms");
      append_integer(std::max(0LL, ms_between(now_, n->restart_at)), &out_);
    }
    member("restarts");
    append_integer(n->restarts, &out_);
    if (n->supervisor) {
      int used = 0;
      for (TimePoint t : n->restart_times) used += t >= now_ - n->period ? 1 : 0;
      member("restarts_in_period");
      append_integer(used, &out_);
    }
    member("state");
    append_json_string(top && !options_.top_state.empty() ? options_.top_state : n->state, &out_);
    if (!n->status_text.empty()) {
      member("status_text");
      append_json_string(n->status_text, &out_);
    }
    if (n->supervisor) {
      member("strategy");
      append_json_string(n->strategy, &out_);
    }
    member("uptime_ms");
    append_integer(n->state == "running" ? ms_between(n->started_at, now_) : 0, &out_);
    out_.push_back('}');
  }

 private:
  const TreeMirror& mirror_;
  TimePoint now_;
  const StatusJsonOptions& options_;
  std::string& out_;
};

}  // namespace

void append_json_string(std::string_view text, std::string* out) {
  // Printable ASCII other than '"' and '\\' is written as it is; anything
  // else goes through nlohmann's serializer, so escapes and the handling of
  // invalid UTF-8 are exactly its own.
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (plain) {
    out->push_back('"');
    out->append(text);
    out->push_back('"');
    return;
  }
  out->append(nlohmann::json(std::string(text))
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void append_status_json(const TreeMirror& mirror, const std::string& path, TimePoint now,
                        const StatusJsonOptions& options, std::string* out) {
  // About 150 bytes per worker: room for the top node's children at once
  // (a flat tree of thousands), growth for deeper ones.
  if (const MirrorNode* top = mirror.find(path); top != nullptr) {
    out->reserve(out->size() + (top->children.size() + 1) * 160);
  }
  std::string scratch = path;
  StatusWriter(mirror, now, options, out).node(&scratch, true);
}

}  // namespace otpsup
