// test_symbolize_process.cpp - the process's one symbolizer across snapshots: each module loaded
// once, and a plugin unloaded between two snapshots still names its frames in the second.
#include <netmon.h>
#include <nmhost.h>
#include <nmleak/capture.hpp>

#include "model/symbolize.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using ::testing::EndsWith;

namespace {

const std::string kPlugin = std::string(NM_TEST_BINARY_DIR) + "/support/nmt_plugin.so";

// The innermost frame of `key_name`'s blocks that lies in the plugin, or an empty frame.
nm::model::Frame plugin_frame(const nm::model::Snapshot &s, const std::string &key_name) {
    for (const auto &e : s.experts) {
        if (e.name != key_name) continue;
        for (const auto &b : e.blocks)
            for (uint32_t f : s.stacks.at(b.stack).frames)
                if (s.frames.at(f).module == kPlugin) return s.frames.at(f);
    }
    return {};
}

// Still loaded by the dynamic loader (its file may stay in /proc/self/maps: libelf maps it to read
// its debug info).
bool plugin_loaded() {
    void *h = dlopen(kPlugin.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (h != nullptr) dlclose(h);
    return h != nullptr;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

TEST(ProcessSymbolizer, LoadsEachModuleOnceAndKeepsAnUnloadedPluginsFrames) {
    HEXPERTKEY key = NmOpenExpertKey("plugin-frames");
    ASSERT_NE(key, nullptr);
    void *h = dlopen(kPlugin.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(h, nullptr) << dlerror();
    auto alloc = reinterpret_cast<void *(*)(HEXPERTKEY, size_t)>(dlsym(h, "nmt_plugin_alloc"));
    ASSERT_NE(alloc, nullptr);
    void *p = alloc(key, 321);
    ASSERT_NE(p, nullptr);

    nm::Symbolizer &sym = nm::process_symbolizer();
    auto t0 = std::chrono::steady_clock::now();
    nm::model::Snapshot first = nm::capture_snapshot(true);
    const double first_ms = ms_since(t0);
    const nm::model::Frame before = plugin_frame(first, "plugin-frames");
    EXPECT_EQ(before.function, "nmt_plugin_alloc");
    EXPECT_THAT(before.file, EndsWith("plugin.c"));
    EXPECT_GT(before.line, 0u);
    const size_t loaded = sym.modules_loaded();
    EXPECT_GT(loaded, 1u) << "the test binary, libnmapi and the plugin at least";

    ASSERT_EQ(dlclose(h), 0) << dlerror();
    ASSERT_FALSE(plugin_loaded()) << "the plugin must really be unloaded for this test to mean anything";

    t0 = std::chrono::steady_clock::now();
    nm::model::Snapshot second = nm::capture_snapshot(true);
    const double second_ms = ms_since(t0);
    const nm::model::Frame after = plugin_frame(second, "plugin-frames");
    EXPECT_EQ(after.function, before.function);
    EXPECT_EQ(after.file, before.file);
    EXPECT_EQ(after.line, before.line);
    EXPECT_EQ(after.module_offset, before.module_offset);
    EXPECT_EQ(sym.modules_loaded(), loaded) << "no module's debug info was loaded a second time";
    EXPECT_EQ(sym.modules_unloaded(), 1u);
    // An address of the plugin not looked up before it was unloaded: named from the kept module.
    const nm::model::Frame entry =
        sym.resolve(reinterpret_cast<uint64_t>(alloc), nm::Symbolizer::AddressKind::Exact);
    EXPECT_EQ(entry.function, "nmt_plugin_alloc");
    EXPECT_EQ(entry.module, kPlugin);
    EXPECT_EQ(sym.modules_loaded(), loaded);
    // What each snapshot paid before the symbolizer was kept: a fresh one loads every module again.
    std::vector<uint64_t> addrs;
    for (const auto &f : first.frames) addrs.push_back(f.address);
    t0 = std::chrono::steady_clock::now();
    nm::Symbolizer fresh;
    fresh.resolve(addrs);
    const double fresh_ms = ms_since(t0);
    std::printf("snapshot of %zu frames (depth %u): first %.1f ms, second (plugin unloaded) %.1f ms, "
                "%zu modules loaded; the same frames with a fresh symbolizer: %.1f ms\n",
                first.frames.size(), first.process.stack_depth, first_ms, second_ms, loaded, fresh_ms);

    // Once nothing refers to the plugin any more, a snapshot with blocks lets it go.
    ExpertFreeMemory(key, p);
    NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr);
    nm::model::Snapshot third = nm::capture_snapshot(true);
    for (const auto &f : third.frames) EXPECT_NE(f.module, kPlugin) << f.function;
    EXPECT_EQ(sym.modules_unloaded(), 0u);
    EXPECT_EQ(sym.modules_loaded(), loaded);
}
