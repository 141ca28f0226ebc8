// verb_demo.cpp - `nmleak demo [ARGS]`: runs the demo analyzer (examples/nmleak-demo).
#include "verb.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace nm::cli {
namespace {

namespace fs = std::filesystem;

// nmleak-demo next to nmleak (installed: both in bin/), or in the build tree's examples/.
std::string find_demo() {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return "";
    for (const fs::path &candidate : {self.parent_path() / "nmleak-demo",
                                      self.parent_path().parent_path() / "examples" / "nmleak-demo"})
        if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    return "";
}

class DemoVerb final : public Verb {
public:
    void configure(CLI::App &cmd) override {
        cmd_ = &cmd;
        cmd.prefix_command(); // everything after `demo` goes to nmleak-demo unchanged
        cmd.footer("Arguments go to nmleak-demo: --expert PATH (repeatable), --capture FILE, "
                   "--deadline SECONDS, --report-dir DIR.\nRuns the sample experts over the generated capture in one analyzer process: "
                   "one leaks, one crashes, one throws, one overruns its deadline. Prints a table "
                   "per expert and writes nmleak-report.txt and nmleak-report.json.");
    }

    int run() override {
        std::string demo = find_demo();
        if (demo.empty()) return fail("cannot find nmleak-demo next to nmleak or in ../examples/");
        std::vector<char *> argv{demo.data()};
        std::vector<std::string> args = cmd_->remaining();
        for (auto &a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(demo.c_str(), argv.data());
        return fail("cannot run " + demo + ": " + std::strerror(errno));
    }

private:
    CLI::App *cmd_ = nullptr;
};

} // namespace

NM_CLI_VERB(DemoVerb, "demo", "Run the demo analyzer: sample experts that leak, crash and overrun", 90);

} // namespace nm::cli
