// The `status` path without nlohmann trees: the daemon's direct JSON writer
// (tree_status_json.h) against the TreeMirror's nlohmann tree, otpsupctl's
// JsonDocument against nlohmann's parser and printer, and the status table.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "ctl/json_document.h"
#include "ctl/render.h"
#include "otpsup/tree_mirror.h"
#include "otpsup/tree_status_json.h"
#include "test_specs.h"

using namespace otpsup;
using otpsup::testing::worker;
using namespace std::chrono_literals;

namespace {

ChildSpec supervisor_child(std::string id) {
  ChildSpec c = worker(std::move(id));
  c.is_supervisor = true;
  return c;
}

SupervisorSpec supervisor_spec(std::string name, Strategy strategy,
                               std::vector<ChildSpec> children) {
  SupervisorSpec s;
  s.name = std::move(name);
  s.strategy = strategy;
  s.intensity = 3;
  s.period = 5000ms;
  s.children = std::move(children);
  return s;
}

nlohmann::json record(const std::string& sup, const std::string& child, const std::string& event,
                      nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json r = {{"sup", sup}, {"child", child}, {"event", event}};
  for (auto& [key, value] : extra.items()) r[key] = value;
  return r;
}

const TimePoint t0{std::chrono::hours(1)};

// A tree with every member a Node can carry: running, frozen, restarting,
// stopped, added, a paused sub-supervisor with restarts in its window, a
// worker's STATUS= text with quotes, control characters, UTF-8 and bytes that
// are not UTF-8, a last exit reason.
TreeMirror varied_tree() {
  std::map<std::string, SupervisorSpec> library;
  library["root"] = supervisor_spec("root", Strategy::one_for_one,
                                    {worker("a"), worker("b", RestartType::transient), worker("c"),
                                     worker("d", RestartType::temporary), supervisor_child("sub")});
  library["sub"] = supervisor_spec("sub", Strategy::rest_for_one, {worker("x")});
  TreeMirror m;
  m.build(library, 100, t0);
  m.apply(record("root", "a", "started", {{"pid", 101}}), t0);
  m.apply(record("root", "b", "started", {{"pid", 102}}), t0 + 1s);
  m.apply(record("root", "b", "frozen", {{"pid", 102}}), t0 + 2s);
  m.apply(record("root", "c", "started", {{"pid", 103}}), t0);
  m.apply(record("root", "c", "exited", {{"pid", 103}, {"reason", "killed by SIGKILL"}}), t0 + 3s);
  m.apply(record("root", "c", "restart_scheduled", {{"delay_ms", 4420}}), t0 + 3s);
  m.apply(record("root", "d", "stopped", {{"reason", "manual stop"}}), t0);
  m.apply(record("root", "sub", "started", {{"pid", 104}}), t0);
  m.apply(record("root/sub", "x", "restarted", {{"new_pid", 105}}), t0 + 4s);
  m.apply(record("root", "j1", "added", {{"kind", "worker"}, {"restart", "temporary"}}), t0);
  m.apply(record("root", "j1", "started", {{"pid", 106}, {"awaiting", "ready"}}), t0 + 5s);
  const auto ns = [](TimePoint t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  };
  m.apply_state({{"path", "root/sub"},
                 {"paused", true},
                 {"child_status", {{"x", "say \"hi\"\t\x01 caf\xc3\xa9 \xff end\\"}}},
                 {"restart_times_ns", {ns(t0 + 1s), ns(t0 + 4s)}}});
  m.set_restarts("root/a", 7);
  return m;
}

std::string reference_dump(const nlohmann::json& tree) {
  return tree.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string direct(const TreeMirror& m, const std::string& path, TimePoint now,
                   const StatusJsonOptions& options = {}) {
  std::string out;
  append_status_json(m, path, now, options, &out);
  return out;
}

}  // namespace

TEST_CASE("TheDirectStatusJsonIsByteForByteTheMirrorTreeDumped") {
  const TreeMirror m = varied_tree();
  for (TimePoint now : {t0 + 4s, t0 + 6s, t0 + 100h}) {
    for (const std::string path : {"root", "root/sub", "root/c", "root/b", "root/j1"}) {
      CAPTURE(path);
      CHECK(direct(m, path, now) == reference_dump(m.status(path, now)));
    }
  }
  CHECK(direct(m, "root/nothing", t0) == "null");
}

TEST_CASE("TheDirectStatusJsonReplacesTheTopStateAndMapsEveryPid") {
  const TreeMirror m = varied_tree();
  StatusJsonOptions options;
  options.top_state = "stopping";
  options.shown_pid = [](int pid) { return pid + 5000; };
  nlohmann::json expected = m.status("root", t0 + 6s);
  expected["state"] = "stopping";
  std::vector<nlohmann::json*> stack{&expected};
  while (!stack.empty()) {
    nlohmann::json* node = stack.back();
    stack.pop_back();
    if (int pid = node->value("pid", 0); pid != 0) (*node)["pid"] = pid + 5000;
    if (node->contains("children")) {
      for (auto& child : (*node)["children"]) stack.push_back(&child);
    }
  }
  CHECK(direct(m, "root", t0 + 6s, options) == reference_dump(expected));
}

TEST_CASE("JsonStringsAreEscapedAsNlohmannDoes") {
  for (std::string text :
       {std::string(""), std::string("plain"), std::string("q\"b\\s/"),
        std::string("\x01\x1f\x7f\b\f\n\r\t", 9), std::string("nul\0x", 5),
        std::string("caf\xc3\xa9 \xf0\x9f\x98\x80"), std::string("bad \xff\xc3")}) {
    std::string out;
    append_json_string(text, &out);
    CHECK(out ==
          nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
}

TEST_CASE("JsonDocumentReadsAndPrintsAsNlohmannOrderedJson") {
  const std::vector<std::string> texts = {
      direct(varied_tree(), "root", t0 + 6s),
      R"({"b":1,"a":[1,-2,0,-0,1.5,1e5,2E-3,18446744073709551615,18446744073709551616,-9223372036854775808]})",
      R"({"s":"\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00\u0000x","e":{},"l":[],"n":null})",
      " [ true , false , null , \"caf\xc3\xa9\" , { \"k\\u00e9y\" : [ [ ] ] } ] ",
      "\"just a string\"",
      "42",
      R"({"a":1,"a":2})"};
  for (const std::string& text : texts) {
    CAPTURE(text);
    ctl::JsonDocument doc;
    REQUIRE(doc.parse(text));
    const auto reference = nlohmann::ordered_json::parse(text);
    if (text != R"({"a":1,"a":2})") {
      CHECK(doc.dump(doc.root(), 2) == reference.dump(2));
      CHECK(doc.dump(doc.root(), -1) == reference.dump());
    }
    if (reference.is_object()) {
      for (auto& [key, value] : reference.items()) {
        const ctl::JsonValue* found = doc.find(doc.root(), key);
        REQUIRE(found != nullptr);
        CHECK(doc.dump(*found, -1) == value.dump());
      }
    }
  }
}

TEST_CASE("JsonDocumentReadsDeepNesting") {
  // A status tree has two levels per supervisor.
  const std::string text = std::string(3000, '[') + "{}" + std::string(3000, ']');
  ctl::JsonDocument doc;
  REQUIRE(doc.parse(text));
  CHECK(doc.dump(doc.root(), -1) == text);
}

TEST_CASE("JsonDocumentRefusesWhatNlohmannRefuses") {
  const std::vector<std::string> bad = {"",
                                        " ",
                                        "{",
                                        "[1,]",
                                        "{\"a\":1,}",
                                        "{\"a\" 1}",
                                        "{1:2}",
                                        "01",
                                        "1.",
                                        ".5",
                                        "-",
                                        "1e",
                                        "+1",
                                        "tru",
                                        "nulls",
                                        "1 2",
                                        "\"open",
                                        "\"\\x\"",
                                        "\"\\u12\"",
                                        "\"\\ud800\"",
                                        "\"\\ud800\\u0041\"",
                                        "\"\\udc00\"",
                                        std::string("\"\x01\""),
                                        "\"\xc0\x80\"",
                                        "\"\xed\xa0\x80\"",
                                        "\"\xf4\x90\x80\x80\"",
                                        "\"\xe2\x82\"",
                                        "\"\x80\"",
                                        "[\"a\"]]"};
  for (const std::string& text : bad) {
    CAPTURE(text);
    CHECK_FALSE(nlohmann::ordered_json::accept(text));
    ctl::JsonDocument doc;
    CHECK_FALSE(doc.parse(text));
  }
}

TEST_CASE("JsonDocumentCountsAsNlohmannHoldsIntegers") {
  ctl::JsonDocument doc;
  REQUIRE(doc.parse(R"([0,7,-0,-3,1.0,1e2,18446744073709551615,18446744073709551616,"7",true])"));
  std::vector<std::optional<std::uint64_t>> counts;
  for (const ctl::JsonValue* v = doc.first(doc.root()); v != nullptr; v = doc.next(*v)) {
    counts.push_back(ctl::JsonDocument::count(*v));
  }
  const std::vector<std::optional<std::uint64_t>> expected = {0,
                                                              7,
                                                              0,
                                                              std::nullopt,
                                                              std::nullopt,
                                                              std::nullopt,
                                                              18446744073709551615ULL,
                                                              std::nullopt,
                                                              std::nullopt,
                                                              std::nullopt};
  CHECK(counts == expected);
}

TEST_CASE("TheStatusTableReadsTheSameFromADocumentAsFromATree") {
  const TreeMirror m = varied_tree();
  const std::string text = direct(m, "root", t0 + 6s);
  ctl::JsonDocument doc;
  REQUIRE(doc.parse(text));
  const std::string table = ctl::render_status_tree(doc, doc.root());
  CHECK(table == ctl::render_status_tree(nlohmann::ordered_json::parse(text)));
  // As otpsupctl printed it before it read replies into a JsonDocument.
  CHECK(table ==
        "root          running             pid 100  up 6s  restarts 0  one_for_one              "
        "    intensity 0/3 in 5s\n"
        "  a           running             pid 101  up 6s  restarts 7\n"
        "  b           frozen              pid 102  up 5s  restarts 0\n"
        "  c           restarting in 1.5s  pid -    up -   restarts 0\n"
        "  d           stopped             pid -    up -   restarts 0\n"
        "  sub         running             pid 104  up 6s  restarts 0  rest_for_one             "
        "    intensity 2/3 in 5s  PAUSED\n"
        "    x         running             pid 105  up 2s  restarts 1  \"say \"hi\"?? caf\xc3\xa9 "
        "\xef\xbf\xbd end\\\"\n"
        "  j1 (added)  starting            pid 106  up 0s  restarts 0\n");
}

TEST_CASE("TheStatusTableShowsEveryChildOfALargeTree") {
  std::vector<ChildSpec> children;
  for (int i = 0; i < 2000; ++i) children.push_back(worker("w" + std::to_string(i)));
  TreeMirror m;
  m.build({{"root", supervisor_spec("root", Strategy::one_for_one, children)}}, 1, t0);
  for (int i = 0; i < 2000; i += 2) {
    m.apply(record("root", "w" + std::to_string(i), "started", {{"pid", 1000 + i}}), t0);
  }
  const std::string text = direct(m, "root", t0 + 75s);
  ctl::JsonDocument doc;
  REQUIRE(doc.parse(text));
  const std::string table = ctl::render_status_tree(doc, doc.root());
  CHECK(table == ctl::render_status_tree(nlohmann::ordered_json::parse(text)));
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < table.size();) {
    const std::size_t end = table.find('\n', start);
    REQUIRE(end != std::string::npos);
    lines.push_back(table.substr(start, end - start));
    start = end + 1;
  }
  REQUIRE(lines.size() == 2001);
  for (int i = 0; i < 2000; ++i) {
    const std::string& line = lines[static_cast<std::size_t>(i) + 1];
    CAPTURE(line);
    CHECK(line.rfind("  w" + std::to_string(i) + " ", 0) == 0);
    CHECK((line.find(i % 2 == 0 ? "running" : "down") != std::string::npos));
    CHECK((line.find(i % 2 == 0 ? "pid " + std::to_string(1000 + i) + " " : "pid -") !=
           std::string::npos));
  }
  CHECK(lines[1] == "  w0     running  pid 1000  up 1m15s  restarts 0");
}
