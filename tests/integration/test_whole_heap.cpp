// test_whole_heap.cpp - `nmleak run` on unmodified programs (built here, and Debian's own): same
// output and exit status as without it, every leak found at its function and charged to the module
// that made it, threads, fork and exec, dlopen/dlclose, misuse recorded while the program goes on.
#include "../support/report_json.hpp"
#include "../support/run_program.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using nmt::key_named;

// Runs a program: exit status (128+N when killed by signal N) and stdout (tests/support).
using Result = nmt::RunResult;
using nmt::run;

class WholeHeap : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("nmt-heap-" + std::to_string(getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Runs PROG plain and under `nmleak run`: same output and status; returns the JSON report.
    json run_both(const std::vector<std::string> &prog, const std::vector<std::string> &options = {}) {
        const Result plain = run(prog);
        std::vector<std::string> argv = {NMT_NMLEAK, "run", "-q", "--report", (dir_ / "r.json").string()};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.push_back("--");
        argv.insert(argv.end(), prog.begin(), prog.end());
        const Result tracked = run(argv);
        EXPECT_EQ(tracked.status, plain.status) << prog[0];
        EXPECT_EQ(tracked.out, plain.out) << prog[0];
        std::ifstream in(dir_ / "r.json");
        if (!in) {
            ADD_FAILURE() << "no report for " << prog[0];
            return json::object();
        }
        return json::parse(in);
    }

    fs::path dir_;
};

std::string file_name(const std::string &path) { return fs::path(path).filename().string(); }

TEST_F(WholeHeap, CProgramLeaksAreFoundAtTheirFunctions) {
    const json r = run_both({NMT_HEAP_C});
    const json *k = key_named(r, file_name(NMT_HEAP_C));
    ASSERT_NE(k, nullptr) << r.dump(1).substr(0, 2000);
    EXPECT_EQ(nmt::leaked_bytes(*k, "c_leak_malloc"), 10u * 1000 + (0 + 10 + 20 + 30 + 40 + 50 + 60 + 70 + 80 + 90));
    EXPECT_EQ(nmt::leaked_bytes(*k, "c_leak_strdup"), sizeof "left behind on purpose");
    EXPECT_EQ(nmt::leaked_bytes(*k, "c_leak_aligned"), 3000u);
    EXPECT_EQ(k->value("misuse", json::array()).size(), 0u);
    EXPECT_GE((*k)["allocs"].get<uint64_t>(), 107u);
}

TEST_F(WholeHeap, CppThreadsAcrossThreadFreesAndStlLeaks) {
    const json r = run_both({NMT_HEAP_CPP});
    const json *k = key_named(r, file_name(NMT_HEAP_CPP));
    ASSERT_NE(k, nullptr);
    // The vector itself (operator new called from cpp_leak_strings), and 20 strings of 100 chars
    // (101-byte buffers, made by allocator code inlined into it) at the program's own code.
    EXPECT_EQ(nmt::leaked_bytes(*k, "cpp_leak_strings"), 24u);
    bool strings = false;
    for (const json &l : (*k)["leaks"])
        if (l["size"] == 101 && l["count"] == 20 && l["stack"].size() &&
            l["stack"][0].value("module", "").find("nmt_heap_cpp") != std::string::npos)
            strings = true;
    EXPECT_TRUE(strings) << (*k)["leaks"].dump(1).substr(0, 3000);
    EXPECT_EQ(nmt::leaked_bytes(*k, "cpp_leak_array"), 64u * sizeof(int));
    // 20000 strings made on 4 threads were all deleted on 4 others: none is left.
    for (const json &l : (*k)["leaks"])
        for (const json &f : l["stack"]) EXPECT_EQ(f.value("function", "").find("producer"), std::string::npos);
    EXPECT_GE((*k)["frees"].get<uint64_t>(), 20000u);
}

TEST_F(WholeHeap, MismatchedFreesAreRecordedAndTheProgramGoesOn) {
    const json r = run_both({NMT_HEAP_CPP, "--mismatch"});
    const json *k = key_named(r, file_name(NMT_HEAP_CPP));
    ASSERT_NE(k, nullptr);
    EXPECT_EQ((*k)["misuse"].size(), 2u) << (*k)["misuse"].dump(1);
}

TEST_F(WholeHeap, PluginLeaksAreChargedToThePlugin) {
    const json r = run_both({NMT_HEAP_DLOPEN, NMT_HEAP_PLUGIN});
    const json *plugin = key_named(r, file_name(NMT_HEAP_PLUGIN));
    ASSERT_NE(plugin, nullptr) << "no key for the plugin";
    // One per load, the plugin unloaded in between: both on the one key of its file name.
    EXPECT_EQ((*plugin)["outstanding_bytes"].get<uint64_t>(), 2u * 777);
    EXPECT_EQ((*plugin)["outstanding_blocks"].get<uint64_t>(), 2u);
    const json *main_key = key_named(r, file_name(NMT_HEAP_DLOPEN));
    ASSERT_NE(main_key, nullptr);
    bool own = false; // the main program's 333 bytes, made in main itself
    for (const json &l : (*main_key)["leaks"])
        if (l["bytes"] == 333 && l["stack"].size() && l["stack"][0].value("function", "") == "main") own = true;
    EXPECT_TRUE(own) << (*main_key)["leaks"].dump(1).substr(0, 3000);
}

TEST_F(WholeHeap, ForkAndExec) {
    const json r = run_both({NMT_HEAP_FORK});
    const json *k = key_named(r, file_name(NMT_HEAP_FORK));
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(nmt::leaked_bytes(*k, "fork_parent_leak"), sizeof "parent leak");
    EXPECT_EQ(r["process"]["pid"].get<int>() > 0, true);
}

TEST_F(WholeHeap, NoHeapLeavesTheProgramUntracked) {
    const Result plain = run({NMT_HEAP_C});
    const Result r = run({NMT_NMLEAK, "run", "-q", "--no-heap", "--report", (dir_ / "r.json").string(), "--", NMT_HEAP_C});
    EXPECT_EQ(r.out, plain.out);
    EXPECT_EQ(r.status, plain.status);
    // The agent's libnmapi still writes the report: with no keys at all.
    std::ifstream in(dir_ / "r.json");
    ASSERT_TRUE(in);
    EXPECT_TRUE(json::parse(in)["experts"].empty());
}

TEST_F(WholeHeap, FailOnLeakCountsModuleKeysAndSuppressionsApply) {
    const Result leaky = run({NMT_NMLEAK, "run", "-q", "--fail-on-leak", "--", NMT_HEAP_C});
    EXPECT_EQ(leaky.status, 23);
    std::ofstream(dir_ / "supp.txt") << "leak:" << file_name(NMT_HEAP_C) << "\nleak:libc.so*\nleak:ld-linux*\n";
    const Result quiet = run({NMT_NMLEAK, "run", "-q", "--fail-on-leak", "--suppressions", (dir_ / "supp.txt").string(),
                              "--", NMT_HEAP_C});
    EXPECT_EQ(quiet.status, 0) << quiet.out;
}

// Debian's own programs, built without frame pointers: same output and status under nmleak.
TEST_F(WholeHeap, DebianProgramsRunUnchanged) {
    std::ofstream(dir_ / "in.txt") << "pear\napple\nfig\nbanana\napple\n";
    const std::string in = (dir_ / "in.txt").string();
    std::vector<std::vector<std::string>> progs = {
        {"/usr/bin/sort", "-r", in},
        {"/usr/bin/perl", "-e", "my %h; $h{$_ % 97} .= 'x' x $_ for 1..3000; print scalar(keys %h), \"\\n\""},
        {"/usr/bin/python3", "-c",
         "import json,sqlite3,decimal\n"
         "c=sqlite3.connect(':memory:'); c.execute('create table t(x)');"
         "c.executemany('insert into t values(?)',[(i,) for i in range(5000)]);"
         "print(c.execute('select sum(x) from t').fetchone()[0], len(json.dumps([str(decimal.Decimal(i)/7) for i in range(3000)])))"},
    };
    for (const auto &p : progs) {
        if (!fs::exists(p[0])) continue;
        const json r = run_both(p);
        EXPECT_NE(key_named(r, fs::path(p[0]).filename().string()) ? 1 : (r["experts"].size() ? 1 : 0), 0) << p[0];
    }
}

// Debian's own interpreters at exit: lost memory is told apart from still-reachable memory, and
// --fail-on-leak fails only for lost memory. perl leaves lost blocks at exit (Valgrind finds the
// same ones, byte for byte); python3 leaves only reachable ones.
TEST_F(WholeHeap, DebianProgramsSeparateLostFromReachable) {
    const std::string python = "/usr/bin/python3", perl = "/usr/bin/perl";
    if (!fs::exists(python) || !fs::exists(perl)) GTEST_SKIP() << "needs Debian's python3 and perl";
    auto classes = [](const json &r) {
        uint64_t lost = 0, reachable = 0, definitely = 0;
        for (const json &e : r["experts"]) {
            const json &c = e["reachability"];
            definitely += c["definitely_lost"]["bytes"].get<uint64_t>();
            lost += c["definitely_lost"]["bytes"].get<uint64_t>() + c["indirectly_lost"]["bytes"].get<uint64_t>();
            reachable += c["reachable"]["bytes"].get<uint64_t>();
        }
        return std::array<uint64_t, 3>{lost, reachable, definitely};
    };
    // python3: everything left at exit is still reachable.
    const std::vector<std::string> py = {python, "-c", "print(sum(range(1000)))"};
    const json pr = run_both(py);
    EXPECT_TRUE(pr["process"].value("reach_classified", true));
    const auto pc = classes(pr);
    EXPECT_EQ(pc[0], 0u) << pr["experts"].dump(1).substr(0, 3000);
    EXPECT_GT(pc[1], 0u);
    auto with = [](std::vector<std::string> opts, const std::vector<std::string> &prog) {
        std::vector<std::string> argv = {NMT_NMLEAK, "run", "-q"};
        argv.insert(argv.end(), opts.begin(), opts.end());
        argv.push_back("--");
        argv.insert(argv.end(), prog.begin(), prog.end());
        return run(argv).status;
    };
    EXPECT_EQ(with({"--fail-on-leak"}, py), 0);
    EXPECT_EQ(with({"--fail-on-leak", "--leaks", "all"}, py), 23);

    // perl: lost blocks at exit beside reachable ones.
    const std::vector<std::string> pl = {perl, "-e", "my %h; $h{$_ % 97} .= 'x' x $_ for 1..3000; print scalar(keys %h), \"\\n\""};
    const json lr = run_both(pl);
    const auto lc = classes(lr);
    EXPECT_GT(lc[0], 0u);
    EXPECT_GT(lc[1], 0u);
    EXPECT_EQ(with({"--fail-on-leak"}, pl), 23);
    if (fs::exists("/usr/bin/valgrind")) {
        std::vector<std::string> vg = {"/usr/bin/sh", "-c", "/usr/bin/valgrind --leak-check=full \"$@\" 2>&1 | grep 'definitely lost:'", "sh"};
        vg.insert(vg.end(), pl.begin(), pl.end());
        const Result v = run(vg);
        std::string digits;
        const size_t at = v.out.find("definitely lost: ");
        if (at != std::string::npos)
            for (size_t i = at + 17; i < v.out.size() && (std::isdigit(static_cast<unsigned char>(v.out[i])) || v.out[i] == ','); ++i)
                if (v.out[i] != ',') digits += v.out[i];
        ASSERT_FALSE(digits.empty()) << v.out;
        EXPECT_EQ(std::stoull(digits), lc[2]) << "valgrind: " << v.out;
    }
}

// The first frame of a stack in a module whose file name starts with `prefix` (nullptr: none).
const json *frame_in(const json &stack, const std::string &prefix) {
    for (const json &f : stack)
        if (file_name(f.value("module", "")).rfind(prefix, 0) == 0) return &f;
    return nullptr;
}

// The stack of the leak group of key `e` with a frame in `function` (nullptr: none).
const json *leak_stack(const json &e, const std::string &function) {
    for (const json &l : e["leaks"])
        for (const json &f : l["stack"])
            if (f.value("function", "") == function) return &l["stack"];
    return nullptr;
}

std::string build_id_of(const std::string &path) {
    const Result r = run({"/usr/bin/sh", "-c", "readelf -n \"$1\" | awk '/Build ID/ {print $3}'", "sh", path});
    std::string id = r.out;
    while (!id.empty() && std::isspace(static_cast<unsigned char>(id.back()))) id.pop_back();
    return id;
}

// binutils' addr2line (another DWARF reader, which also finds the debug file by build ID): the
// "file:line" lines for the code at `offset` in `module`, inlined callers included.
std::vector<std::string> addr2line(const std::string &module, uint64_t offset) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(offset));
    const Result r = run({"/usr/bin/addr2line", "-i", "-e", module, hex});
    std::vector<std::string> out;
    std::string line;
    for (char c : r.out) {
        if (c != '\n') {
            line += c;
            continue;
        }
        const size_t disc = line.find(" (discriminator");
        if (disc != std::string::npos) line.resize(disc);
        out.push_back(file_name(line.substr(0, line.rfind(':'))) + line.substr(line.rfind(':')));
        line.clear();
    }
    return out;
}

