// The configuration loader (otpsup/config.h, otpsup.toml(5)).
//
// Each error class has its own test asserting the line:column and the words
// a user sees. Commands in inline configs are absolute ("/bin/sh") unless the
// test is about the lookup; programs without a '/' are found in a temporary
// directory passed as ConfigContext::self_dir.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "otpsup/config.h"

#ifndef OTPSUP_TEST_DATA_DIR
#define OTPSUP_TEST_DATA_DIR "tests/data"  // when built by hand from the repository root
#endif

namespace {

namespace fs = std::filesystem;
using namespace otpsup;

const std::string kDataDir = OTPSUP_TEST_DATA_DIR;
const std::string kDemoFile = kDataDir + "/../../etc/otpsup.toml";
const std::string kExamplesDir = kDataDir + "/../../etc/examples";

// A fresh directory, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "otpsup-config-test.XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

  // Writes `name` with `mode`; returns its path.
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0644) const {
    const std::string file = path_ + "/" + name;
    std::ofstream(file) << text;
    REQUIRE(::chmod(file.c_str(), mode) == 0);
    return file;
  }
  std::string add_program(const std::string& name) const {
    return write(name, "#!/bin/sh\nexit 0\n", 0755);
  }

 private:
  std::string path_;
};

// The directory otpsupd would be in, with the two demo workers beside it.
struct DemoBinDir {
  TempDir dir;
  DemoBinDir() {
    dir.add_program("otpsup-counter");
    dir.add_program("otpsup-printer");
  }
  ConfigContext context() const { return ConfigContext{dir.path(), ""}; }
};

ConfigLoad load(std::string_view text, const ConfigContext& ctx = {}) {
  return load_config_text(text, "test.toml", ctx);
}

std::string all_errors(const ConfigLoad& result) {
  std::string text;
  for (const auto& e : result.errors) text += e.to_string() + "\n";
  return text;
}

// The one error the text must produce.
ConfigError only_error(std::string_view text, const ConfigContext& ctx = {}) {
  ConfigLoad result = load(text, ctx);
  INFO(all_errors(result));
  CHECK_FALSE(result.ok());
  REQUIRE(result.errors.size() == 1);
  return result.errors.front();
}

bool contains(const std::string& text, std::string_view fragment) {
  return text.find(fragment) != std::string::npos;
}

#define CHECK_AT(error, l, c)     \
  do {                            \
    CHECK((error).line == (l));   \
    CHECK((error).column == (c)); \
  } while (0)

#define CHECK_CONTAINS(text, fragment)   \
  do {                                   \
    INFO("text: " << (text));            \
    CHECK(contains((text), (fragment))); \
  } while (0)

std::vector<std::string> ids(const SupervisorSpec& s) {
  std::vector<std::string> out;
  for (const auto& c : s.children) out.push_back(c.id);
  return out;
}

constexpr std::string_view kMinimal = R"([supervisor.root]
children = ["w"]
[worker.w]
command = ["/bin/sh"]
)";

}  // namespace

// --- valid files -----------------------------------------------------------

TEST_CASE("the demo tree etc/otpsup.toml is valid: root over three demo supervisors") {
  DemoBinDir bin;
  ConfigLoad result = load_config_file(kDemoFile, bin.context());
  INFO(all_errors(result));
  REQUIRE(result.ok());
  const Config& config = *result.config;

  CHECK(config.source == kDemoFile);
  CHECK(config.daemon == DaemonSettings{});
  CHECK(config.supervisors.size() == 4);
  const SupervisorSpec& root = config.root();
  CHECK(root.strategy == Strategy::one_for_one);
  CHECK(root.intensity == 3);
  CHECK(root.period == Duration{5000});
  CHECK(ids(root) ==
        std::vector<std::string>{"demo_tracking", "demo_controllable", "demo_dynamic"});
  for (const ChildSpec& child : root.children) {
    CAPTURE(child.id);
    CHECK(child.is_supervisor);
    CHECK(child.shutdown.kind == Shutdown::Kind::infinity);
  }
  const SupervisorSpec& tracking = config.supervisors.at("demo_tracking");
  CHECK(tracking.strategy == Strategy::one_for_one);
  CHECK(ids(tracking) == std::vector<std::string>{"counter1", "counter2", "printer1"});
  CHECK(tracking.children[1].command ==
        std::vector<std::string>{"otpsup-counter", "--start", "100"});
  CHECK(tracking.children[0].executable == bin.dir.path() + "/otpsup-counter");
  CHECK(tracking.children[2].executable == bin.dir.path() + "/otpsup-printer");
  for (const ChildSpec& child : tracking.children) {
    CHECK(child.restart == RestartType::permanent);
    CHECK(child.shutdown == Shutdown{Shutdown::Kind::timeout, Duration{5000}});
  }
  CHECK(config.supervisors.at("demo_controllable").strategy == Strategy::rest_for_one);
  CHECK(config.supervisors.at("demo_dynamic").strategy == Strategy::dynamic);
  CHECK(config.supervisors.at("demo_dynamic").max_children == 100);
}

