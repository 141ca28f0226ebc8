// test_agent_heap_attach.cpp - `nmleak attach` of unmodified processes (no libnmapi) with real
// ptrace: the heap observed through redirected GOT entries, 50 attach/snapshot/detach cycles on
// a C and a C++ program with threads that still finish with the right results, frees of blocks
// made before the attach, a leak found at its function and charged to its module (a plugin
// loaded after the attach too), Debian's own programs, and the refusals.
#include <nmleak/protocol.hpp>

#include "agent_support/harness.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <map>
#include <set>

namespace {

using nmt::Process;

class HeapAttach : public ::testing::Test {
protected:
    void SetUp() override {
        if (const std::string why = nmt::attach_unavailable(); !why.empty()) GTEST_SKIP() << why;
        for (const char *p : {NMT_ATTACH_C, NMT_ATTACH_CPP, NMT_NMLEAK})
            ASSERT_EQ(::access(p, X_OK), 0) << p << " was not built";
    }

    static nm::model::Snapshot snapshot_of(pid_t pid) {
        nm::proto::Client c;
        nm::proto::ConnectOptions o;
        o.hello_flags = nm::proto::kHelloBlocks;
        std::string error;
        nm::model::Snapshot s;
        EXPECT_TRUE(c.connect(pid, o, &error)) << error;
        nm::proto::Message m;
        // The first snapshot symbolizes every frame: slow on a loaded machine.
        EXPECT_EQ(c.read(&m, 90000, &error), nm::proto::ReadStatus::Message) << error;
        EXPECT_EQ(m.type, nm::proto::MessageType::Snapshot);
        return std::move(m.snapshot);
    }

    static nmt::Result attach(pid_t pid) { return nmt::nmleak({"attach", std::to_string(pid)}); }
    static nmt::Result detach(pid_t pid) { return nmt::nmleak({"detach", std::to_string(pid)}); }

    // The GOT entries of `symbol`'s callers in pid's executable point where they pointed before.
    static std::string maps_of(pid_t pid) {
        std::ifstream f("/proc/" + std::to_string(pid) + "/maps");
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }

    // The program's own "done" line when nobody attaches.
    static std::string reference_done(const char *program) {
        Process p;
        EXPECT_TRUE(p.start({program}));
        EXPECT_GT(p.wait_ready(), 0);
        std::string done;
        EXPECT_TRUE(p.send("quit"));
        EXPECT_TRUE(p.wait_line("done ", &done, 60000));
        EXPECT_EQ(p.wait_exit(), 0);
        return done;
    }

