// test_heap_experts.cpp - the whole heap in a libnmapi host under `nmleak run`: an expert's
// malloc/new blocks belong to its key beside its API blocks, a close lists the ones still live as
// left behind (without freeing them), they are that expert's leaks at exit, and a later free is
// accounted to the same key. The host's own blocks stay on the host's module key.
#include "../support/report_json.hpp"
#include "../support/run_program.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using nmt::key_named;
using nmt::stack_has;

// Bytes of key e's leak groups of one origin ("api", "heap") with a frame in `function` ("" any).
uint64_t leaked(const json &e, const std::string &origin, const std::string &function = "") {
    return nmt::leaked_bytes(e, function, origin);
}

// Runs a program: exit status (128+N when killed by signal N) and stdout (tests/support).
using Result = nmt::RunResult;
using nmt::run;

class HeapExperts : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("nmt-heapx-" + std::to_string(getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // The host under `nmleak run --report dir/NAME`, with the modes given; its exit status.
    int run_host(const std::string &report, const std::vector<std::string> &modes,
                 const std::vector<std::string> &options = {}) {
        std::vector<std::string> argv = {NMT_NMLEAK, "run", "-q", "--report", (dir_ / report).string()};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.push_back("--");
        argv.push_back(NMT_HEAP_HOST);
        argv.push_back(NMT_HEAP_EXPERT);
        argv.insert(argv.end(), modes.begin(), modes.end());
        const Result r = run(argv);
        out_ = r.out;
        return r.status;
    }
    json json_report(const std::string &name) {
        std::ifstream in(dir_ / name);
        if (!in) return json::object();
        return json::parse(in);
    }
    std::string text(const std::string &name) {
        std::ifstream in(dir_ / name);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    fs::path dir_;
    std::string out_;
};

constexpr uint64_t kString = sizeof "a string the expert left on the heap";

TEST_F(HeapExperts, ApiAndHeapLeaksOfARunAreUnderItsKey) {
    ASSERT_EQ(run_host("r.json", {"leak"}), 0) << out_;
    const json r = json_report("r.json");
    ASSERT_TRUE(r["process"]["heap_tracked"].get<bool>());
    const json *k = key_named(r, "heap-leak");
    ASSERT_NE(k, nullptr) << r.dump(1).substr(0, 3000);
    EXPECT_EQ((*k)["kind"], "expert");
    EXPECT_EQ((*k)["outcome"], "done");
    // API: the two blocks the done close reclaimed, leaks of the run.
    EXPECT_EQ(leaked(*k, "api"), 1000u + 24u);
    // Heap, outside the API: left behind by the close, still live at exit.
    EXPECT_EQ(leaked(*k, "heap", "leak_new_buffer"), 3000u);
    EXPECT_EQ(leaked(*k, "heap", "leak_strdup"), kString);
    EXPECT_EQ(leaked(*k, "heap", "heap_thread_main"), 1500u); // a thread the expert started
    EXPECT_EQ(leaked(*k, "heap"), 3000u + kString + 1500u);
    const json &h = (*k)["heap"];
    EXPECT_EQ(h["blocks"], 3u);
    EXPECT_EQ(h["bytes"], 3000u + kString + 1500u);
    EXPECT_GE(h["allocs"].get<uint64_t>(), 4u); // the 640-byte block it freed itself
    EXPECT_GE(h["frees"].get<uint64_t>(), 1u);
    // The expert's heap blocks are not on its module's key, and the host's are not on the expert's.
    const json *mod = key_named(r, fs::path(NMT_HEAP_EXPERT).filename().string());
    if (mod) {
        EXPECT_EQ(leaked(*mod, "heap", "leak_new_buffer"), 0u);
    }
    const json *host = key_named(r, fs::path(NMT_HEAP_HOST).filename().string());
    ASSERT_NE(host, nullptr);
    EXPECT_EQ((*host)["kind"], "module");
    EXPECT_EQ(leaked(*host, "heap", "host_leak"), 777u);
    EXPECT_EQ(leaked(*k, "heap", "host_leak"), 0u);

    // The exit report in text says the same.
    ASSERT_EQ(run_host("r.txt", {"leak"}), 0);
    const std::string t = text("r.txt");
    const std::string key = " by expert heap-leak (key " + std::to_string((*k)["id"].get<uint64_t>()) + ")";
    EXPECT_NE(t.find("3000 bytes in 1 block allocated on the heap (outside the API)" + key + ", left behind at its close"),
              std::string::npos) << t;
    EXPECT_NE(t.find("1000 bytes in 1 block allocated" + key), std::string::npos) << t;
    EXPECT_NE(t.find("left behind (heap blocks outside the API, not freed): 4537 bytes in 3 blocks"), std::string::npos) << t;
    EXPECT_NE(t.find("leak_new_buffer"), std::string::npos);
    EXPECT_NE(t.find("heap bytes"), std::string::npos) << t;
}

// A host that is not nmleak's runner (nmt_own_host: opens its keys itself and calls the expert's
// Run on its own thread): the thread works for a key from its first ExpertAllocMemory with it, and
// the key's module is the module that made that call, so the expert's new[] and strdup land on
// the key beside its API blocks, run after run, while the host's own leak on the same thread
// stays on the host's module key. A thread the expert starts takes over its creator's run key
// (the heap shim wraps pthread_create), so its 1500-byte malloc is the key's too: the same
// 3 blocks / 4537 bytes as under nmleak's runner.
TEST_F(HeapExperts, AHostThatOpensKeysItselfGetsTheExpertsHeapUnderTheKey) {
    const std::vector<std::string> prog = {NMT_OWN_HOST, NMT_HEAP_EXPERT};
    const Result plain = run(prog);
    std::vector<std::string> argv = {NMT_NMLEAK, "run", "-q", "--report", (dir_ / "own.json").string(), "--"};
    argv.insert(argv.end(), prog.begin(), prog.end());
    const Result tracked = run(argv);
    ASSERT_EQ(tracked.status, 0) << tracked.out;
    EXPECT_EQ(tracked.status, plain.status);
    EXPECT_EQ(tracked.out, plain.out);
    const json r = json_report("own.json");
    for (const char *name : {"own-1", "own-2"}) {
        const json *k = key_named(r, name);
        ASSERT_NE(k, nullptr) << name << ": " << r.dump(1).substr(0, 2000);
        EXPECT_EQ(leaked(*k, "api"), 1024u) << name;
        EXPECT_EQ(leaked(*k, "heap", "leak_new_buffer"), 3000u) << name;
        EXPECT_EQ((*k)["heap"]["blocks"], 3u) << name << ": " << (*k)["heap"].dump();
        EXPECT_EQ((*k)["heap"]["bytes"], 3000u + kString + 1500u) << name;
        EXPECT_EQ(leaked(*k, "heap", "own_host_leak"), 0u) << name;
        EXPECT_EQ(leaked(*k, "heap", "heap_thread_main"), 1500u) << name;
    }
    EXPECT_EQ(leaked(*key_named(r, "own-1"), "heap", "leak_strdup"), kString);
    const json *host = key_named(r, fs::path(NMT_OWN_HOST).filename().string());
    ASSERT_NE(host, nullptr);
    EXPECT_EQ(leaked(*host, "heap", "own_host_leak"), 777u);
    // Nothing of the expert's is charged to its module key (if it has one at all).
    if (const json *mod = key_named(r, fs::path(NMT_HEAP_EXPERT).filename().string())) {
        EXPECT_EQ(leaked(*mod, "heap", "leak_new_buffer"), 0u);
        EXPECT_EQ(leaked(*mod, "heap", "heap_thread_main"), 0u);
    }
}

TEST_F(HeapExperts, AFailedRunListsItsHeapBlocksAsLeftBehind) {
    ASSERT_EQ(run_host("r.json", {"fail"}), 0) << out_;
    EXPECT_NE(out_.find("heap-fail: outcome 2, reclaimed 1 blocks 512 bytes"), std::string::npos) << out_;
    const json r = json_report("r.json");
    const json *k = key_named(r, "heap-fail");
    ASSERT_NE(k, nullptr);
    EXPECT_EQ((*k)["outcome"], "terminated");
    ASSERT_EQ((*k)["cleanups"].size(), 1u);
    const json &c = (*k)["cleanups"][0];
    EXPECT_EQ(c["blocks"], 1u);
    EXPECT_EQ(c["bytes"], 512u);
    const json &left = c["left_behind"];
    EXPECT_EQ(left["blocks"], 2u);
    EXPECT_EQ(left["bytes"], 2048u + kString);
    bool kept = false, dup = false;
    for (const json &g : left["stacks"]) {
        if (stack_has(g["stack"], "keep_new_buffer")) kept = g["bytes"] == 2048u;
        if (stack_has(g["stack"], "leak_strdup")) dup = g["bytes"] == kString;
    }
    EXPECT_TRUE(kept) << left.dump(1);
    EXPECT_TRUE(dup) << left.dump(1);
    // Not freed by the close: still live at exit, so leaks of that expert (the forced cleanup's
    // API block is not).
    EXPECT_EQ(leaked(*k, "heap", "keep_new_buffer"), 2048u);
    EXPECT_EQ(leaked(*k, "heap", "leak_strdup"), kString);
    EXPECT_EQ(leaked(*k, "api"), 0u);
    EXPECT_EQ((*k)["heap"]["bytes"], 2048u + kString);

    // Budgets hold the key to them: 2048 + 37 bytes are over 2K and within 3K.
    EXPECT_EQ(run_host("b.json", {"fail"}, {"--limit", "heap-fail=2K"}), 23);
    EXPECT_EQ(run_host("b.json", {"fail"}, {"--limit", "heap-fail=3K"}), 0);
}

TEST_F(HeapExperts, ALaterFreeOfALeftBehindBlockIsAccountedToTheKey) {
    ASSERT_EQ(run_host("r.json", {"fail", "free-kept", "leak"}), 0) << out_;
    EXPECT_NE(out_.find("freed the kept buffer"), std::string::npos) << out_;
    const json r = json_report("r.json");
    const json *k = key_named(r, "heap-fail");
    ASSERT_NE(k, nullptr);
    // The close listed it ...
    EXPECT_EQ((*k)["cleanups"][0]["left_behind"]["bytes"], 2048u + kString);
    // ... the host freed it later: the key's heap figures count that free, and only the string
    // is still live, so only the string is a leak.
    EXPECT_EQ((*k)["heap"]["blocks"], 1u);
    EXPECT_EQ((*k)["heap"]["bytes"], kString);
    EXPECT_GE((*k)["heap"]["frees"].get<uint64_t>(), 1u);
    EXPECT_EQ(leaked(*k, "heap", "keep_new_buffer"), 0u);
    EXPECT_EQ(leaked(*k, "heap", "leak_strdup"), kString);
    // The free was not a misuse of any key, and the next run's key is another one.
    for (const json &e : r["experts"]) EXPECT_EQ(e["misuse"].size(), 0u) << e["name"];
    const json *next = key_named(r, "heap-leak");
    ASSERT_NE(next, nullptr);
    EXPECT_EQ(leaked(*next, "heap", "leak_new_buffer"), 3000u);
}

// The same run's snapshot through every other writer, read back by real readers where there is one.
TEST_F(HeapExperts, EveryReportFormatShowsHeapBesideApiAndTheLeftBehindStacks) {
    ASSERT_EQ(run_host("r.nmsnap", {"fail", "leak"}), 0) << out_;
    auto report = [&](const std::string &format, const std::string &out) {
        const Result r = run({NMT_NMLEAK, "report", "-q", (dir_ / "r.nmsnap").string(), "-f", format, "-o",
                              (dir_ / out).string()});
        EXPECT_EQ(r.status, 0) << format;
    };

    report("sarif", "r.sarif");
    const json sarif = json_report("r.sarif");
    bool heap_left = false, api = false;
    for (const json &res : sarif["runs"][0]["results"]) {
        const std::string text = res["message"]["text"];
        const json &p = res["properties"];
        if (p["expert"] == "heap-fail" && p["origin"] == "heap" && p.value("leftBehind", false) &&
            text.find("on the heap, outside the API, left behind at its close") != std::string::npos)
            heap_left = true;
        if (p["expert"] == "heap-leak" && p["origin"] == "api" && p["bytes"] == 1000u) api = true;
    }
    EXPECT_TRUE(heap_left) << sarif.dump(1).substr(0, 4000);
    EXPECT_TRUE(api);

    report("html", "r.html");
    const std::string html = text("r.html");
    EXPECT_NE(html.find("<th>heap bytes</th>"), std::string::npos);
    EXPECT_NE(html.find("<b>left behind</b> (heap blocks outside the API, not freed)"), std::string::npos);
    EXPECT_NE(html.find("keep_new_buffer"), std::string::npos);
    EXPECT_NE(html.find("on the heap (outside the API) by <b>heap-leak"), std::string::npos);

    report("pprof", "r.pb.gz");
    if (system("command -v go >/dev/null 2>&1") != 0) GTEST_SKIP() << "go is not on PATH (Debian: golang-go)";
    const std::string env = "HOME=" + (dir_ / "home").string() + " GOCACHE=" + (dir_ / "gocache").string() +
                            " GOPATH=" + (dir_ / "gopath").string() + " GOPROXY=off GOFLAGS= GOTOOLCHAIN=local ";
    fs::create_directories(dir_ / "home");
    const Result tags = run({"/bin/sh", "-c", env + "go tool pprof -tags -sample_index=outstanding_space " +
                                                  (dir_ / "r.pb.gz").string() + " 2>&1"});
    EXPECT_EQ(tags.status, 0) << tags.out;
    EXPECT_NE(tags.out.find("origin:"), std::string::npos) << tags.out;
    EXPECT_NE(tags.out.find("left_behind:"), std::string::npos) << tags.out;
    const Result top = run({"/bin/sh", "-c", env + "go tool pprof -top -unit=B -sample_index=outstanding_space "
                                                  "-tagfocus=left_behind=yes " + (dir_ / "r.pb.gz").string() + " 2>&1"});
    EXPECT_EQ(top.status, 0) << top.out;
    EXPECT_NE(top.out.find("keep_new_buffer"), std::string::npos) << top.out;
    EXPECT_NE(top.out.find("leak_new_buffer"), std::string::npos) << top.out;
    EXPECT_EQ(top.out.find("host_leak"), std::string::npos) << top.out;
}

// The opt-in reclaim (nmleak run --reclaim-left-behind, NMLEAK_RECLAIM_LEFT_BEHIND=unreachable):
// the reclaim run drops every pointer to 8 new'd blocks and to a cycle of two (10 blocks, 8512
// bytes) and keeps 3 blocks in a global plus one only a kept block points to (4 blocks, 2433
// bytes). The close frees the first set and keeps the second, which the host then finds intact.
constexpr uint64_t kDropped = 8 * 1000 + 2 * 256, kKept = 3 * 700 + 333;

uint64_t group_bytes(const json &groups, const std::string &function) {
    uint64_t bytes = 0;
    for (const json &g : groups)
        if (stack_has(g["stack"], function)) bytes += g["bytes"].get<uint64_t>();
    return bytes;
}

TEST_F(HeapExperts, ReclaimLeftBehindFreesWhatNothingReachesAndKeepsTheRest) {
    const Result plain = run({NMT_HEAP_HOST, NMT_HEAP_EXPERT, "reclaim", "check-kept"});
    ASSERT_EQ(plain.status, 0) << plain.out;
    ASSERT_NE(plain.out.find("kept blocks intact"), std::string::npos) << plain.out;

    ASSERT_EQ(run_host("r.json", {"reclaim", "check-kept"}, {"--reclaim-left-behind"}), plain.status) << out_;
    EXPECT_EQ(out_, plain.out); // the kept blocks were not touched, nothing else changed
    const json r = json_report("r.json");
    const json *k = key_named(r, "heap-reclaim");
    ASSERT_NE(k, nullptr) << r.dump(1).substr(0, 3000);
    EXPECT_EQ((*k)["outcome"], "done");
    ASSERT_TRUE(k->contains("done_close")) << k->dump(1).substr(0, 3000);
    const json &left = (*k)["done_close"]["left_behind"];
    EXPECT_EQ(left["blocks"], 4u) << left.dump(1).substr(0, 3000);
    EXPECT_EQ(left["bytes"], kKept);
    EXPECT_EQ(group_bytes(left["stacks"], "keep_blocks"), kKept);
    EXPECT_EQ(group_bytes(left["stacks"], "drop_blocks"), 0u);
    ASSERT_TRUE(left.contains("reclaimed")) << left.dump(1).substr(0, 3000);
    const json &rec = left["reclaimed"];
    EXPECT_EQ(rec["blocks"], 10u);
    EXPECT_EQ(rec["bytes"], kDropped);
    EXPECT_EQ(group_bytes(rec["stacks"], "drop_blocks"), kDropped);
    EXPECT_FALSE(rec.contains("note")) << rec.dump(1);
    // A done close's reclaimed heap blocks are leaks of the run, like its API block; the kept
    // ones the host freed are not.
    EXPECT_EQ(leaked(*k, "heap", "drop_blocks"), kDropped);
    EXPECT_EQ(leaked(*k, "heap", "keep_blocks"), 0u);
    EXPECT_EQ(leaked(*k, "api"), 64u);
    // Each reclaimed block is a free of the key's (10 by the close), and so is each later free of
    // a kept one (the host's 4): nothing of the run's 14 is live at exit.
    EXPECT_EQ((*k)["heap"]["allocs"], 14u) << (*k)["heap"].dump();
    EXPECT_EQ((*k)["heap"]["frees"], 14u) << (*k)["heap"].dump();
    EXPECT_EQ((*k)["heap"]["blocks"], 0u) << (*k)["heap"].dump();
    EXPECT_EQ((*k)["heap"]["bytes"], 0u) << (*k)["heap"].dump();
    for (const json &e : r["experts"]) EXPECT_EQ(e["misuse"].size(), 0u) << e["name"];

    // The exit report in text says the same; the environment variable does what the option does.
    const Result t = run({"/usr/bin/env", "NMLEAK_RECLAIM_LEFT_BEHIND=unreachable", NMT_NMLEAK, "run", "-q",
                          "--report", (dir_ / "r.txt").string(), "--", NMT_HEAP_HOST, NMT_HEAP_EXPERT, "reclaim",
                          "check-kept"});
    ASSERT_EQ(t.status, 0);
    EXPECT_EQ(t.out, plain.out);
    const std::string txt = text("r.txt");
    EXPECT_NE(txt.find("left behind (heap blocks outside the API, not freed): 2433 bytes in 4 blocks"),
              std::string::npos) << txt;
    EXPECT_NE(txt.find("reclaimed left behind (heap blocks nothing pointed to, freed at the close): 8512 bytes in 10 blocks"),
              std::string::npos) << txt;
    EXPECT_NE(txt.find("8000 bytes in 8 blocks allocated on the heap (outside the API) by expert heap-reclaim (key " +
                       std::to_string((*k)["id"].get<uint64_t>()) + "), freed at its close (nothing pointed to it)"),
              std::string::npos) << txt;

    // --fail-on-leak and budgets count the reclaimed blocks: 8512 + 64 bytes are over 8K, within 9K.
    EXPECT_EQ(run_host("f.json", {"reclaim", "check-kept"}, {"--reclaim-left-behind", "--fail-on-leak"}), 23);
    EXPECT_EQ(run_host("b.json", {"reclaim", "check-kept"}, {"--reclaim-left-behind", "--limit", "heap-reclaim=8K"}), 23);
    EXPECT_EQ(run_host("b.json", {"reclaim", "check-kept"}, {"--reclaim-left-behind", "--limit", "heap-reclaim=9K"}), 0);

    // A saved snapshot keeps the record: nmleak report in text and HTML show it.
    ASSERT_EQ(run_host("r.nmsnap", {"reclaim", "check-kept"}, {"--reclaim-left-behind"}), 0);
    const Result rt = run({NMT_NMLEAK, "report", "-q", (dir_ / "r.nmsnap").string(), "-f", "text"});
    EXPECT_EQ(rt.status, 0);
    EXPECT_NE(rt.out.find("reclaimed left behind (heap blocks nothing pointed to, freed at the close): 8512 bytes in 10 blocks"),
              std::string::npos) << rt.out;
    const Result rh = run({NMT_NMLEAK, "report", "-q", (dir_ / "r.nmsnap").string(), "-f", "html", "-o",
                           (dir_ / "r.html").string()});
    EXPECT_EQ(rh.status, 0);
    const std::string html = text("r.html");
    EXPECT_NE(html.find("<b>reclaimed left behind</b> (heap blocks nothing pointed to, freed at the close)"),
              std::string::npos);
    EXPECT_NE(html.find("drop_blocks"), std::string::npos);
    // SARIF: the reclaimed blocks are leaks freed at the close, not left behind.
    const Result rs = run({NMT_NMLEAK, "report", "-q", (dir_ / "r.nmsnap").string(), "-f", "sarif", "-o",
                           (dir_ / "r.sarif").string()});
    EXPECT_EQ(rs.status, 0);
    const json sarif = json_report("r.sarif");
    uint64_t reclaimed_bytes = 0;
    for (const json &res : sarif["runs"][0]["results"]) {
        const json &p = res["properties"];
        if (p["expert"] != "heap-reclaim" || !p.value("reclaimedAtClose", false)) continue;
        EXPECT_FALSE(p.value("leftBehind", false));
        EXPECT_NE(res["message"]["text"].get<std::string>().find("freed at its close (nothing pointed to it)"),
                  std::string::npos) << res["message"].dump();
        reclaimed_bytes += p["bytes"].get<uint64_t>();
    }
    EXPECT_EQ(reclaimed_bytes, kDropped) << sarif.dump(1).substr(0, 3000);
}

// Without the option (or with it off) a close frees none of them, as before.
TEST_F(HeapExperts, WithoutTheReclaimOptionNothingLeftBehindIsFreed) {
    const Result plain = run({NMT_HEAP_HOST, NMT_HEAP_EXPERT, "reclaim", "check-kept"});
    for (const char *env : {"NMLEAK_RECLAIM_LEFT_BEHIND=", "NMLEAK_RECLAIM_LEFT_BEHIND=off"}) {
        const Result t = run({"/usr/bin/env", env, NMT_NMLEAK, "run", "-q", "--report", (dir_ / "r.json").string(),
                              "--", NMT_HEAP_HOST, NMT_HEAP_EXPERT, "reclaim", "check-kept"});
        ASSERT_EQ(t.status, plain.status) << env;
        EXPECT_EQ(t.out, plain.out) << env;
        const json r = json_report("r.json");
        const json *k = key_named(r, "heap-reclaim");
        ASSERT_NE(k, nullptr) << env;
        const json &left = (*k)["done_close"]["left_behind"];
        EXPECT_EQ(left["blocks"], 14u) << env << left.dump(1).substr(0, 2000);
        EXPECT_EQ(left["bytes"], kDropped + kKept) << env;
        EXPECT_FALSE(left.contains("reclaimed")) << env;
        // Still live at exit: the dropped ones are that expert's leaks (left behind, not reclaimed).
        EXPECT_EQ(leaked(*k, "heap", "drop_blocks"), kDropped) << env;
        EXPECT_EQ(leaked(*k, "heap", "keep_blocks"), 0u) << env;
    }
    ASSERT_EQ(run_host("r.txt", {"reclaim", "check-kept"}), 0);
    EXPECT_EQ(text("r.txt").find("reclaimed left behind"), std::string::npos);
}

// The host can turn it on itself (NmSetLeftBehindReclaim); a forced cleanup's blocks that the
// expert's globals still point to are kept (the fail run's buffer and string).
TEST_F(HeapExperts, TheHostApiTurnsTheReclaimOnAndReachableBlocksOfAForcedCleanupStay) {
    const Result plain = run({NMT_HEAP_HOST, NMT_HEAP_EXPERT, "set-reclaim", "reclaim", "check-kept", "fail"});
    ASSERT_EQ(plain.status, 0) << plain.out;
    EXPECT_NE(plain.out.find("set reclaim: 0, bad mode: 76"), std::string::npos) << plain.out;
    ASSERT_EQ(run_host("r.json", {"set-reclaim", "reclaim", "check-kept", "fail"}), 0) << out_;
    EXPECT_EQ(out_, plain.out);
    const json r = json_report("r.json");
    const json *k = key_named(r, "heap-reclaim");
    ASSERT_NE(k, nullptr);
    EXPECT_EQ((*k)["done_close"]["left_behind"]["reclaimed"]["bytes"], kDropped) << (*k)["done_close"].dump(1).substr(0, 2000);
    EXPECT_EQ((*k)["done_close"]["left_behind"]["bytes"], kKept);
    const json *f = key_named(r, "heap-fail");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ((*f)["cleanups"].size(), 1u);
    const json &left = (*f)["cleanups"][0]["left_behind"];
    EXPECT_EQ(left["blocks"], 2u) << left.dump(1).substr(0, 2000);
    EXPECT_EQ(left["bytes"], 2048u + kString);
    EXPECT_FALSE(left.contains("reclaimed")) << left.dump(1).substr(0, 2000);
    EXPECT_EQ(leaked(*f, "heap", "keep_new_buffer"), 2048u);
}

} // namespace