TEST_CASE("the example files in etc/examples are valid") {
  DemoBinDir bin;
  ConfigLoad pipeline = load_config_file(kExamplesDir + "/pipeline.toml", bin.context());
  INFO(all_errors(pipeline));
  REQUIRE(pipeline.ok());
  CHECK(pipeline.config->root().strategy == Strategy::rest_for_one);
  CHECK(ids(pipeline.config->root()) == std::vector<std::string>{"store", "reporter"});
  CHECK(pipeline.config->daemon.history_max_size == 16u << 20);
  CHECK(pipeline.config->root().children[1].normal_exit_codes == std::vector<int>{0, 3});

  ConfigLoad pair = load_config_file(kExamplesDir + "/pair.toml", bin.context());
  INFO(all_errors(pair));
  REQUIRE(pair.ok());
  CHECK(pair.config->root().strategy == Strategy::one_for_all);
  CHECK(pair.config->root().children[0].stop_signal == 2);
  CHECK(pair.config->root().children[1].shutdown.kind == Shutdown::Kind::brutal_kill);

  ConfigLoad readiness = load_config_file(kExamplesDir + "/readiness.toml", bin.context());
  INFO(all_errors(readiness));
  REQUIRE(readiness.ok());
  CHECK(ids(readiness.config->root()) == std::vector<std::string>{"counter1", "printer1"});
  CHECK(readiness.config->root().children[0].ready == ReadyKind::notify);
  CHECK(readiness.config->root().children[0].watchdog == Duration{5000});
}

TEST_CASE("omitted keys take the OTP defaults") {
  ConfigLoad result = load(R"([supervisor.root]
children = ["w", "sub"]
[supervisor.sub]
children = []
[worker.w]
command = ["/bin/sh"]
)");
  INFO(all_errors(result));
  REQUIRE(result.ok());
  const SupervisorSpec& root = result.config->root();
  CHECK(root.strategy == Strategy::one_for_one);
  CHECK(root.intensity == 1);
  CHECK(root.period == Duration{5000});
  CHECK(root.max_children == 0);
  CHECK_FALSE(root.allow_add);

  const ChildSpec& worker = root.children.at(0);
  CHECK(worker.restart == RestartType::permanent);
  CHECK(worker.shutdown == Shutdown{Shutdown::Kind::timeout, Duration{5000}});
  CHECK(worker.stop_signal == 15);
  CHECK(worker.normal_exit_codes == std::vector<int>{0});
  CHECK(worker.env.empty());
  CHECK_FALSE(worker.clear_env);
  CHECK_FALSE(worker.cwd.has_value());

  const ChildSpec& sub = root.children.at(1);
  CHECK(sub.is_supervisor);
  CHECK(sub.command.empty());
  CHECK(sub.restart == RestartType::permanent);
  CHECK(sub.shutdown.kind == Shutdown::Kind::infinity);
}

TEST_CASE("a nested tree fills every supervisor's children in order, templates included") {
  ConfigLoad result = load_config_file(kDataDir + "/config/nested.toml", {});
  INFO(all_errors(result));
  REQUIRE(result.ok());
  const Config& config = *result.config;
  CHECK(config.supervisors.size() == 3);
  CHECK(ids(config.root()) == std::vector<std::string>{"frontend", "backend"});
  CHECK(config.root().strategy == Strategy::one_for_all);

  const ChildSpec& backend = config.root().children.at(1);
  CHECK(backend.is_supervisor);
  CHECK(backend.restart == RestartType::transient);
  CHECK(backend.shutdown == Shutdown{Shutdown::Kind::timeout, Duration{10000}});

  const SupervisorSpec& backend_sup = config.supervisors.at("backend");
  CHECK(backend_sup.strategy == Strategy::rest_for_one);
  CHECK(backend_sup.intensity == 5);
  CHECK(backend_sup.period == Duration{60000});
  CHECK(backend_sup.pos == SourcePos{7, 1});
  CHECK(ids(backend_sup) == std::vector<std::string>{"db", "api"});
  CHECK(backend_sup.children[0].shutdown.kind == Shutdown::Kind::brutal_kill);
  CHECK(backend_sup.children[1].restart == RestartType::temporary);

  const SupervisorSpec& pool = config.supervisors.at("pool");
  CHECK(pool.strategy == Strategy::dynamic);
  CHECK(pool.max_children == 10);
  CHECK(pool.children.empty());

  CHECK(config.child_specs.size() == 7);
  CHECK(config.child_specs.at("template").command.at(0) == "/bin/sh");
  CHECK(config.child_specs.at("pool").is_supervisor);
  CHECK(config.child_specs.at("backend") == backend);
}

