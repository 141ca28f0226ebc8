// test_symbolize.cpp - nm::Symbolizer (function/file/line/module of addresses) and nm::list_modules.
#include "model/modules.hpp"
#include "model/symbolize.hpp"

#include <nmleak/sys.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using nm::Symbolizer;
using ::testing::EndsWith;
using ::testing::HasSubstr;

namespace {

std::string basename_of(const std::string &path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string self_exe() {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

__attribute__((noinline)) uint64_t caller_return_address() {
    return reinterpret_cast<uint64_t>(__builtin_return_address(0));
}

} // namespace

// The known function: its call to caller_return_address() leaves a return address inside it, on the
// line recorded in *call_line. Not static and not in the anonymous namespace so it has a plain name.
__attribute__((noinline)) uint64_t nm_symbolize_probe(int *call_line) {
    *call_line = __LINE__ + 1;
    volatile uint64_t ra = caller_return_address();
    return ra + 0; // not a tail call: the return address must stay inside this function
}

// Inlined into nm_inline_host: a return address in it names the inlined function, as its line does.
__attribute__((always_inline)) inline uint64_t nm_inlined_probe(int *call_line) {
    *call_line = __LINE__ + 1;
    volatile uint64_t ra = caller_return_address();
    return ra + 0;
}

__attribute__((noinline)) uint64_t nm_inline_host(int *call_line) {
    return nm_inlined_probe(call_line) + 0;
}

extern "C" void _start(); // from crt1.o: code without DWARF

TEST(Symbolize, ReturnAddressInKnownFunction) {
    int line = 0;
    uint64_t ra = nm_symbolize_probe(&line);
    Symbolizer sym;
    ASSERT_TRUE(sym.ok());
    nm::model::Frame f = sym.resolve(ra);
    EXPECT_EQ(f.address, ra);
    EXPECT_THAT(f.function, HasSubstr("nm_symbolize_probe"));
    EXPECT_EQ(basename_of(f.file), "test_symbolize.cpp");
    EXPECT_GE(static_cast<int>(f.line), line - 1);
    EXPECT_LE(static_cast<int>(f.line), line + 1);
    EXPECT_EQ(f.module, self_exe());
    EXPECT_GT(f.module_offset, 0u);
    EXPECT_LT(f.module_offset, ra);
}

TEST(Symbolize, ExactFunctionEntryAndDemangling) {
    Symbolizer sym;
    auto addr = reinterpret_cast<uint64_t>(&nm_symbolize_probe);
    nm::model::Frame f = sym.resolve(addr, Symbolizer::AddressKind::Exact);
    EXPECT_EQ(f.function, "nm_symbolize_probe(int*)");
    EXPECT_EQ(basename_of(f.file), "test_symbolize.cpp");
    EXPECT_GT(f.line, 0u);

    EXPECT_EQ(nm::sys::demangle_symbol("_ZN2nm10Symbolizer7resolveEmNS0_11AddressKindE"),
              "nm::Symbolizer::resolve(unsigned long, nm::Symbolizer::AddressKind)");
    EXPECT_EQ(nm::sys::demangle_symbol("main"), "main");
    EXPECT_EQ(nm::sys::demangle_symbol("_Znot_a_symbol"), "_Znot_a_symbol");
    EXPECT_EQ(nm::sys::demangle_symbol(nullptr), "");
}

namespace {
uint64_t g_qsort_return = 0;
int compare_recording_caller(const void *a, const void *b) {
    g_qsort_return = reinterpret_cast<uint64_t>(__builtin_return_address(0));
    return *static_cast<const int *>(a) - *static_cast<const int *>(b);
}
} // namespace

TEST(Symbolize, InlinedCodeNamesTheInlinedFunction) {
    int line = 0;
    uint64_t ra = nm_inline_host(&line);
    Symbolizer sym;
    nm::model::Frame f = sym.resolve(ra);
    EXPECT_THAT(f.function, HasSubstr("nm_inlined_probe"));
    EXPECT_EQ(basename_of(f.file), "test_symbolize.cpp");
    EXPECT_GE(static_cast<int>(f.line), line - 1);
    EXPECT_LE(static_cast<int>(f.line), line + 1);
}

TEST(Symbolize, CodeWithoutDebugInfoHasSymbolButNoLine) {
    // _start has a symbol but no DWARF; the CU laid out just before it must not lend it a line.
    Symbolizer sym;
    nm::model::Frame f =
        sym.resolve(reinterpret_cast<uint64_t>(&_start) + 4, Symbolizer::AddressKind::Exact);
    EXPECT_EQ(f.function, "_start");
    EXPECT_EQ(f.file, "");
    EXPECT_EQ(f.line, 0u);
    EXPECT_EQ(f.module, self_exe());
}

TEST(Symbolize, LibcAddressesResolveToLibc) {
    // A return address inside libc: qsort calling back into us.
    int values[] = {3, 1, 2};
    std::qsort(values, 3, sizeof(int), compare_recording_caller);
    ASSERT_NE(g_qsort_return, 0u);
    Symbolizer sym;
    nm::model::Frame f = sym.resolve(g_qsort_return);
    EXPECT_THAT(basename_of(f.module), HasSubstr("libc.so"));
    EXPECT_GT(f.module_offset, 0u);

    // An exported libc function, by its entry address.
    nm::model::Frame g =
        sym.resolve(reinterpret_cast<uint64_t>(&::getppid), Symbolizer::AddressKind::Exact);
    EXPECT_THAT(basename_of(g.module), HasSubstr("libc.so"));
    EXPECT_THAT(g.function, HasSubstr("getppid"));
}

TEST(Symbolize, UnmappedAddressesGiveEmptyFrames) {
    Symbolizer sym;
    int on_stack = 0;
    std::vector<uint64_t> bad = {0, 1, 0x10, 0xdead00000000ull, ~0ull,
                                 reinterpret_cast<uint64_t>(&on_stack)};
    std::vector<nm::model::Frame> frames = sym.resolve(bad);
    ASSERT_EQ(frames.size(), bad.size());
    for (size_t i = 0; i < bad.size(); ++i) {
        EXPECT_EQ(frames[i].address, bad[i]);
        EXPECT_EQ(frames[i].function, "") << std::hex << bad[i];
        EXPECT_EQ(frames[i].file, "") << std::hex << bad[i];
        EXPECT_EQ(frames[i].line, 0u);
    }
    EXPECT_EQ(sym.resolve(0, Symbolizer::AddressKind::Exact).module, "");
}

TEST(Symbolize, BatchAndCacheAgree) {
    int line = 0;
    uint64_t ra = nm_symbolize_probe(&line);
    Symbolizer sym;
    EXPECT_EQ(sym.cached(), 0u);
    nm::model::Frame one = sym.resolve(ra);
    EXPECT_EQ(sym.cached(), 1u);
    std::vector<nm::model::Frame> many = sym.resolve(std::vector<uint64_t>{ra, ra, ra});
    EXPECT_EQ(sym.cached(), 1u);
    ASSERT_EQ(many.size(), 3u);
    for (const auto &f : many) {
        EXPECT_EQ(f.function, one.function);
        EXPECT_EQ(f.file, one.file);
        EXPECT_EQ(f.line, one.line);
        EXPECT_EQ(f.module_offset, one.module_offset);
    }
}

TEST(Symbolize, SeveralInstancesOnSeveralThreads) {
    int line = 0;
    uint64_t ra = nm_symbolize_probe(&line);
    std::vector<std::string> names(4);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < names.size(); ++i)
        threads.emplace_back([&, i] {
            Symbolizer sym;
            names[i] = sym.resolve(ra).function;
        });
    for (auto &t : threads) t.join();
    for (const auto &n : names) EXPECT_THAT(n, HasSubstr("nm_symbolize_probe"));

    // One instance shared by threads: calls are serialized.
    Symbolizer shared;
    threads.clear();
    for (size_t i = 0; i < names.size(); ++i)
        threads.emplace_back([&, i] { names[i] = shared.resolve(ra + 0).function; });
    for (auto &t : threads) t.join();
    for (const auto &n : names) EXPECT_THAT(n, HasSubstr("nm_symbolize_probe"));
}

TEST(Symbolize, PicksUpObjectsLoadedAfterConstruction) {
    Symbolizer sym;
    sym.resolve(0x10); // a miss before the load must not hide the new object
    void *h = dlopen("libthread_db.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (h == nullptr) GTEST_SKIP() << "libthread_db.so.1 not available: " << dlerror();
    void *fn = dlsym(h, "td_init");
    ASSERT_NE(fn, nullptr);
    nm::model::Frame f =
        sym.resolve(reinterpret_cast<uint64_t>(fn), Symbolizer::AddressKind::Exact);
    EXPECT_THAT(f.module, HasSubstr("libthread_db"));
    EXPECT_EQ(f.function, "td_init");
    dlclose(h);
}

TEST(Symbolize, AnotherProcess) {
    int line = 0;
    uint64_t ra = nm_symbolize_probe(&line);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        pause(); // same address space layout as the parent, until killed
        _exit(0);
    }
    Symbolizer sym(child);
    EXPECT_TRUE(sym.ok());
    EXPECT_EQ(sym.pid(), child);
    nm::model::Frame f = sym.resolve(ra);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    EXPECT_THAT(f.function, HasSubstr("nm_symbolize_probe"));
    EXPECT_EQ(basename_of(f.file), "test_symbolize.cpp");
    EXPECT_EQ(f.module, self_exe());

    Symbolizer gone(child); // reaped: its maps cannot be read
    EXPECT_FALSE(gone.ok());
    EXPECT_EQ(gone.resolve(ra).function, "");
}

TEST(Modules, ListsExecutableLibraryAndVdso) {
    std::vector<nm::model::Module> mods = nm::list_modules();
    ASSERT_FALSE(mods.empty());
    EXPECT_EQ(mods.front().path, self_exe());
    EXPECT_EQ(mods.front().build_id.size() % 2, 0u);
    EXPECT_GE(mods.front().build_id.size(), 16u); // at least 8 bytes (GNU ld default: 20)

    const nm::model::Module *exe =
        nm::find_module(mods, reinterpret_cast<uint64_t>(&nm_symbolize_probe));
    ASSERT_NE(exe, nullptr);
    EXPECT_EQ(exe->path, self_exe());

    const nm::model::Module *lib = nullptr;
    bool vdso = false;
    for (const auto &m : mods) {
        if (basename_of(m.path).rfind("libnmapi.so", 0) == 0) lib = &m;
        if (m.path == "[vdso]") vdso = true;
        EXPECT_GT(m.size, 0u) << m.path;
        EXPECT_EQ(m.base % 4096, 0u) << m.path;
        EXPECT_EQ(m.build_id.find_first_not_of("0123456789abcdef"), std::string::npos) << m.path;
    }
    ASSERT_NE(lib, nullptr);
    EXPECT_FALSE(lib->build_id.empty());
    EXPECT_NE(lib->build_id, mods.front().build_id);
    if (getauxval(AT_SYSINFO_EHDR) != 0) { // valgrind hides the vdso
        EXPECT_TRUE(vdso);
    }
    EXPECT_EQ(nm::find_module(mods, 0x10), nullptr);
}

TEST(Modules, AgreeWithSymbolizerOffsets) {
    int line = 0;
    uint64_t ra = nm_symbolize_probe(&line);
    std::vector<nm::model::Module> mods = nm::list_modules();
    const nm::model::Module *exe = nm::find_module(mods, ra);
    ASSERT_NE(exe, nullptr);
    Symbolizer sym;
    nm::model::Frame f = sym.resolve(ra);
    EXPECT_EQ(f.module, exe->path);
    EXPECT_EQ(exe->base + f.module_offset, ra);
}