// Frames in Debian's stripped glibc are named from libc6-dbg's separate debug file
// (/usr/lib/debug/.build-id/NN/REST.debug, libdwfl's standard local path): a block allocated by
// a qsort comparator glibc calls back, a line buffer glibc's getdelim makes and a strdup copy each
// show the glibc frame with its source file and line, as binutils' addr2line reads them too.
TEST_F(WholeHeap, GlibcFramesGetFileAndLineFromLibc6Dbg) {
    const std::string libc = "/lib/x86_64-linux-gnu/libc.so.6";
    const std::string id = build_id_of(libc);
    ASSERT_GT(id.size(), 2u) << "no build ID in " << libc;
    const std::string debug = "/usr/lib/debug/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug";
    if (!fs::exists(debug)) GTEST_SKIP() << "libc6-dbg is not installed (no " << debug << ")";
    const json r = run_both({NMT_HEAP_C, "--libc-frames"});
    const json *k = key_named(r, file_name(NMT_HEAP_C));
    ASSERT_NE(k, nullptr) << r.dump(1).substr(0, 2000);
    for (const std::string fn : {"c_compare_leak", "c_leak_getline", "c_leak_strdup"}) {
        const json *stack = leak_stack(*k, fn);
        ASSERT_NE(stack, nullptr) << fn << " leaked nothing: " << (*k)["leaks"].dump(1).substr(0, 3000);
        const json *f = frame_in(*stack, "libc.so");
        ASSERT_NE(f, nullptr) << fn << ": no glibc frame in " << stack->dump(1);
        EXPECT_FALSE(f->value("function", "").empty()) << f->dump();
        const std::string file = f->value("file", "");
        const unsigned line = f->value("line", 0u);
        ASSERT_FALSE(file.empty()) << fn << ": glibc frame without a source file: " << f->dump();
        EXPECT_GT(line, 0u) << f->dump();
        // A return address: the call instruction is the byte before.
        const uint64_t offset = std::stoull(f->value("offset", "0"), nullptr, 16);
        const std::vector<std::string> theirs = addr2line(libc, offset - 1);
        const std::string ours = file_name(file) + ":" + std::to_string(line);
        EXPECT_NE(std::find(theirs.begin(), theirs.end(), ours), theirs.end())
            << fn << ": nmleak says " << ours << ", addr2line says " << ::testing::PrintToString(theirs);
        std::printf("%s: glibc frame %s at %s\n", fn.c_str(), f->value("function", "").c_str(), ours.c_str());
    }
}