TEST_CASE("[daemon] keys are read; sizes are bytes or K/M/G strings") {
  ConfigLoad result = load(R"([daemon]
socket = "/run/test/otpsupd.sock"
state_dir = "/var/lib/test"
history_sync = "always"
history_max_size = "512K"
history_keep = 9
)" + std::string(kMinimal));
  INFO(all_errors(result));
  REQUIRE(result.ok());
  const DaemonSettings& d = result.config->daemon;
  CHECK(d.socket == "/run/test/otpsupd.sock");
  CHECK(d.state_dir == "/var/lib/test");
  CHECK(d.history_sync == HistorySync::always);
  CHECK(d.history_max_size == 512u * 1024u);
  CHECK(d.history_keep == 9);
  CHECK(std::string(to_string(HistorySync::batch)) == "batch");

  for (auto [text, bytes] :
       std::vector<std::pair<std::string, std::uint64_t>>{{"1000", 1000},
                                                          {"\"64M\"", 64ull << 20},
                                                          {"\"64MiB\"", 64ull << 20},
                                                          {"\"2g\"", 2ull << 30},
                                                          {"\"7\"", 7}}) {
    CAPTURE(text);
    ConfigLoad r = load("[daemon]\nhistory_max_size = " + text + "\n" + std::string(kMinimal));
    INFO(all_errors(r));
    REQUIRE(r.ok());
    CHECK(r.config->daemon.history_max_size == bytes);
  }
}

TEST_CASE("worker keys: stop_signal, normal_exit_codes, env, clear_env, cwd, restart, shutdown") {
  TempDir dir;
  ConfigLoad result = load(R"([supervisor.root]
children = ["a", "b"]
[worker.a]
command = ["/bin/sh", "-c", "exec sleep 60"]
stop_signal = "SIGINT"
normal_exit_codes = [0, 1, 255]
env = { LANG = "C", EMPTY = "" }
clear_env = true
cwd = ")" + dir.path() + R"("
restart = "transient"
shutdown = "250ms"
[worker.b]
command = ["/bin/sh"]
stop_signal = 10
shutdown = "infinity"
)");
  INFO(all_errors(result));
  REQUIRE(result.ok());
  const ChildSpec& a = result.config->root().children.at(0);
  CHECK(a.command == std::vector<std::string>{"/bin/sh", "-c", "exec sleep 60"});
  CHECK(a.executable == "/bin/sh");
  CHECK(a.stop_signal == 2);
  CHECK(a.normal_exit_codes == std::vector<int>{0, 1, 255});
  CHECK(a.env == std::map<std::string, std::string>{{"LANG", "C"}, {"EMPTY", ""}});
  CHECK(a.clear_env);
  CHECK(a.cwd == dir.path());
  CHECK(a.restart == RestartType::transient);
  CHECK(a.shutdown == Shutdown{Shutdown::Kind::timeout, Duration{250}});
  const ChildSpec& b = result.config->root().children.at(1);
  CHECK(b.stop_signal == 10);
  CHECK(b.shutdown.kind == Shutdown::Kind::infinity);
}

TEST_CASE(
    "a program without '/' is looked up in path_env, then in self_dir; the path is absolute") {
  TempDir first, second, self;
  first.write("tool", "not executable\n", 0644);  // skipped: not executable
  const std::string in_path = second.add_program("tool");
  self.add_program("tool");
  self.add_program("only-here");
  const ConfigContext ctx{self.path(), "/nonexistent:" + first.path() + "::" + second.path()};

  ConfigLoad result = load(R"([supervisor.root]
children = ["a", "b"]
[worker.a]
command = ["tool"]
[worker.b]
command = ["only-here", "x"]
)",
                           ctx);
  INFO(all_errors(result));
  REQUIRE(result.ok());
  CHECK(result.config->root().children[0].executable == in_path);
  CHECK(result.config->root().children[1].executable == self.path() + "/only-here");
  CHECK(result.config->root().children[1].command == std::vector<std::string>{"only-here", "x"});
}

TEST_CASE("a program with '/' is checked as given and made absolute") {
  TempDir dir;
  dir.add_program("prog");
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir.path());
  ConfigLoad result = load(R"([supervisor.root]
children = ["a"]
[worker.a]
command = ["./prog"]
)");
  fs::current_path(old_cwd);
  INFO(all_errors(result));
  REQUIRE(result.ok());
  CHECK(result.config->root().children[0].executable ==
        fs::path(dir.path()).lexically_normal().string() + "/prog");
}

TEST_CASE("supervisors and workers not reachable from root are allowed but still validated") {
  ConfigError e = only_error(R"([supervisor.root]
children = []
[worker.spare]
command = ["/bin/sh"]
restart = "sometimes"
)");
  CHECK_AT(e, 5, 11);
  CHECK(e.message ==
        "restart: expected one of \"permanent\", \"transient\" or \"temporary\", "
        "found \"sometimes\"");
}

// --- errors ----------------------------------------------------------------

TEST_CASE("ConfigError::to_string is file:line:col: message (hint)") {
  CHECK(ConfigError{"a.toml", 3, 7, "bad", "try this"}.to_string() == "a.toml:3:7: bad (try this)");
  CHECK(ConfigError{"a.toml", 3, 7, "bad", ""}.to_string() == "a.toml:3:7: bad");
  CHECK(ConfigError{"a.toml", 0, 0, "bad", ""}.to_string() == "a.toml: bad");
}

