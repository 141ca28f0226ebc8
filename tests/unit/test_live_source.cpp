// test_live_source.cpp - nm::live::Source in-process: what each update carries, and only once.
#include <netmon.h>
#include <nmhost.h>
#include <nmleak/live.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

const nm::model::Expert *find(const nm::model::Snapshot &s, uint64_t id) {
    for (const auto &e : s.experts)
        if (e.id == id) return &e;
    return nullptr;
}

uint64_t id_of(const std::string &name) {
    nm::live::Source src;
    nm::model::Snapshot s = src.full(false, nullptr);
    uint64_t id = 0;
    for (const auto &e : s.experts)
        if (e.name == name) id = e.id; // the newest key of that name
    return id;
}

extern "C" __attribute__((noinline)) void *nmt_live_alloc(HEXPERTKEY key, size_t n) {
    void *p = ExpertAllocMemory(key, n, nullptr);
    asm volatile("" ::: "memory");
    return p;
}

TEST(LiveSource, FirstDeltaCarriesEveryKeyThenOnlyChanges) {
    HEXPERTKEY key = NmOpenExpertKey("live-first");
    const uint64_t id = id_of("live-first");
    nm::live::Source src;
    nm::live::Baseline base;
    src.refresh();
    nm::model::Snapshot u;
    ASSERT_TRUE(src.delta(&base, &u));
    ASSERT_NE(find(u, id), nullptr);
    EXPECT_FALSE(u.modules.empty()) << "the first update carries the module list";
    src.refresh();
    EXPECT_FALSE(src.delta(&base, &u)) << "nothing changed";

    void *p = nmt_live_alloc(key, 777);
    src.refresh();
    ASSERT_TRUE(src.delta(&base, &u));
    const nm::model::Expert *e = find(u, id);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->live_blocks, 1u);
    EXPECT_EQ(e->live_bytes, 777u);
    EXPECT_TRUE(e->blocks.empty()) << "blocks are not streamed";
    EXPECT_TRUE(u.modules.empty()) << "modules only when they change";
    ExpertFreeMemory(key, p);
    NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr);
}

TEST(LiveSource, FullSnapshotResetsTheBaseline) {
    HEXPERTKEY key = NmOpenExpertKey("live-full");
    nm::live::Source src;
    nm::live::Baseline base;
    nm::model::Snapshot full = src.full(true, &base);
    EXPECT_GT(base.keys(), 0u);
    src.refresh();
    nm::model::Snapshot u;
    EXPECT_FALSE(src.delta(&base, &u)) << "the snapshot already told everything";
    NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr);
}

TEST(LiveSource, CleanupAndMisuseAreSentOnceWithSymbolizedStacks) {
    HEXPERTKEY key = NmOpenExpertKey("live-close");
    const uint64_t id = id_of("live-close");
    nm::live::Source src;
    nm::live::Baseline base;
    src.full(false, &base);
    nmt_live_alloc(key, 100);
    nmt_live_alloc(key, 200);
    int not_a_block = 0;
    EXPECT_EQ(ExpertFreeMemory(key, &not_a_block), NMERR_INVALID_PARAMETER);
    src.refresh();
    nm::model::Snapshot u;
    ASSERT_TRUE(src.delta(&base, &u));
    const nm::model::Expert *e = find(u, id);
    ASSERT_NE(e, nullptr);
    ASSERT_EQ(e->misuse.size(), 1u);
    EXPECT_EQ(e->misuse_count, 1u);
    EXPECT_NE(e->misuse[0].stack, 0u);

    NMCLEANUPINFO info{};
    ASSERT_EQ(NmCloseExpertKey(key, NM_OUTCOME_FAILED, &info), NMERR_SUCCESS);
    EXPECT_EQ(info.Blocks, 2u);
    src.refresh();
    ASSERT_TRUE(src.delta(&base, &u));
    e = find(u, id);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->state, nm::model::ExpertState::Closed);
    EXPECT_TRUE(e->misuse.empty()) << "the misuse event was sent already";
    ASSERT_EQ(e->cleanups.size(), 1u);
    EXPECT_EQ(e->cleanups[0].blocks, 2u);
    EXPECT_EQ(e->cleanups[0].bytes, 300u);
    ASSERT_FALSE(e->cleanups[0].stacks.empty());
    bool named = false;
    for (const auto &g : e->cleanups[0].stacks)
        for (uint32_t f : u.stacks.at(g.stack).frames) named |= u.frames.at(f).function == "nmt_live_alloc";
    EXPECT_TRUE(named) << "the cleanup's stacks are symbolized in the update";
    src.refresh();
    EXPECT_FALSE(src.delta(&base, &u)) << "a closed key is final";
}

TEST(LiveSource, TerminateById) {
    HEXPERTKEY key = NmOpenExpertKey("live-terminate");
    const uint64_t id = id_of("live-terminate");
    ASSERT_NE(id, 0u);
    EXPECT_EQ(nm::live::request_terminate_by_id(id), NMERR_SUCCESS);
    EXPECT_EQ(ExpertIndicateStatus(key, EXPERTSTATUS_RUNNING, 0, nullptr, 0), NMERR_EXPERT_TERMINATE);
    EXPECT_EQ(nm::live::request_terminate_by_id(id), NMERR_SUCCESS) << "asking twice is fine";
    NmCloseExpertKey(key, NM_OUTCOME_TERMINATED, nullptr);
    EXPECT_EQ(nm::live::request_terminate_by_id(id), NMERR_INVALID_EXPERT_HANDLE) << "closed";
    EXPECT_EQ(nm::live::request_terminate_by_id(~0ull), NMERR_INVALID_EXPERT_HANDLE) << "never issued";
}

} // namespace
