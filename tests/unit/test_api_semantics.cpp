// test_api_semantics.cpp - one test per semantic of the expert memory API in the SPEC.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/snapshot_find.hpp"
#include "netmon.h"
#include "nmhost.h"

namespace {

struct KeyGuard {
    HEXPERTKEY key;
    explicit KeyGuard(const char *name) : key(NmOpenExpertKey(name)) {}
    ~KeyGuard() {
        if (key) NmCloseExpertKey(key, NM_OUTCOME_FAILED, nullptr);
    }
};

TEST(Alloc, ReturnsSixteenByteAlignedBlocksOfEverySize) {
    KeyGuard k("align");
    std::vector<void *> blocks;
    for (size_t n = 0; n <= 4096; ++n) {
        DWORD err = 12345;
        void *p = ExpertAllocMemory(k.key, n, &err);
        ASSERT_NE(p, nullptr) << n;
        EXPECT_EQ(err, DWORD(NMERR_SUCCESS));
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u) << "size " << n;
        std::memset(p, 0xAB, n);
        EXPECT_EQ(ExpertMemorySize(k.key, p), n);
        blocks.push_back(p);
    }
    for (void *p : blocks) EXPECT_EQ(ExpertFreeMemory(k.key, p), SIZE_T(NMERR_SUCCESS));
}

TEST(Alloc, NullErrorPointerIsAllowed) {
    KeyGuard k("nullerr");
    void *p = ExpertAllocMemory(k.key, 64, nullptr);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(ExpertAllocMemory(nullptr, 64, nullptr), nullptr); // failure with NULL pError too
    EXPECT_EQ(ExpertFreeMemory(k.key, p), SIZE_T(NMERR_SUCCESS));
}

TEST(Alloc, SizeZeroGivesUniqueFreeableBlocks) {
    KeyGuard k("zero");
    DWORD err = 1;
    void *a = ExpertAllocMemory(k.key, 0, &err);
    EXPECT_EQ(err, DWORD(NMERR_SUCCESS));
    void *b = ExpertAllocMemory(k.key, 0, &err);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_NE(a, b);
    EXPECT_EQ(ExpertMemorySize(k.key, a), 0u);
    EXPECT_EQ(ExpertFreeMemory(k.key, a), SIZE_T(NMERR_SUCCESS));
    EXPECT_EQ(ExpertFreeMemory(k.key, b), SIZE_T(NMERR_SUCCESS));
}

TEST(Alloc, UnsatisfiableSizesGiveOutOfMemory) {
    KeyGuard k("huge");
    for (SIZE_T n : {SIZE_MAX, SIZE_MAX - 8, SIZE_MAX / 2, SIZE_T(1) << 44}) {
        DWORD err = 0;
        EXPECT_EQ(ExpertAllocMemory(k.key, n, &err), nullptr) << n;
        EXPECT_EQ(err, DWORD(NMERR_OUT_OF_MEMORY)) << n;
    }
}

TEST(Realloc, KeepsContentsWhenGrowingAndShrinking) {
    KeyGuard k("realloc");
    DWORD err;
    auto *p = static_cast<unsigned char *>(ExpertAllocMemory(k.key, 100, &err));
    ASSERT_NE(p, nullptr);
    for (int i = 0; i < 100; ++i) p[i] = static_cast<unsigned char>(i);
    // Grow far enough that the block must move.
    auto *q = static_cast<unsigned char *>(ExpertReallocMemory(k.key, p, 100000, &err));
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(err, DWORD(NMERR_SUCCESS));
    EXPECT_NE(q, p) << "a 1000x growth moves the block";
    for (int i = 0; i < 100; ++i) ASSERT_EQ(q[i], i);
    EXPECT_EQ(ExpertMemorySize(k.key, q), 100000u);
    EXPECT_EQ(ExpertMemorySize(k.key, p), 0u) << "the old address is no longer a block";
    auto *r = static_cast<unsigned char *>(ExpertReallocMemory(k.key, q, 10, &err));
    ASSERT_NE(r, nullptr);
    for (int i = 0; i < 10; ++i) ASSERT_EQ(r[i], i);
    EXPECT_EQ(ExpertMemorySize(k.key, r), 10u);
    EXPECT_EQ(ExpertFreeMemory(k.key, r), SIZE_T(NMERR_SUCCESS));
}