TEST_CASE("an unreadable file is one error without a position") {
  ConfigLoad result = load_config_file("/nonexistent/otpsup.toml", {});
  CHECK_FALSE(result.ok());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string() ==
        "/nonexistent/otpsup.toml: cannot open the file: No such file or directory");

  TempDir dir;
  ConfigLoad directory = load_config_file(dir.path(), {});
  REQUIRE(directory.errors.size() == 1);
  CHECK_CONTAINS(directory.errors[0].message, "Is a directory");
}

TEST_CASE("a TOML syntax error is reported with its position") {
  ConfigError e = only_error(R"([supervisor.root]
children = []
intensity =
)");
  CHECK(e.file == "test.toml");
  CHECK_AT(e, 3, 12);
  CHECK_CONTAINS(e.message, "TOML syntax error: ");
  CHECK_CONTAINS(e.message, "expected value");

  ConfigError twice = only_error(R"([supervisor.root]
children = []
[supervisor.root]
)");
  CHECK_AT(twice, 3, 1);
  CHECK_CONTAINS(twice.message, "cannot redefine existing table 'supervisor.root'");
}

TEST_CASE("a misspelt key is reported with did-you-mean") {
  ConfigError e = only_error(R"([supervisor.root]
strategy = "one_for_one"
intensty = 3
children = []
)");
  CHECK_AT(e, 3, 1);
  CHECK(e.message == "unknown key 'intensty' in [supervisor.root]");
  CHECK(e.hint == "did you mean 'intensity'?");
  CHECK(e.to_string() ==
        "test.toml:3:1: unknown key 'intensty' in [supervisor.root] (did you mean 'intensity'?)");
}

TEST_CASE("an unknown key far from every valid one has no suggestion") {
  ConfigError e = only_error(R"([supervisor.root]
children = []
colour = "blue"
)");
  CHECK_AT(e, 3, 1);
  CHECK(e.message == "unknown key 'colour' in [supervisor.root]");
  CHECK(e.hint.empty());
}

TEST_CASE("a worker key in a supervisor section says where it belongs") {
  ConfigError e = only_error(R"([supervisor.root]
children = []
command = ["/bin/sh"]
)");
  CHECK_AT(e, 3, 1);
  CHECK(e.message == "unknown key 'command' in [supervisor.root]");
  CHECK(e.hint == "'command' belongs in a [worker.NAME] section");
}

TEST_CASE("unknown keys in [daemon] and [worker.NAME]") {
  ConfigLoad result = load(R"([daemon]
history_sinc = "never"
[supervisor.root]
children = ["w"]
[worker.w]
command = ["/bin/sh"]
stopsignal = "INT"
)");
  REQUIRE(result.errors.size() == 2);
  CHECK_AT(result.errors[0], 2, 1);
  CHECK(result.errors[0].message == "unknown key 'history_sinc' in [daemon]");
  CHECK(result.errors[0].hint == "did you mean 'history_sync'?");
  CHECK_AT(result.errors[1], 7, 1);
  CHECK(result.errors[1].message == "unknown key 'stopsignal' in [worker.w]");
  CHECK(result.errors[1].hint == "did you mean 'stop_signal'?");
}

TEST_CASE("an unknown top-level table is reported with did-you-mean") {
  ConfigError e = only_error(R"([supervisor.root]
children = []
[workers.w]
command = ["/bin/sh"]
)");
  CHECK_AT(e, 3, 2);
  CHECK(e.message ==
        "unknown top-level table 'workers'; expected [daemon], [supervisor.NAME] or [worker.NAME]");
  CHECK(e.hint == "did you mean 'worker'?");

  ConfigError key = only_error("name = \"x\"\n" + std::string(kMinimal));
  CHECK_AT(key, 1, 1);
  CHECK_CONTAINS(key.message, "unknown top-level key 'name'");
}

TEST_CASE("a value of the wrong type: expected an integer, found a string") {
  ConfigError e = only_error(R"([supervisor.root]
intensity = "3"
children = []
)");
  CHECK_AT(e, 2, 13);
  CHECK(e.message == "intensity: expected an integer, found a string");
  CHECK(e.hint == "write 3 without quotes");
}

TEST_CASE("wrong types in arrays name the element") {
  ConfigLoad result = load(R"([supervisor.root]
children = ["w", 2]
[worker.w]
command = ["/bin/sh", 1]
allow_add = "yes"
)");
  INFO(all_errors(result));
  REQUIRE(result.errors.size() == 3);
  CHECK_AT(result.errors[0], 2, 18);
  CHECK(result.errors[0].message == "children[1]: expected a string, found an integer");
  CHECK_AT(result.errors[1], 4, 23);
  CHECK(result.errors[1].message == "command[1]: expected a string, found an integer");
  CHECK_AT(result.errors[2], 5, 1);
  CHECK(result.errors[2].message == "unknown key 'allow_add' in [worker.w]");
}

TEST_CASE("a boolean written as a string") {
  ConfigError e = only_error(R"([supervisor.root]
children = []
allow_add = "true"
)");
  CHECK_AT(e, 3, 13);
  CHECK(e.message == "allow_add: expected a boolean (true or false), found a string");
  CHECK(e.hint == "write true without quotes");
}