    void fifty_cycles(const char *program, const std::string &module) {
        const std::string expected = reference_done(program);
        ASSERT_NE(expected.find("errors=0"), std::string::npos) << expected;
        Process p;
        ASSERT_TRUE(p.start({program}));
        const pid_t pid = p.wait_ready();
        ASSERT_GT(pid, 0);
        uint64_t allocs_seen = 0;
        for (int cycle = 0; cycle < 50; ++cycle) {
            const nmt::Result a = attach(pid);
            ASSERT_EQ(a.status, 0) << "cycle " << cycle << ": " << a.err;
            ASSERT_NE(a.out.find("heap observed:"), std::string::npos) << a.out;
            const nm::model::Snapshot s = snapshot_of(pid);
            EXPECT_TRUE(s.process.heap_tracked);
            if (const nm::model::Expert *e = nmt::expert(s, module)) {
                EXPECT_EQ(e->kind, nm::model::KeyKind::Module);
                allocs_seen += e->allocs;
            }
            const nmt::Result d = detach(pid);
            ASSERT_EQ(d.status, 0) << "cycle " << cycle << ": " << d.err;
            ASSERT_TRUE(p.alive()) << "cycle " << cycle;
        }
        EXPECT_GT(allocs_seen, 0u) << "no allocation of " << module << " was ever observed";
        // Detached: no nmleak thread is left, and the program runs on as before.
        for (const char *t : {"nmleak-agent", "nmleak-got"}) {
            bool found = false;
            for (const auto &entry : nmt::thread_names(pid)) found |= entry == t;
            EXPECT_FALSE(found) << t << " still runs after detach";
        }
        EXPECT_EQ(p.ask("status", "status").find("errors=0") != std::string::npos, true);
        std::string done;
        ASSERT_TRUE(p.send("quit"));
        ASSERT_TRUE(p.wait_line("done ", &done, 60000));
        EXPECT_EQ(done, expected);
        EXPECT_EQ(p.wait_exit(), 0);
    }
};

TEST_F(HeapAttach, CProgramWithThreadsSurvives50AttachSnapshotDetachCycles) {
    fifty_cycles(NMT_ATTACH_C, "nmt_attach_c");
}

TEST_F(HeapAttach, CxxProgramWithThreadsSurvives50AttachSnapshotDetachCycles) {
    fifty_cycles(NMT_ATTACH_CPP, "nmt_attach_cpp");
}

// The executable's own GOT entry for malloc, as the program sees it: glibc's, the hook while
// attached, glibc's again after the detach (and after a second round).
TEST_F(HeapAttach, DetachPutsTheGotEntriesBack) {
    Process p;
    ASSERT_TRUE(p.start({NMT_ATTACH_C}));
    const pid_t pid = p.wait_ready();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(p.ask("whose-malloc", "malloc-in"), "malloc-in libc.so.6");
    for (int round = 0; round < 2; ++round) {
        ASSERT_EQ(attach(pid).status, 0);
        EXPECT_EQ(p.ask("whose-malloc", "malloc-in"), "malloc-in libnmleak-agent.so");
        ASSERT_EQ(detach(pid).status, 0);
        EXPECT_EQ(p.ask("whose-malloc", "malloc-in"), "malloc-in libc.so.6");
    }
    ASSERT_TRUE(p.send("quit"));
    EXPECT_TRUE(p.wait_line("done errors=0", nullptr, 60000));
    EXPECT_EQ(p.wait_exit(), 0);
}

TEST_F(HeapAttach, FreesOfBlocksMadeBeforeTheAttachAreForeignAndHarmless) {
    for (const char *program : {NMT_ATTACH_C, NMT_ATTACH_CPP}) {
        Process p;
        ASSERT_TRUE(p.start({program}));
        const pid_t pid = p.wait_ready();
        ASSERT_GT(pid, 0);
        const nmt::Result a = attach(pid);
        ASSERT_EQ(a.status, 0) << a.err;
        EXPECT_NE(a.out.find("in use before the attach are foreign"), std::string::npos) << a.out;
        EXPECT_EQ(p.ask("free-old", "freed-old"), "freed-old 1000");
        const nm::model::Snapshot s = snapshot_of(pid);
        EXPECT_GE(s.process.foreign_frees, 1000u) << program;
        EXPECT_EQ(p.ask("status", "status").find("errors=0") != std::string::npos, true);
        ASSERT_EQ(detach(pid).status, 0);
        std::string done;
        ASSERT_TRUE(p.send("quit"));
        ASSERT_TRUE(p.wait_line("done ", &done, 60000));
        EXPECT_NE(done.find("errors=0"), std::string::npos) << done;
        EXPECT_EQ(p.wait_exit(), 0) << program;
    }
}

// Blocks with this size and a stack through `fn`, in key `module`.
size_t blocks_at(const nm::model::Snapshot &s, const std::string &module, uint64_t size, const std::string &fn) {
    const nm::model::Expert *e = nmt::expert(s, module);
    if (!e) return 0;
    size_t n = 0;
    for (const auto &b : e->blocks) n += b.size == size && nmt::stack_has(s, b.stack, fn);
    return n;
}

TEST_F(HeapAttach, LeakAfterTheAttachIsFoundAtItsFunctionAndChargedToItsModule) {
    {
        Process p;
        ASSERT_TRUE(p.start({NMT_ATTACH_C}));
        const pid_t pid = p.wait_ready();
        ASSERT_GT(pid, 0);
        ASSERT_EQ(attach(pid).status, 0);
        EXPECT_EQ(p.ask("leak 3", "leaked"), "leaked 3");
        // A plugin loaded after the attach: its entries are redirected by the dlopen hook.
        EXPECT_EQ(p.ask(std::string("plugin ") + NMT_HEAP_PLUGIN, "plugin"), "plugin 42");
        const nm::model::Snapshot s = snapshot_of(pid);
        EXPECT_EQ(blocks_at(s, "nmt_attach_c", 4242, "nmt_attach_c_leak"), 3u);
        EXPECT_EQ(blocks_at(s, "libnmt_heap_plugin.so", 777, "plugin_leak"), 1u);
        // The executable's key holds no block of the plugin's and the other way round.
        EXPECT_EQ(blocks_at(s, "nmt_attach_c", 777, "plugin_leak"), 0u);
        ASSERT_EQ(detach(pid).status, 0);
        ASSERT_TRUE(p.send("quit"));
        EXPECT_TRUE(p.wait_line("done errors=0", nullptr, 60000));
        EXPECT_EQ(p.wait_exit(), 0);
    }
    {
        Process p;
        ASSERT_TRUE(p.start({NMT_ATTACH_CPP}));
        const pid_t pid = p.wait_ready();
        ASSERT_GT(pid, 0);
        ASSERT_EQ(attach(pid).status, 0);
        EXPECT_EQ(p.ask("leak 2", "leaked"), "leaked 2");
        const nm::model::Snapshot s = snapshot_of(pid);
        EXPECT_EQ(blocks_at(s, "nmt_attach_cpp", 3131, "nmt_attach_cpp_leak"), 2u);
        // std::string and std::map nodes made inside libstdc++ on the program's behalf are the
        // program's: libstdc++ is an allocation wrapper.
        EXPECT_EQ(nmt::expert(s, "libstdc++.so.6"), nullptr);
        ASSERT_EQ(detach(pid).status, 0);
        ASSERT_TRUE(p.send("quit"));
        EXPECT_TRUE(p.wait_line("done errors=0", nullptr, 60000));
        EXPECT_EQ(p.wait_exit(), 0);
    }
}

// fork() while 4 threads allocate through the hooks: every child allocates and exits normally
// (no lock of the observed heap is inherited held), the parent goes on.
TEST_F(HeapAttach, ForkWhileAttachedLeavesChildrenRunningRight) {
    Process p;
    ASSERT_TRUE(p.start({NMT_ATTACH_C}));
    const pid_t pid = p.wait_ready();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(attach(pid).status, 0);
    EXPECT_EQ(p.ask("fork 30", "forked", 60000), "forked 30");
    const nm::model::Snapshot s = snapshot_of(pid);
    EXPECT_TRUE(s.process.heap_tracked);
    ASSERT_EQ(detach(pid).status, 0);
    ASSERT_TRUE(p.send("quit"));
    EXPECT_TRUE(p.wait_line("done errors=0", nullptr, 60000));
    EXPECT_EQ(p.wait_exit(), 0);
}

// Frees by the wrong family are recorded as misuse on the block's key, with the freeing stack;
// the program goes on (glibc serves both families).
TEST_F(HeapAttach, MismatchedFreesAreRecordedAndTheProgramGoesOn) {
    Process p;
    ASSERT_TRUE(p.start({NMT_ATTACH_CPP}));
    const pid_t pid = p.wait_ready();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(attach(pid).status, 0);
    EXPECT_EQ(p.ask("mismatch", "mismatched"), "mismatched 3");
    const nm::model::Snapshot s = snapshot_of(pid);
    const nm::model::Expert *e = nmt::expert(s, "nmt_attach_cpp");
    ASSERT_NE(e, nullptr);
    std::set<std::string> functions;
    for (const auto &m : e->misuse)
        if (m.kind == nm::model::MisuseKind::MismatchedFree && nmt::stack_has(s, m.stack, "nmt_attach_cpp_mismatch"))
            functions.insert(m.function);
    EXPECT_EQ(functions, (std::set<std::string>{"free", "operator delete", "operator delete[]"}));
    ASSERT_EQ(detach(pid).status, 0);
    ASSERT_TRUE(p.send("quit"));
    EXPECT_TRUE(p.wait_line("done errors=0", nullptr, 60000));
    EXPECT_EQ(p.wait_exit(), 0);
}

// Double and invalid frees of blocks made after the attach are recorded with their stack on the
// calling module's key and never reach glibc (which would abort the process): a double free, two
// frees into the middle of a block, frees of a global, a stack buffer and an unmapped address, a
// realloc of a freed block (fails). Frees of the blocks made before the attach stay foreign, not
// misuse. 50 cycles of attach, misuse, detach while 4 threads allocate: same result at the end.
TEST_F(HeapAttach, DoubleAndInvalidFreesAreRecordedAndNotHandedToGlibc) {
    const std::string expected = reference_done(NMT_ATTACH_C);
    Process p;
    ASSERT_TRUE(p.start({NMT_ATTACH_C}));
    const pid_t pid = p.wait_ready();
    ASSERT_GT(pid, 0);
    using K = nm::model::MisuseKind;
    const std::map<std::pair<K, std::string>, size_t> per_round = {
        {{K::DoubleFree, "free"}, 1},      {{K::InteriorPointer, "free"}, 2},
        {{K::UnknownPointer, "free"}, 3},  {{K::DoubleFree, "realloc"}, 1},
    };
    for (int cycle = 0; cycle < 50; ++cycle) {
        const nmt::Result a = attach(pid);
        ASSERT_EQ(a.status, 0) << "cycle " << cycle << ": " << a.err;
        if (cycle == 0) {
            EXPECT_EQ(p.ask("free-old", "freed-old"), "freed-old 1000");
        }
        ASSERT_EQ(p.ask("misuse", "misused"), "misused 7 realloc=null") << "cycle " << cycle;
        if (cycle == 0 || cycle == 49) {
            const nm::model::Snapshot s = snapshot_of(pid);
            const nm::model::Expert *e = nmt::expert(s, "nmt_attach_c");
            ASSERT_NE(e, nullptr);
            std::map<std::pair<K, std::string>, size_t> seen;
            size_t total = 0;
            for (const auto &m : e->misuse) {
                ++total;
                if (nmt::stack_has(s, m.stack, "nmt_attach_c_misuse")) ++seen[{m.kind, m.function}];
            }
            std::map<std::pair<K, std::string>, size_t> want;
            for (const auto &[what, n] : per_round) want[what] = n * size_t(cycle + 1);
            EXPECT_EQ(seen, want) << "cycle " << cycle;
            // Nothing else is misuse: the 1000 frees of blocks made before the attach are foreign.
            EXPECT_EQ(total, 7u * size_t(cycle + 1));
            if (cycle == 0) {
                EXPECT_GE(s.process.foreign_frees, 1000u);
            }
        }
        const nmt::Result d = detach(pid);
        ASSERT_EQ(d.status, 0) << "cycle " << cycle << ": " << d.err;
        ASSERT_TRUE(p.alive()) << "cycle " << cycle;
    }
    EXPECT_NE(p.ask("status", "status").find("errors=0"), std::string::npos);
    std::string done;
    ASSERT_TRUE(p.send("quit"));
    ASSERT_TRUE(p.wait_line("done ", &done, 60000));
    EXPECT_EQ(done, expected);
    EXPECT_EQ(p.wait_exit(), 0);
}

// A real program of Debian's that nobody here wrote: python3 running a loop that allocates
// through the interpreter (big lists go to malloc), attached, snapshotted, detached; it finishes
// its own work with the right answer.
TEST_F(HeapAttach, DebianPython3IsAttachedSnapshottedAndDetached) {
    const char *python = "/usr/bin/python3";
    if (::access(python, X_OK) != 0) GTEST_SKIP() << python << " is not installed";
    Process p;
    ASSERT_TRUE(p.start({python, "-c",
                         "import sys, json, time\n"
                         "print('ready %d worker=0' % __import__('os').getpid(), flush=True)\n"
                         "keep = []\n"
                         "for line in sys.stdin:\n"
                         "    if line.startswith('work'):\n"
                         "        for i in range(2000):\n"
                         "            keep.append(json.dumps({'i': i, 'v': list(range(i % 300))}))\n"
                         "            keep = keep[-500:]\n"
                         "        print('worked', sum(len(k) for k in keep), flush=True)\n"
                         "    elif line.startswith('quit'):\n"
                         "        break\n"}));
    const pid_t pid = p.wait_ready();
    ASSERT_GT(pid, 0);
    const std::string expected = p.ask("work", "worked");
    ASSERT_FALSE(expected.empty());
    for (int cycle = 0; cycle < 3; ++cycle) {
        const nmt::Result a = attach(pid);
        ASSERT_EQ(a.status, 0) << a.err;
        EXPECT_EQ(p.ask("work", "worked"), expected);
        const nm::model::Snapshot s = snapshot_of(pid);
        EXPECT_TRUE(s.process.heap_tracked);
        uint64_t allocs = 0;
        for (const auto &e : s.experts)
            if (e.kind == nm::model::KeyKind::Module) allocs += e.allocs;
        EXPECT_GT(allocs, 0u) << "python3's work made no observed allocation";
        ASSERT_EQ(detach(pid).status, 0);
        EXPECT_EQ(p.ask("work", "worked"), expected);
    }
    ASSERT_TRUE(p.send("quit"));
    EXPECT_EQ(p.wait_exit(), 0);
}

// Debian's own `sleep` (coreutils): attached in its nanosleep, snapshotted, detached; it still
// sleeps its time and exits 0.
TEST_F(HeapAttach, DebianSleepIsAttachedAndEndsNormally) {
    Process p;
    ASSERT_TRUE(p.start({"/bin/sleep", "3"}));
    const pid_t pid = p.pid();
    // Until it sleeps: exec'd, and in clock_nanosleep(2) (number 230), not still starting.
    for (int i = 0; i < 500; ++i) {
        std::ifstream sc("/proc/" + std::to_string(pid) + "/syscall");
        long nr = -1;
        if (sc >> nr && nr == 230) break;
        nmt::sleep_ms(10);
    }
    const nmt::Result a = attach(pid);
    ASSERT_EQ(a.status, 0) << a.err;
    const nm::model::Snapshot s = snapshot_of(pid);
    EXPECT_TRUE(s.process.heap_tracked);
    ASSERT_EQ(detach(pid).status, 0);
    EXPECT_EQ(p.wait_exit(10000), 0);
}

TEST_F(HeapAttach, StaticExecutableIsRefused) {
    Process p;
    ASSERT_TRUE(p.start({NMT_ATTACH_STATIC}));
    const pid_t pid = p.wait_ready();
    ASSERT_GT(pid, 0);
    const nmt::Result a = attach(pid);
    EXPECT_EQ(a.status, 1);
    EXPECT_NE(a.err.find("static executable"), std::string::npos) << a.err;
    EXPECT_EQ(p.ask("status", "status").find("errors=0") != std::string::npos, true);
    ASSERT_TRUE(p.send("quit"));
    EXPECT_TRUE(p.wait_line("done errors=0", nullptr, 60000));
    EXPECT_EQ(p.wait_exit(), 0);
}

TEST_F(HeapAttach, SetuidExecutableIsRefused) {
    // A set-user-ID copy of the C program (owned by whoever runs the test: the bit is what counts).
    char dir[] = "/tmp/nmt-setuid-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string copy = std::string(dir) + "/nmt_attach_setuid";
    ASSERT_EQ(nmt::run({"/bin/cp", NMT_ATTACH_C, copy}).status, 0);
    ASSERT_EQ(::chmod(copy.c_str(), 04755), 0);
    {
        Process p;
        ASSERT_TRUE(p.start({copy}));
        const pid_t pid = p.wait_ready();
        ASSERT_GT(pid, 0);
        const nmt::Result a = attach(pid);
        EXPECT_EQ(a.status, 1);
        EXPECT_NE(a.err.find("set-user-ID"), std::string::npos) << a.err;
        EXPECT_EQ(maps_of(pid).find("libnmleak-agent"), std::string::npos) << "the refused process was touched";
        ASSERT_TRUE(p.send("quit"));
        EXPECT_TRUE(p.wait_line("done errors=0", nullptr, 60000));
        EXPECT_EQ(p.wait_exit(), 0);
    }
    ::unlink(copy.c_str());
    ::rmdir(dir);
}

// Another allocator preloaded (Debian's libmimalloc.so.2 replaces malloc for the whole process):
// refused before anything is loaded into it.
TEST_F(HeapAttach, ProcessUnderAnotherPreloadedAllocatorIsRefused) {
    const char *mimalloc = "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2";
    if (::access(mimalloc, R_OK) != 0) GTEST_SKIP() << mimalloc << " is not installed";
    Process p;
    ASSERT_TRUE(p.start({NMT_ATTACH_C}, {std::string("LD_PRELOAD=") + mimalloc}));
    const pid_t pid = p.wait_ready();
    ASSERT_GT(pid, 0);
    const nmt::Result a = attach(pid);
    EXPECT_EQ(a.status, 1);
    EXPECT_NE(a.err.find("another allocator"), std::string::npos) << a.err;
    EXPECT_NE(a.err.find("libmimalloc"), std::string::npos) << a.err;
    EXPECT_EQ(maps_of(pid).find("libnmleak-agent"), std::string::npos) << "the refused process was touched";
    ASSERT_TRUE(p.send("quit"));
    EXPECT_TRUE(p.wait_line("done errors=0", nullptr, 60000));
    EXPECT_EQ(p.wait_exit(), 0);
}

// --no-heap keeps the old contract: only processes with libnmapi.
TEST_F(HeapAttach, NoHeapStillNeedsLibnmapi) {
    Process p;
    ASSERT_TRUE(p.start({NMT_ATTACH_C}));
    const pid_t pid = p.wait_ready();
    ASSERT_GT(pid, 0);
    const nmt::Result a = nmt::nmleak({"attach", "--no-heap", std::to_string(pid)});
    EXPECT_EQ(a.status, 1);
    EXPECT_NE(a.err.find("libnmapi.so is not mapped"), std::string::npos) << a.err;
    ASSERT_TRUE(p.send("quit"));
    EXPECT_TRUE(p.wait_line("done errors=0", nullptr, 60000));
    EXPECT_EQ(p.wait_exit(), 0);
}

} // namespace