TEST(Realloc, NullPointerBehavesAsAlloc) {
    KeyGuard k("realloc-null");
    DWORD err = 1;
    void *p = ExpertReallocMemory(k.key, nullptr, 40, &err);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(err, DWORD(NMERR_SUCCESS));
    EXPECT_EQ(ExpertMemorySize(k.key, p), 40u);
    EXPECT_EQ(ExpertFreeMemory(k.key, p), SIZE_T(NMERR_SUCCESS));
}

TEST(Realloc, SizeZeroKeepsASizeZeroBlock) {
    KeyGuard k("realloc-zero");
    DWORD err;
    void *p = ExpertAllocMemory(k.key, 64, &err);
    void *q = ExpertReallocMemory(k.key, p, 0, &err);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(err, DWORD(NMERR_SUCCESS));
    EXPECT_EQ(ExpertMemorySize(k.key, q), 0u);
    EXPECT_EQ(ExpertFreeMemory(k.key, q), SIZE_T(NMERR_SUCCESS));
}

TEST(Realloc, FailureLeavesTheOriginalOwnedAndIntact) {
    KeyGuard k("realloc-fail");
    DWORD err;
    auto *p = static_cast<char *>(ExpertAllocMemory(k.key, 32, &err));
    std::strcpy(p, "still here");
    EXPECT_EQ(ExpertReallocMemory(k.key, p, SIZE_MAX, &err), nullptr);
    EXPECT_EQ(err, DWORD(NMERR_OUT_OF_MEMORY));
    EXPECT_STREQ(p, "still here");
    EXPECT_EQ(ExpertMemorySize(k.key, p), 32u);
    EXPECT_EQ(ExpertFreeMemory(k.key, p), SIZE_T(NMERR_SUCCESS));
}

TEST(Free, NullIsANoOpThatSucceeds) {
    KeyGuard k("free-null");
    EXPECT_EQ(ExpertFreeMemory(k.key, nullptr), SIZE_T(NMERR_SUCCESS));
}

TEST(MemorySize, IsTheAskedSizeAndZeroForNonBlocks) {
    KeyGuard k("size");
    KeyGuard other("size-other");
    DWORD err;
    auto *p = static_cast<char *>(ExpertAllocMemory(k.key, 33, &err));
    EXPECT_EQ(ExpertMemorySize(k.key, p), 33u) << "not the allocator's 48-byte usable size";
    EXPECT_EQ(ExpertMemorySize(k.key, p + 16), 0u);
    EXPECT_EQ(ExpertMemorySize(other.key, p), 0u) << "another key's block";
    EXPECT_EQ(ExpertMemorySize(k.key, nullptr), 0u);
    int on_stack = 0;
    EXPECT_EQ(ExpertMemorySize(k.key, &on_stack), 0u);
    ExpertFreeMemory(k.key, p);
    EXPECT_EQ(ExpertMemorySize(k.key, p), 0u);
}

TEST(Keys, GarbageClosedAndNeverIssuedKeysAreRefused) {
    HEXPERTKEY closed = NmOpenExpertKey("closed");
    ASSERT_NE(closed, nullptr);
    ASSERT_EQ(NmCloseExpertKey(closed, NM_OUTCOME_DONE, nullptr), DWORD(NMERR_SUCCESS));
    int local = 0;
    std::vector<HEXPERTKEY> bad = {nullptr, closed, &local, reinterpret_cast<HEXPERTKEY>(1),
                                   reinterpret_cast<HEXPERTKEY>(~uintptr_t{0}),
                                   reinterpret_cast<HEXPERTKEY>(uintptr_t{0xA5} << 56), // tag, slot 0
                                   reinterpret_cast<HEXPERTKEY>((uintptr_t{0xA5} << 56) | 0xfffffffff0001ull),
                                   reinterpret_cast<HEXPERTKEY>(uintptr_t{0xdeadbeef})};
    for (HEXPERTKEY key : bad) {
        DWORD err = 0;
        EXPECT_EQ(ExpertAllocMemory(key, 8, &err), nullptr);
        EXPECT_EQ(err, DWORD(NMERR_INVALID_EXPERT_HANDLE));
        err = 0;
        EXPECT_EQ(ExpertReallocMemory(key, nullptr, 8, &err), nullptr);
        EXPECT_EQ(err, DWORD(NMERR_INVALID_EXPERT_HANDLE));
        EXPECT_EQ(ExpertFreeMemory(key, nullptr), SIZE_T(NMERR_INVALID_EXPERT_HANDLE));
        EXPECT_EQ(ExpertMemorySize(key, &local), 0u);
        EXPECT_EQ(ExpertIndicateStatus(key, EXPERTSTATUS_RUNNING, 0, "x", 5), DWORD(NMERR_INVALID_EXPERT_HANDLE));
        EXPECT_EQ(NmRequestExpertTerminate(key), DWORD(NMERR_INVALID_EXPERT_HANDLE));
        EXPECT_EQ(NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr), DWORD(NMERR_INVALID_EXPERT_HANDLE));
    }
    EXPECT_EQ(NmOpenExpertKey(nullptr), nullptr);
}