TEST_CASE("an unknown strategy lists the valid ones") {
  ConfigError e = only_error(R"([supervisor.root]
strategy = "one_for_none"
children = []
)");
  CHECK_AT(e, 2, 12);
  CHECK(e.message ==
        "strategy: expected one of \"one_for_one\", \"one_for_all\", "
        "\"rest_for_one\" or \"dynamic\", found \"one_for_none\"");
  CHECK(e.hint == "did you mean 'one_for_one'?");
}

TEST_CASE("bad enum values for restart and history_sync") {
  ConfigLoad result = load(R"([daemon]
history_sync = "sometimes"
[supervisor.root]
children = ["w"]
[worker.w]
command = ["/bin/sh"]
restart = "permanant"
)");
  REQUIRE(result.errors.size() == 2);
  CHECK_AT(result.errors[0], 2, 16);
  CHECK(result.errors[0].message ==
        "history_sync: expected one of \"always\", \"batch\" or \"never\", found \"sometimes\"");
  CHECK_AT(result.errors[1], 7, 11);
  CHECK(result.errors[1].hint == "did you mean 'permanent'?");
}

TEST_CASE("a bad duration: \"5 parsecs\"") {
  ConfigError e = only_error(R"([supervisor.root]
period = "5 parsecs"
children = []
)");
  CHECK_AT(e, 2, 10);
  CHECK(e.message ==
        "period: expected a duration such as \"5s\", \"250ms\" or \"2m\", found \"5 parsecs\"");
}

TEST_CASE("a duration written as a number gets the fix as a hint") {
  ConfigError e = only_error(R"([supervisor.root]
period = 5
children = []
)");
  CHECK_AT(e, 2, 10);
  CHECK(e.message ==
        "period: expected a duration such as \"5s\", \"250ms\" or \"2m\", found an integer");
  CHECK(e.hint == "durations are strings with a unit: write \"5s\" or \"5ms\"");
}

TEST_CASE("period must be greater than zero; shutdown may be zero") {
  ConfigError e = only_error(R"([supervisor.root]
period = "0s"
children = ["w"]
[worker.w]
command = ["/bin/sh"]
shutdown = "0s"
)");
  CHECK_AT(e, 2, 10);
  CHECK(e.message == "period: expected a duration greater than zero, found \"0s\"");
}

TEST_CASE("a bad shutdown value") {
  ConfigError e = only_error(R"([supervisor.root]
children = ["w"]
[worker.w]
command = ["/bin/sh"]
shutdown = "brutal-kill"
)");
  CHECK_AT(e, 5, 12);
  CHECK(e.message ==
        "shutdown: expected \"brutal_kill\", \"infinity\" or a duration such as "
        "\"5s\", \"250ms\" or \"2m\", found \"brutal-kill\"");
  CHECK(e.hint == "did you mean 'brutal_kill'?");
}

TEST_CASE("intensity must not be negative") {
  ConfigError e = only_error(R"([supervisor.root]
intensity = -1
children = []
)");
  CHECK_AT(e, 2, 13);
  CHECK(e.message == "intensity: expected an integer >= 0, found -1");
}

TEST_CASE("a dynamic supervisor may not list children") {
  ConfigError e = only_error(R"([supervisor.root]
strategy = "dynamic"
children = ["w"]
[worker.w]
command = ["/bin/sh"]
)");
  CHECK_AT(e, 3, 12);
  CHECK(e.message == "children: a dynamic supervisor starts with no children, found 1");

  ConfigLoad empty = load(R"([supervisor.root]
strategy = "dynamic"
children = []
)");
  INFO(all_errors(empty));
  CHECK(empty.ok());
}

TEST_CASE("max_children is only for a dynamic supervisor") {
  ConfigError e = only_error(R"([supervisor.root]
children = []
max_children = 5
)");
  CHECK_AT(e, 3, 16);
  CHECK(e.message ==
        "max_children: only a dynamic supervisor takes max_children, but strategy "
        "is \"one_for_one\"");
}

TEST_CASE("a static supervisor needs children; a worker needs a non-empty command") {
  ConfigLoad result = load(R"([supervisor.root]
children = ["w", "v"]
[worker.w]
restart = "permanent"
[worker.v]
command = []
)");
  INFO(all_errors(result));
  REQUIRE(result.errors.size() == 2);
  CHECK_AT(result.errors[0], 3, 1);
  CHECK(result.errors[0].message == "[worker.w]: missing required key 'command'");
  CHECK_AT(result.errors[1], 6, 11);
  CHECK(result.errors[1].message == "command: expected a non-empty array of strings, found []");

  ConfigError e = only_error(R"([supervisor.root]
strategy = "one_for_all"
)");
  CHECK_AT(e, 1, 1);
  CHECK(e.message == "[supervisor.root]: missing required key 'children'");
}

