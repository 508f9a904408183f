// herd's conformance kit: drives one plugin factory through the ABI only (the way the host drives
// it) and says, case by case, whether it keeps the contract of plugin_api.h. Used by
// `herd conformance` and by herd's own tests, so a third-party plugin is held to exactly what the
// in-tree ones are.
#pragma once

#include "plugins/instance.hpp"

#include <herd/plugin_api.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace herd::conformance {

struct Options {
    std::filesystem::path plugin;          // the .so under test
    herd_kind kind = HERD_KIND_KV;
    std::string factory;                   // "" = the plugin's only factory of the kind
    std::string config_json = "{}";        // the instance's table as JSON (what create() receives)
    std::filesystem::path config_dir;      // base of relative paths in the config (default: cwd)
    std::string media_type;                // sink items' media type ("" = scrape configs)
    std::set<std::string> require;         // capabilities whose absence fails instead of skipping
    std::string only;                      // run only cases whose id matches this glob ("kv.watch*")
    std::chrono::milliseconds case_timeout{120000};  // a case running longer is reported as hung
    std::chrono::milliseconds wait{10000};           // how long a promised event may take (first groups, a watch event)
    std::string stop_command, start_command;  // shell commands that stop and start the plugin's server
                                              // (the server-failure cases run only with both)
    bool verbose = false;                  // the plugin's own log at debug, not just warnings
    bool json = false;                     // one JSON report instead of the table
};

// Thrown by Context::require and skip to end a case; the runner catches it.
struct CaseEnded {};

// What a case sees: the factory under test and a place to write.
class Context {
public:
    Context(const Options& options, std::shared_ptr<plugins::LoadedPlugin> plugin, const herd_factory* factory,
            std::filesystem::path data_dir);

    const Options& options() const { return options_; }
    const herd_factory& factory() const { return *factory_; }
    const std::filesystem::path& data_dir() const { return data_dir_; }

    // An instance made from `config_json` (default: the options' config); a failed create ends
    // the case with the plugin's message.
    std::unique_ptr<plugins::Instance> create(const std::string& instance_name = "conformance");
    std::unique_ptr<plugins::Instance> try_create(const std::string& config_json, plugins::CreateError* error,
                                                  const std::string& instance_name = "conformance");

    // A prefix no other run uses, for keys a KV case writes into a store that may be shared.
    const std::string& unique_prefix() const { return prefix_; }

    // The server under the plugin, by the user's --stop-command / --start-command (a case that
    // needs them skips without; a command that fails ends the case).
    bool controls_server() const {
        return (stop_hook && start_hook) || (!options_.stop_command.empty() && !options_.start_command.empty());
    }
    void stop_server();
    void start_server();
    // In-process users (herd's own tests) control a server they own directly instead.
    std::function<void()> stop_hook, start_hook;

    void check(bool ok, std::string_view what);    // records a failure, goes on
    void require(bool ok, std::string_view what);  // records a failure, ends the case
    void note(std::string_view what);              // shown beside the result
    [[noreturn]] void skip(std::string_view why);  // not applicable to this plugin
    // A capability this plugin lacks: a skip, or a failure when the user required it.
    [[noreturn]] void lacks(std::string_view capability, std::string_view why);
    // The plugin chose the weaker answer the ABI allows: a note, or a failure when required.
    void without(std::string_view capability, std::string_view what);

    // Set up by the runner: where the verdicts go (one line per verdict). Without one, they are
    // kept in `verdicts` ("F: ...", "N: ...", "S: ...") for an in-process caller.
    int report_fd = -1;
    size_t failures = 0;
    std::vector<std::string> verdicts;

private:
    void emit(char type, std::string_view text);
    const Options& options_;
    std::shared_ptr<plugins::LoadedPlugin> plugin_;
    const herd_factory* factory_;
    std::filesystem::path data_dir_;
    std::string prefix_;
};

struct Case {
    const char* id;     // "kv.cas"
    const char* title;  // one line: what the contract is
    void (*run)(Context&);
};

// The cases for a kind, in the order they run.
std::vector<Case> cases_for(herd_kind kind);
std::vector<Case> common_cases();
std::vector<Case> kv_cases();
std::vector<Case> kv_server_cases();  // need --stop-command and --start-command
std::vector<Case> discovery_cases();
std::vector<Case> selector_cases();
std::vector<Case> affinity_cases();
std::vector<Case> sink_cases();

// One case by id ("kv.restart_cas"), or nullptr.
const Case* find_case(herd_kind kind, std::string_view id);
// Runs one case in this process (no fork): what herd's own tests use to run a kit case against a
// server they control through ctx's hooks. Returns true when it passed (or skipped: see verdicts).
bool run_here(const Case& c, Context& ctx);

// Loads the plugin, runs every selected case in its own child process (a crash or a hang is that
// case's failure, not the kit's) and prints the verdicts. Returns the exit code: 0 all passed,
// 1 a case failed, 2 the plugin or the options are unusable.
int run_suite(const Options& options, std::ostream& out, std::ostream& err);
// Prints the case ids and titles of a kind.
void list_cases(herd_kind kind, std::ostream& out);

// Helpers the cases share.
size_t thread_count();                                  // this process's threads (/proc/self/task)
// Waits for cond (checked every few milliseconds) up to `limit`: the kit awaits what a plugin
// promises to do, it never sleeps a fixed time for it.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = std::chrono::seconds(10));
std::string quote_key(std::string_view key);               // "key" as herd::sdk::printable_key shows it
const char* status_text(herd_status s);

}  // namespace herd::conformance