TEST(Keys, AReusedSlotDoesNotRevalidateAnOldKey) {
    HEXPERTKEY a = NmOpenExpertKey("first");
    NmCloseExpertKey(a, NM_OUTCOME_DONE, nullptr);
    HEXPERTKEY b = NmOpenExpertKey("second");
    ASSERT_NE(b, nullptr);
    EXPECT_NE(a, b);
    DWORD err = 0;
    EXPECT_EQ(ExpertAllocMemory(a, 8, &err), nullptr);
    EXPECT_EQ(err, DWORD(NMERR_INVALID_EXPERT_HANDLE));
    NmCloseExpertKey(b, NM_OUTCOME_DONE, nullptr);
}

struct MisuseCase {
    const char *name;
    nm::model::MisuseKind kind;
};

class BadPointer : public ::testing::Test {
protected:
    void SetUp() override {
        key = NmOpenExpertKey(name_.c_str());
        other = NmOpenExpertKey("bad-pointer-other");
    }
    void TearDown() override {
        NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr);
        NmCloseExpertKey(other, NM_OUTCOME_DONE, nullptr);
    }
    // Both Free and Realloc must refuse p, and the refusal must be recorded with a stack.
    void expect_refused(void *p, nm::model::MisuseKind kind) {
        DWORD err = 0;
        EXPECT_EQ(ExpertFreeMemory(key, p), SIZE_T(NMERR_INVALID_PARAMETER));
        EXPECT_EQ(ExpertReallocMemory(key, p, 64, &err), nullptr);
        EXPECT_EQ(err, DWORD(NMERR_INVALID_PARAMETER));
        nm::model::Snapshot s = nm::capture_snapshot(false);
        const nm::model::Expert *e = nmtest::find_expert(s, name_);
        ASSERT_NE(e, nullptr);
        ASSERT_EQ(e->misuse.size(), 2u);
        EXPECT_EQ(e->misuse_count, 2u);
        EXPECT_EQ(e->misuse[0].function, "ExpertFreeMemory");
        EXPECT_EQ(e->misuse[1].function, "ExpertReallocMemory");
        for (const auto &m : e->misuse) {
            EXPECT_EQ(m.kind, kind) << nm::model::to_string(m.kind);
            EXPECT_EQ(m.address, reinterpret_cast<uint64_t>(p));
            EXPECT_TRUE(nmtest::stack_has_function(s, m.stack, "expect_refused"))
                << "the misuse stack names the offending caller";
        }
    }
    std::string name_ = std::string("bad-pointer-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    HEXPERTKEY key = nullptr, other = nullptr;
};

TEST_F(BadPointer, DoubleFree) {
    void *p = ExpertAllocMemory(key, 24, nullptr);
    ASSERT_EQ(ExpertFreeMemory(key, p), SIZE_T(NMERR_SUCCESS));
    expect_refused(p, nm::model::MisuseKind::DoubleFree);
}

TEST_F(BadPointer, NeverAllocated) {
    static char not_a_block[64] __attribute__((aligned(16)));
    expect_refused(not_a_block, nm::model::MisuseKind::UnknownPointer);
}

TEST_F(BadPointer, WildPointersDoNotCrash) {
    // Unmapped, kernel-half and misaligned addresses: refused without being dereferenced.
    for (uintptr_t wild : {uintptr_t{0x10}, uintptr_t{0x7ff000000000}, uintptr_t{0xffff800000000000},
                           uintptr_t{0x123457}}) {
        EXPECT_EQ(ExpertFreeMemory(key, reinterpret_cast<void *>(wild)), SIZE_T(NMERR_INVALID_PARAMETER));
        EXPECT_EQ(ExpertMemorySize(key, reinterpret_cast<void *>(wild)), 0u);
    }
}

TEST_F(BadPointer, InteriorPointer) {
    auto *p = static_cast<char *>(ExpertAllocMemory(key, 200, nullptr));
    expect_refused(p + 48, nm::model::MisuseKind::InteriorPointer);
    EXPECT_EQ(ExpertMemorySize(key, p), 200u) << "the block itself is untouched";
    EXPECT_EQ(ExpertFreeMemory(key, p), SIZE_T(NMERR_SUCCESS));
}