TEST_CASE("the root supervisor is required") {
  ConfigError e = only_error(R"([supervisor.main]
children = []
)");
  CHECK(e.line == 0);
  CHECK(e.to_string() ==
        "test.toml: no [supervisor.root] section: the root supervisor must be named 'root' (add a "
        "[supervisor.root] section listing the top-level children)");

  ConfigError worker = only_error(R"([worker.root]
command = ["/bin/sh"]
)");
  CHECK(worker.hint == "'root' is defined as a worker; the root must be a supervisor");
}

TEST_CASE("a name defined both as a worker and as a supervisor") {
  ConfigError e = only_error(R"([supervisor.root]
children = ["x"]
[worker.x]
command = ["/bin/sh"]
[supervisor.x]
children = []
)");
  CHECK_AT(e, 5, 13);
  CHECK(e.message == "'x' is defined both as [supervisor.x] and as [worker.x] (first at 3:9)");
}

TEST_CASE("a child that is not defined, with did-you-mean over the defined names") {
  ConfigError e = only_error(R"([supervisor.root]
children = ["counter1", "conter2"]
[worker.counter1]
command = ["/bin/sh"]
[worker.counter2]
command = ["/bin/sh"]
)");
  CHECK_AT(e, 2, 25);
  CHECK(e.message == "child 'conter2' of [supervisor.root] is not defined");
  CHECK(e.hint == "did you mean 'counter2'?");

  ConfigError far = only_error(R"([supervisor.root]
children = ["database"]
)");
  CHECK(far.hint == "define it as [worker.database] or [supervisor.database]");
}

TEST_CASE("a child listed twice in one supervisor") {
  ConfigError e = only_error(R"([supervisor.root]
children = ["w", "w"]
[worker.w]
command = ["/bin/sh"]
)");
  CHECK_AT(e, 2, 18);
  CHECK(e.message == "child 'w' is listed twice in [supervisor.root] (first at 2:13)");
}

TEST_CASE("a child listed under two supervisors") {
  ConfigError e = only_error(R"([supervisor.root]
children = ["w", "sub"]
[supervisor.sub]
children = ["w"]
[worker.w]
command = ["/bin/sh"]
)");
  CHECK_AT(e, 4, 13);
  CHECK(e.message ==
        "child 'w' is already a child of [supervisor.root] (at 2:13); a child has "
        "exactly one supervisor");
}

TEST_CASE("a cycle of supervisors is reported with its path") {
  ConfigError e = only_error(R"([supervisor.root]
children = ["a"]
[supervisor.a]
children = ["b"]
[supervisor.b]
children = ["c"]
[supervisor.c]
children = ["a"]
)");
  CHECK_AT(e, 8, 13);
  CHECK(e.message == "supervisors form a cycle: a -> b -> c -> a");
  CHECK(e.hint == "a supervisor cannot contain itself, directly or through its children");

  ConfigError unreachable = only_error(R"([supervisor.root]
children = []
[supervisor.b]
children = ["a"]
[supervisor.a]
children = ["b"]
)");
  CHECK_AT(unreachable, 6, 13);
  CHECK(unreachable.message == "supervisors form a cycle: b -> a -> b");

  ConfigError self = only_error(R"([supervisor.root]
children = []
[supervisor.loop]
children = ["loop"]
)");
  CHECK_AT(self, 4, 13);
  CHECK(self.message == "supervisors form a cycle: loop -> loop");
}

TEST_CASE("the root cannot be a child") {
  ConfigError e = only_error(R"([supervisor.root]
children = ["sub"]
[supervisor.sub]
children = ["root"]
)");
  CHECK_AT(e, 4, 13);
  CHECK(e.message == "'root' is the root supervisor and cannot be a child");
}

TEST_CASE("a command whose program cannot be found") {
  TempDir self;
  ConfigError e = only_error(R"([supervisor.root]
children = ["w"]
[worker.w]
command = ["otpsup-nonexistent", "--flag"]
)",
                             ConfigContext{self.path(), "/nonexistent-dir"});
  CHECK_AT(e, 4, 12);
  CHECK(e.message == "command: 'otpsup-nonexistent' not found in $PATH or '" + self.path() + "'");
  CHECK_CONTAINS(e.hint, "absolute path");

  ConfigError none = only_error(R"([supervisor.root]
children = ["w"]
[worker.w]
command = ["otpsup-nonexistent"]
)");
  CHECK(none.message == "command: 'otpsup-nonexistent' not found (no directories to search)");
}

TEST_CASE("a command path that does not exist, is a directory or is not executable") {
  TempDir dir;
  const std::string plain = dir.write("plain", "data\n", 0644);
  ConfigLoad result = load(R"([supervisor.root]
children = ["a", "b", "c"]
[worker.a]
command = ["/nonexistent/prog"]
[worker.b]
command = [")" + dir.path() +
                           R"("]
[worker.c]
command = [")" + plain + R"("]
)");
  REQUIRE(result.errors.size() == 3);
  CHECK(result.errors[0].message == "command: '/nonexistent/prog' does not exist");
  CHECK(result.errors[1].message == "command: '" + dir.path() + "' is a directory");
  CHECK(result.errors[2].message == "command: '" + plain + "' is not executable");
  CHECK_AT(result.errors[2], 8, 12);

  const ConfigError found = only_error(R"([supervisor.root]
children = ["a"]
[worker.a]
command = ["plain"]
)",
                                       ConfigContext{dir.path(), ""});
  CHECK(found.message == "command: 'plain' was found as '" + plain + "', which is not executable");
}