// A local debuginfod (`debuginfod -F DIR` on loopback) serves the separate debug file of a
// stripped program: its leak's frame gets its file and line only when NMLEAK_DEBUGINFOD=1 allows
// asking the servers of DEBUGINFOD_URLS; without it the symbol table's name only.
TEST_F(WholeHeap, DebuginfodFramesOnlyWhenOptedIn) {
    const std::string server = "/usr/bin/debuginfod";
    if (::access(server.c_str(), X_OK) != 0) GTEST_SKIP() << server << " is not installed (Debian package debuginfod)";
    const std::string id = build_id_of(NMT_DBGI_PROG);
    ASSERT_GT(id.size(), 2u);
    ASSERT_TRUE(fs::exists(fs::path(NMT_DBGI_DIR) / "nmt_dbgi_prog.debug"));
    // A free loopback port.
    int sock = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
    ASSERT_EQ(::getsockname(sock, reinterpret_cast<sockaddr *>(&addr), &len), 0);
    const int port = ntohs(addr.sin_port);
    ::close(sock);
    const pid_t pid = fork();
    if (pid == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        const std::string db = (dir_ / "db.sqlite").string(), p = std::to_string(port);
        execl(server.c_str(), server.c_str(), "-F", "-p", p.c_str(), "-d", db.c_str(), NMT_DBGI_DIR,
              static_cast<char *>(nullptr));
        _exit(127);
    }
    ASSERT_GT(pid, 0);
    struct Stop {
        pid_t pid;
        ~Stop() {
            ::kill(pid, SIGTERM);
            ::waitpid(pid, nullptr, 0);
        }
    } stop{pid};
    // Until it serves the file (it scans DIR once it started).
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    bool served = false;
    for (int i = 0; i < 600 && !served; ++i) {
        const Result get = run({"/bin/bash", "-c",
                                "{ exec 3<>/dev/tcp/127.0.0.1/$1; } 2>/dev/null || exit 1; "
                                "printf 'GET /buildid/%s/debuginfo HTTP/1.0\\r\\n\\r\\n' \"$2\" >&3; head -c 12 <&3",
                                "sh", std::to_string(port), id});
        served = get.out.find(" 200") != std::string::npos;
        if (!served) ::usleep(100 * 1000);
    }
    ASSERT_TRUE(served) << "debuginfod on port " << port << " never served build ID " << id;

    ::setenv("DEBUGINFOD_URLS", url.c_str(), 1);
    ::setenv("DEBUGINFOD_CACHE_PATH", (dir_ / "cache").c_str(), 1);
    ::setenv("DEBUGINFOD_TIMEOUT", "30", 1);
    ::unsetenv("NMLEAK_DEBUGINFOD");
    const json without = run_both({NMT_DBGI_PROG});
    ::setenv("NMLEAK_DEBUGINFOD", "1", 1);
    const json with = run_both({NMT_DBGI_PROG});
    for (const char *v : {"NMLEAK_DEBUGINFOD", "DEBUGINFOD_URLS", "DEBUGINFOD_CACHE_PATH", "DEBUGINFOD_TIMEOUT"}) ::unsetenv(v);

    auto leak_frame = [](const json &r) -> json {
        const json *k = key_named(r, file_name(NMT_DBGI_PROG));
        const json *stack = k ? leak_stack(*k, "dbgi_leak") : nullptr;
        if (!stack) return json();
        for (const json &f : *stack)
            if (f.value("function", "") == "dbgi_leak") return f;
        return json();
    };
    const json off = leak_frame(without), on = leak_frame(with);
    ASSERT_FALSE(off.is_null()) << "no dbgi_leak leak without debuginfod: " << without.dump(1).substr(0, 3000);
    ASSERT_FALSE(on.is_null()) << "no dbgi_leak leak with debuginfod: " << with.dump(1).substr(0, 3000);
    EXPECT_EQ(off.value("file", ""), "") << off.dump();
    EXPECT_EQ(off.value("line", 0u), 0u) << off.dump();
    EXPECT_EQ(file_name(on.value("file", "")), "dbgi_prog.c") << on.dump();
    // The line of the malloc call in dbgi_leak, as addr2line reads it from the served file.
    const uint64_t offset = std::stoull(on.value("offset", "0"), nullptr, 16);
    const std::vector<std::string> theirs =
        addr2line((fs::path(NMT_DBGI_DIR) / "nmt_dbgi_prog.debug").string(), offset - 1);
    const std::string ours = file_name(on.value("file", "")) + ":" + std::to_string(on.value("line", 0u));
    EXPECT_NE(std::find(theirs.begin(), theirs.end(), ours), theirs.end())
        << "nmleak says " << ours << ", addr2line says " << ::testing::PrintToString(theirs);
    EXPECT_TRUE(fs::exists(dir_ / "cache" / id)) << "the file did not come through the debuginfod client";
    std::printf("without NMLEAK_DEBUGINFOD: %s %s:%u; with: %s\n", off.value("function", "").c_str(),
                off.value("file", "").c_str(), off.value("line", 0u), ours.c_str());
}

} // namespace