TEST_F(BadPointer, AnotherKeysBlock) {
    void *p = ExpertAllocMemory(other, 50, nullptr);
    expect_refused(p, nm::model::MisuseKind::ForeignKey);
    nm::model::Snapshot s = nm::capture_snapshot(false);
    EXPECT_EQ(nmtest::find_expert(s, name_)->misuse[0].owner, "bad-pointer-other");
    EXPECT_EQ(ExpertMemorySize(other, p), 50u) << "the owner still has it";
    EXPECT_EQ(ExpertFreeMemory(other, p), SIZE_T(NMERR_SUCCESS));
}

TEST_F(BadPointer, OverwrittenHeaderIsReportedNotTrusted) {
    auto *p = static_cast<unsigned char *>(ExpertAllocMemory(key, 64, nullptr));
    p[-3] ^= 0xff; // an expert's buffer underflow
    expect_refused(p, nm::model::MisuseKind::CorruptHeader);
    p[-3] ^= 0xff;
    EXPECT_EQ(ExpertFreeMemory(key, p), SIZE_T(NMERR_SUCCESS));
}

TEST(Terminate, AllocAndReallocFailFreeReleasesButSaysTerminate) {
    HEXPERTKEY k = NmOpenExpertKey("terminate");
    DWORD err;
    void *a = ExpertAllocMemory(k, 100, &err);
    void *b = ExpertAllocMemory(k, 200, &err);
    ASSERT_EQ(NmRequestExpertTerminate(k), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(NmRequestExpertTerminate(k), DWORD(NMERR_SUCCESS)) << "asking twice is fine";
    err = 0;
    EXPECT_EQ(ExpertAllocMemory(k, 8, &err), nullptr);
    EXPECT_EQ(err, DWORD(NMERR_EXPERT_TERMINATE));
    err = 0;
    EXPECT_EQ(ExpertReallocMemory(k, a, 1000, &err), nullptr);
    EXPECT_EQ(err, DWORD(NMERR_EXPERT_TERMINATE));
    EXPECT_EQ(ExpertMemorySize(k, a), 100u) << "realloc refused: block untouched";
    EXPECT_EQ(ExpertFreeMemory(k, a), SIZE_T(NMERR_EXPERT_TERMINATE));
    EXPECT_EQ(ExpertMemorySize(k, a), 0u) << "but released";
    EXPECT_EQ(ExpertIndicateStatus(k, EXPERTSTATUS_ABORTED, 1, "stopping", 50), DWORD(NMERR_EXPERT_TERMINATE));
    NMCLEANUPINFO info{};
    EXPECT_EQ(NmCloseExpertKey(k, NM_OUTCOME_TERMINATED, &info), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(info.Blocks, 1u);
    EXPECT_EQ(info.Bytes, 200u);
    (void)b;
}

TEST(Status, IsRecordedAndPercentAbove99Ignored) {
    HEXPERTKEY k = NmOpenExpertKey("status");
    EXPECT_EQ(ExpertIndicateStatus(k, EXPERTSTATUS_RUNNING, 7, "reading frames", 42), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(ExpertIndicateStatus(k, EXPERTSTATUS_RUNNING, 8, nullptr, 150), DWORD(NMERR_SUCCESS));
    nm::model::Snapshot s = nm::capture_snapshot(false);
    const nm::model::Expert *e = nmtest::find_expert(s, "status");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->status.status, uint32_t(EXPERTSTATUS_RUNNING));
    EXPECT_EQ(e->status.substatus, 8u);
    EXPECT_EQ(e->status.text, "");
    EXPECT_EQ(e->status.percent, 42) << "150 was ignored";
    NmCloseExpertKey(k, NM_OUTCOME_DONE, nullptr);
}

__attribute__((noinline)) void *allocate_for_close_test(HEXPERTKEY k, size_t n) {
    void *p = ExpertAllocMemory(k, n, nullptr);
    asm volatile("" ::: "memory"); // keep this frame: no tail call
    return p;
}

class CloseOutcome : public ::testing::TestWithParam<DWORD> {};

TEST_P(CloseOutcome, ReclaimsEverythingAndRecordsIt) {
    const DWORD outcome = GetParam();
    std::string name = "close-" + std::to_string(outcome);
    HEXPERTKEY k = NmOpenExpertKey(name.c_str());
    for (int i = 0; i < 10; ++i) allocate_for_close_test(k, 100);
    void *freed = allocate_for_close_test(k, 7);
    ExpertFreeMemory(k, freed);
    void *grown = ExpertAllocMemory(k, 10, nullptr);
    grown = ExpertReallocMemory(k, grown, 5000, nullptr);
    NMCLEANUPINFO info{};
    ASSERT_EQ(NmCloseExpertKey(k, outcome, &info), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(info.Blocks, 11u);
    EXPECT_EQ(info.Bytes, 10 * 100u + 5000u);
    EXPECT_EQ(NmCloseExpertKey(k, outcome, &info), DWORD(NMERR_INVALID_EXPERT_HANDLE)) << "key invalid afterwards";

    nm::model::Snapshot s = nm::capture_snapshot(true);
    const nm::model::Expert *e = nmtest::find_expert(s, name);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->state, nm::model::ExpertState::Closed);
    EXPECT_EQ(uint32_t(e->outcome), outcome);
    EXPECT_EQ(e->allocs, 12u);
    EXPECT_EQ(e->frees, 1u);
    EXPECT_EQ(e->reallocs, 1u);
    EXPECT_EQ(e->peak_bytes, 6000u) << "1000 + 7, then 1000, 1010, then 6000 after the realloc";
    EXPECT_TRUE(e->blocks.empty());
    ASSERT_EQ(e->cleanups.size(), 1u);
    const auto &c = e->cleanups[0];
    EXPECT_EQ(uint32_t(c.outcome), outcome);
    EXPECT_EQ(c.blocks, 11u);
    EXPECT_EQ(c.bytes, 6000u);
    ASSERT_EQ(c.stacks.size(), 2u) << "grouped: the 10 equal allocations share one stack";
    EXPECT_EQ(c.stacks[0].bytes, 5000u) << "biggest first";
    EXPECT_EQ(c.stacks[1].blocks, 10u);
    EXPECT_EQ(c.stacks[1].bytes, 1000u);
    EXPECT_TRUE(nmtest::stack_has_function(s, c.stacks[1].stack, "allocate_for_close_test"));
}

INSTANTIATE_TEST_SUITE_P(AllOutcomes, CloseOutcome,
                         ::testing::Values(NM_OUTCOME_DONE, NM_OUTCOME_FAILED, NM_OUTCOME_TERMINATED,
                                           NM_OUTCOME_CRASHED, NM_OUTCOME_TIMEOUT));

TEST(Close, RejectsAnUnknownOutcomeAndKeepsTheKey) {
    HEXPERTKEY k = NmOpenExpertKey("bad-outcome");
    EXPECT_EQ(NmCloseExpertKey(k, 99, nullptr), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_NE(ExpertAllocMemory(k, 8, nullptr), nullptr);
    EXPECT_EQ(NmCloseExpertKey(k, NM_OUTCOME_DONE, nullptr), DWORD(NMERR_SUCCESS));
}

TEST(Stacks, SizesOnlyModeRecordsNoStacks) {
    ASSERT_EQ(NmSetStackDepth(0), DWORD(NMERR_SUCCESS));
    HEXPERTKEY k = NmOpenExpertKey("sizes-only");
    allocate_for_close_test(k, 64);
    nm::model::Snapshot s = nm::capture_snapshot(true);
    const nm::model::Expert *e = nmtest::find_expert(s, "sizes-only");
    ASSERT_EQ(e->blocks.size(), 1u);
    EXPECT_EQ(e->blocks[0].size, 64u);
    EXPECT_EQ(e->blocks[0].stack, 0u) << "stack 0 is the empty stack";
    EXPECT_TRUE(s.stacks[0].frames.empty());
    ASSERT_EQ(NmSetStackDepth(32), DWORD(NMERR_SUCCESS));
    allocate_for_close_test(k, 65);
    s = nm::capture_snapshot(true);
    e = nmtest::find_expert(s, "sizes-only");
    ASSERT_EQ(e->blocks.size(), 2u);
    for (const auto &b : e->blocks) {
        if (b.size == 65) {
            EXPECT_TRUE(nmtest::stack_has_function(s, b.stack, "allocate_for_close_test"));
        }
    }
    EXPECT_EQ(NmSetStackDepth(NM_MAX_STACK_DEPTH + 1), DWORD(NMERR_INVALID_PARAMETER));
    NmCloseExpertKey(k, NM_OUTCOME_DONE, nullptr);
}

} // namespace