TEST_CASE("worker value errors: exit codes, signals, env, cwd") {
  ConfigLoad result = load(R"([supervisor.root]
children = ["w"]
[worker.w]
command = ["/bin/sh"]
normal_exit_codes = [0, 256]
stop_signal = "TREM"
env = { A = 1 }
cwd = "/nonexistent/dir"
)");
  INFO(all_errors(result));
  REQUIRE(result.errors.size() == 4);
  CHECK_AT(result.errors[0], 5, 25);
  CHECK(result.errors[0].message ==
        "normal_exit_codes[1]: expected an integer from 0 to 255, found 256");
  CHECK_AT(result.errors[1], 6, 15);
  CHECK(result.errors[1].message ==
        "stop_signal: expected a signal name such as \"TERM\" or \"SIGINT\", found \"TREM\"");
  CHECK(result.errors[1].hint == "did you mean 'TERM'?");
  CHECK_AT(result.errors[2], 7, 13);
  CHECK(result.errors[2].message == "env.A: expected a string, found an integer");
  CHECK_AT(result.errors[3], 8, 7);
  CHECK(result.errors[3].message ==
        "cwd: expected an existing directory, found \"/nonexistent/dir\"");

  ConfigError number = only_error(R"([supervisor.root]
children = ["w"]
[worker.w]
command = ["/bin/sh"]
stop_signal = 0
)");
  CHECK(number.message == "stop_signal: expected a signal number from 1 to 64, found 0");
}

TEST_CASE("readiness keys: ready, start_timeout, watchdog") {
  ConfigLoad result = load(R"([supervisor.root]
children = ["a", "b", "c"]
[worker.a]
command = ["/bin/sh"]
ready = "notify"
watchdog = "2s"
[worker.b]
command = ["/bin/sh"]
ready = { fd = 4 }
start_timeout = "infinity"
[worker.c]
command = ["/bin/sh"]
start_timeout = "3s"
)");
  INFO(all_errors(result));
  REQUIRE(result.ok());
  const auto& children = result.config->root().children;
  CHECK(children[0].ready == ReadyKind::notify);
  CHECK(children[0].watchdog == Duration{2000});
  CHECK(children[0].start_timeout == Duration{60000});  // the default
  CHECK(children[1].ready == ReadyKind::fd);
  CHECK(children[1].ready_fd == 4);
  CHECK(children[1].start_timeout == Duration{0});  // infinity
  CHECK(children[2].ready == ReadyKind::none);
  CHECK(children[2].start_timeout == Duration{3000});
}

TEST_CASE("readiness value errors: ready, its fd, watchdog") {
  ConfigLoad result = load(R"([supervisor.root]
children = ["w", "x"]
[worker.w]
command = ["/bin/sh"]
ready = "yes"
watchdog = "0s"
[worker.x]
command = ["/bin/sh"]
channel = true
ready = { fd = 3 }
)");
  INFO(all_errors(result));
  REQUIRE(result.errors.size() == 3);
  CHECK_AT(result.errors[0], 5, 9);
  CHECK(result.errors[0].message == "ready: expected \"notify\" or { fd = N }, found \"yes\"");
  CHECK_AT(result.errors[1], 6, 12);
  CHECK_AT(result.errors[2], 10, 9);
  CHECK(result.errors[2].message ==
        "ready: fd 3 is the message channel of this worker (channel = true)");

  ConfigError low = only_error(R"([supervisor.root]
children = ["w"]
[worker.w]
command = ["/bin/sh"]
ready = { fd = 2 }
)");
  CHECK(low.message == "ready.fd: expected an integer from 3 to 255, found 2");
  ConfigError key = only_error(R"([supervisor.root]
children = ["w"]
[worker.w]
command = ["/bin/sh"]
ready = { file = 4 }
)");
  CHECK(key.message.find("ready: expected only the key 'fd'") == 0);
}

TEST_CASE("[daemon] value errors: paths, sizes, history_keep") {
  ConfigLoad result = load(R"([daemon]
socket = "relative.sock"
state_dir = 7
history_max_size = "64 megabytes"
history_keep = 0
)" + std::string(kMinimal));
  INFO(all_errors(result));
  REQUIRE(result.errors.size() == 4);
  CHECK(result.errors[0].message == "socket: expected an absolute path, found \"relative.sock\"");
  CHECK(result.errors[1].message == "state_dir: expected a string, found an integer");
  CHECK_AT(result.errors[2], 4, 20);
  CHECK(result.errors[2].message ==
        "history_max_size: expected a size in bytes greater than zero, such as 67108864, "
        "\"512K\" or \"64M\", found \"64 megabytes\"");
  CHECK(result.errors[3].message == "history_keep: expected an integer >= 1, found 0");

  ConfigError longpath =
      only_error("[daemon]\nsocket = \"/" + std::string(120, 's') + "\"\n" + std::string(kMinimal));
  CHECK_CONTAINS(longpath.message, "a Unix socket path can be at most 107");
}

TEST_CASE("invalid names are rejected") {
  ConfigLoad result = load(R"([supervisor.root]
children = []
[worker."a/b"]
command = ["/bin/sh"]
[supervisor.".."]
children = []
)");
  INFO(all_errors(result));
  REQUIRE(result.errors.size() == 2);
  CHECK_AT(result.errors[0], 3, 9);
  CHECK_CONTAINS(result.errors[0].message, "invalid worker name \"a/b\"");
  CHECK_AT(result.errors[1], 5, 13);
  CHECK_CONTAINS(result.errors[1].message, "invalid supervisor name \"..\"");
}

TEST_CASE("multiple errors are reported together, in file order") {
  ConfigLoad result = load_config_file(kDataDir + "/config/many_errors.toml", {});
  CHECK_FALSE(result.ok());
  std::vector<std::string> lines;
  for (const auto& e : result.errors) lines.push_back(e.to_string());
  const std::string file = kDataDir + "/config/many_errors.toml";
  CHECK(lines == std::vector<std::string>{
                     file + ":3:12: strategy: expected one of \"one_for_one\", \"one_for_all\", "
                            "\"rest_for_one\" or \"dynamic\", found \"one_for_none\" (did you "
                            "mean 'one_for_one'?)",
                     file + ":4:1: unknown key 'intensty' in [supervisor.root] (did you mean "
                            "'intensity'?)",
                     file + ":5:10: period: expected a duration such as \"5s\", \"250ms\" or "
                            "\"2m\", found \"5 parsecs\"",
                     file + ":6:21: child 'missing' of [supervisor.root] is not defined (define "
                            "it as [worker.missing] or [supervisor.missing])",
                     file + ":10:11: restart: expected one of \"permanent\", \"transient\" or "
                            "\"temporary\", found an integer",
                     file + ":13:12: command: '/nonexistent/program' does not exist",
                 });
}

TEST_CASE("worker credentials and limits: user, group, umask, rlimits, nice, no_new_privs") {
  ConfigLoad result = load(R"([supervisor.root]
children = ["a", "b"]
[worker.a]
command = ["/bin/sh"]
user = "root"
group = "0"
umask = "027"
rlimits = { nofile = 1024, core = "unlimited", cpu = [10, 20] }
nice = 5
no_new_privs = true
[worker.b]
command = ["/bin/sh"]
umask = 0o22
)");
  INFO(all_errors(result));
  REQUIRE(result.ok());
  const ChildSpec& a = result.config->root().children.at(0);
  CHECK(a.user == "root");
  CHECK(a.group == "0");
  CHECK(a.umask == 027);
  REQUIRE(a.rlimits.size() == 3);
  CHECK(a.rlimits.at("nofile") == ResourceLimit{1024, 1024});
  CHECK(a.rlimits.at("core") == ResourceLimit{});
  CHECK(a.rlimits.at("cpu") == ResourceLimit{10, 20});
  CHECK(a.nice == 5);
  CHECK(a.no_new_privs);
  const ChildSpec& b = result.config->root().children.at(1);
  CHECK(b.umask == 022);
  CHECK_FALSE(b.user.has_value());
  CHECK(b.rlimits.empty());
  CHECK_FALSE(b.nice.has_value());
  CHECK_FALSE(b.no_new_privs);
}

TEST_CASE("worker credential errors name the value and where it is") {
  ConfigLoad result = load(R"([supervisor.root]
children = ["w"]
[worker.w]
command = ["/bin/sh"]
user = "no-such-user-otpsup"
group = "no-such-group-otpsup"
umask = 22
rlimits = { nofiles = 10, core = -1, cpu = [20, 10] }
nice = 20
)");
  INFO(all_errors(result));
  REQUIRE(result.errors.size() == 7);
  CHECK_AT(result.errors[0], 5, 8);
  CHECK(result.errors[0].message == "user: user \"no-such-user-otpsup\" does not exist");
  CHECK_AT(result.errors[1], 6, 9);
  CHECK(result.errors[1].message == "group: group \"no-such-group-otpsup\" does not exist");
  CHECK_AT(result.errors[2], 7, 9);
  CHECK(result.errors[2].message ==
        "umask: expected an octal mode such as \"022\" or 0o022, found 22");
  CHECK(result.errors[2].hint == "an integer umask must be written in octal: 0o22");
  CHECK_AT(result.errors[3], 8, 13);
  CHECK(result.errors[3].message ==
        "rlimits: unknown limit 'nofiles', expected one of nofile, nproc, core, as, cpu");
  CHECK(result.errors[3].hint == "did you mean 'nofile'?");
  CHECK(result.errors[4].message ==
        "rlimits.core: expected an integer >= 0 or \"unlimited\", found -1");
  CHECK(result.errors[5].message == "rlimits.cpu: the soft limit is above the hard limit");
  CHECK(result.errors[6].message == "nice: expected an integer from -20 to 19, found 20");
}
