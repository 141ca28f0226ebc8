// test_track_dwarf.cpp - the .eh_frame unwinder: real stacks through code built without frame
// pointers, and the rule cache (compact slots, the second table, colliding addresses, flush) on a
// built stack fenced by an inaccessible page, so any read past the stack's end would crash.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "track/dwarf_unwind.hpp"
#include "track/stack_depot.hpp"
#include "track/unwind.hpp"

namespace {

using nm::track::caller_regs;
using nm::track::current_stack_bounds;
using nm::track::kUnwindSlotBits;
using nm::track::stack_hash;
using nm::track::UnwindCacheTier;
using nm::track::unwind_cache_flush;
using nm::track::unwind_cache_store;
using nm::track::unwind_cache_tier;
using nm::track::unwind_dwarf;
using nm::track::UnwindRegs;
using nm::track::UnwindRule;
using Kind = UnwindRule::Kind;

// ---- a real stack -----------------------------------------------------------------------------

// Each level records its own return address, then calls the next; the levels are built without
// frame pointers (one with a variable-length array, so its CFA is rbp-based), and the innermost
// one, with a frame pointer as the heap shim's functions are, walks from its own frame.
uintptr_t g_expected[8];
uintptr_t g_out[64];
size_t g_max = 64;
nm::track::Walk g_walk;

__attribute__((noinline)) void walk_here() {
    g_expected[0] = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
    UnwindRegs r;
    const nm::track::StackBounds b = current_stack_bounds();
    g_walk = caller_regs(__builtin_frame_address(0), b, r) ? unwind_dwarf(r, b, g_out, g_max) : nm::track::Walk{};
    asm volatile("" ::: "memory");
}

__attribute__((noinline, optimize("omit-frame-pointer"))) void level1(int n) {
    g_expected[1] = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
    volatile char pad[40];
    pad[n & 31] = 1;
    walk_here();
    asm volatile("" ::: "memory");
    pad[0] = pad[1];
}

__attribute__((noinline, optimize("omit-frame-pointer"))) void level2(int n) {
    g_expected[2] = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
    volatile char vla[n + 24]; // a variable-length frame: the CFA follows rbp
    vla[n] = 2;
    level1(n + 1);
    asm volatile("" ::: "memory");
    vla[0] = vla[1];
}

__attribute__((noinline, optimize("omit-frame-pointer"))) void level3(int n) {
    g_expected[3] = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
    volatile long big[300];
    big[n % 300] = 3;
    level2(n + 1);
    asm volatile("" ::: "memory");
    big[0] = big[1];
}

TEST(DwarfUnwind, RealStackThroughFramesWithoutFramePointers) {
    for (int round = 0; round < 3; ++round) { // the first computes the rules, the others hit the cache
        if (round == 1) unwind_cache_flush();
        std::memset(g_out, 0, sizeof g_out);
        g_max = 64;
        level3(5);
        ASSERT_GE(g_walk.n, 5u) << "round " << round;
        for (int i = 0; i < 4; ++i) EXPECT_EQ(g_out[i], g_expected[i]) << "frame " << i << ", round " << round;
        EXPECT_EQ(g_walk.hash, stack_hash(g_out, g_walk.n));
        EXPECT_EQ(unwind_cache_tier(g_expected[1]), UnwindCacheTier::Slot);
    }
    // Only as many frames as asked for, hashed as such.
    g_max = 3;
    level3(7);
    EXPECT_EQ(g_walk.n, 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(g_out[i], g_expected[i]);
    EXPECT_EQ(g_walk.hash, stack_hash(g_out, 3));
}

// ---- the cache on a built stack ---------------------------------------------------------------

// Addresses in no loaded object: a computed rule for them is "follow the frame pointer".
constexpr uintptr_t kA = 0x100000001000, kB = 0x100000002000, kC = 0x100000003000, kD = 0x100000004000,
                    kE = 0x100000005000;

UnwindRule cfa_rule(bool fp_based, uint32_t off, bool fp_saved = false, int32_t fp_off = 0, int32_t ra_off = -8) {
    UnwindRule r;
    r.kind = Kind::Cfa;
    r.cfa_fp = fp_based;
    r.cfa_off = off;
    r.fp_saved = fp_saved;
    r.fp_off = fp_off;
    r.ra_off = ra_off;
    return r;
}
UnwindRule kind_rule(Kind k) {
    UnwindRule r;
    r.kind = k;
    return r;
}

// Two pages of stack, then a page that cannot be read.
struct FencedStack {
    size_t page = size_t(sysconf(_SC_PAGESIZE));
    char *base = nullptr;
    FencedStack() {
        void *p = mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return;
        base = static_cast<char *>(p);
        std::memset(base, 0, 2 * page);
        mprotect(base + 2 * page, page, PROT_NONE);
    }
    ~FencedStack() {
        if (base) munmap(base, 3 * page);
    }
    uintptr_t lo() const { return reinterpret_cast<uintptr_t>(base); }
    uintptr_t hi() const { return lo() + 2 * page; }
    nm::track::StackBounds bounds() const { return {lo(), hi()}; }
    void put(uintptr_t at, uintptr_t v) { *reinterpret_cast<uintptr_t *>(at) = v; }
};

struct DwarfCache : ::testing::Test {
    FencedStack st;
    uintptr_t out[16] = {};
    void SetUp() override {
        ASSERT_NE(st.base, nullptr);
        unwind_cache_flush();
    }
    void TearDown() override { unwind_cache_flush(); }
    std::vector<uintptr_t> walk(UnwindRegs r, size_t max = 16) {
        const nm::track::Walk w = unwind_dwarf(r, st.bounds(), out, max);
        EXPECT_EQ(w.hash, stack_hash(out, w.n));
        return std::vector<uintptr_t>(out, out + w.n);
    }
    // A -> B -> C -> E -> D: A's CFA is rsp + 32 with rbp saved at CFA - 16; B's return address
    // is not at CFA - 8 (the second table); C's CFA is rbp + 32 with rbp saved at CFA - 16; E is
    // a frame-pointer frame (CFA rbp + 16, rbp at CFA - 16); D stops.
    UnwindRegs build_chain() {
        const uintptr_t lo = st.lo(), f1 = lo + 400, f2 = lo + 600;
        st.put(lo + 88, kB);
        st.put(lo + 80, f1);
        st.put(lo + 104, kC);
        st.put(f1 + 24, kE);
        st.put(f1 + 16, f2);
        st.put(f1 + 8, kD); // B's return address if B is unwound by its frame pointer
        st.put(f1, lo + 1000);
        st.put(f2 + 8, kD);
        st.put(f2, lo + 1000);
        unwind_cache_store(kA, cfa_rule(false, 32, true, -16));
        unwind_cache_store(kB, cfa_rule(false, 24, false, 0, -16));
        unwind_cache_store(kC, cfa_rule(true, 32, true, -16));
        unwind_cache_store(kE, cfa_rule(true, 16, true, -16));
        unwind_cache_store(kD, kind_rule(Kind::Stop));
        return UnwindRegs{kA, lo + 64, lo + 3000};
    }
};

TEST_F(DwarfCache, RulesThatFitTakeOneSlotTheOthersTheSecondTable) {
    struct Case {
        UnwindRule rule;
        UnwindCacheTier tier;
    } cases[] = {
        {cfa_rule(false, 8), UnwindCacheTier::Slot},
        {cfa_rule(false, 4096, true, -16), UnwindCacheTier::Slot},
        {cfa_rule(true, 16, true, -16), UnwindCacheTier::Slot},
        {cfa_rule(true, 16, true, -4000), UnwindCacheTier::Slot}, // rbp-based: any delta that fits
        {kind_rule(Kind::Stop), UnwindCacheTier::Slot},
        {kind_rule(Kind::FpChain), UnwindCacheTier::Slot},
        {cfa_rule(false, 24, false, 0, -16), UnwindCacheTier::Second}, // return address not at CFA - 8
        {cfa_rule(false, 20), UnwindCacheTier::Second},                // CFA offset not a multiple of 8
        {cfa_rule(false, 1u << 20), UnwindCacheTier::Second},          // CFA offset too large
        {cfa_rule(false, 64, true, -12), UnwindCacheTier::Second},     // rbp slot not a multiple of 8
        {cfa_rule(false, 64, true, -8), UnwindCacheTier::Second},      // rbp slot on the return address
        {cfa_rule(false, 32, true, -40), UnwindCacheTier::Second},     // rbp slot below rsp
        {cfa_rule(true, 16, true, -(1 << 15)), UnwindCacheTier::Second}, // rbp slot too far down
    };
    uintptr_t ra = kA;
    for (const Case &c : cases) {
        ra += 64;
        unwind_cache_store(ra, c.rule);
        EXPECT_EQ(unwind_cache_tier(ra), c.tier) << "rule with CFA offset " << c.rule.cfa_off << ", rbp at "
                                                 << c.rule.fp_off << ", ra at " << c.rule.ra_off;
    }
    // Outside user space nothing is cached.
    unwind_cache_store(uintptr_t{1} << 48, cfa_rule(false, 8));
    EXPECT_EQ(unwind_cache_tier(uintptr_t{1} << 48), UnwindCacheTier::None);
}

TEST_F(DwarfCache, WalkFollowsEveryKindOfCachedRule) {
    const UnwindRegs r = build_chain();
    EXPECT_EQ(unwind_cache_tier(kB), UnwindCacheTier::Second);
    EXPECT_EQ(walk(r), (std::vector<uintptr_t>{kA, kB, kC, kE, kD}));
    EXPECT_EQ(walk(r, 2), (std::vector<uintptr_t>{kA, kB}));
    EXPECT_EQ(walk(r, 5), (std::vector<uintptr_t>{kA, kB, kC, kE, kD}));
}

TEST_F(DwarfCache, TwoAddressesInOneSlotNeverShareARule) {
    UnwindRegs r = build_chain();
    // kA + 2^15 takes kA's slot: kA's rule is computed again (no unwind data there: its frame
    // pointer), never read from the other address's entry.
    const uintptr_t other = kA + (uintptr_t{1} << kUnwindSlotBits);
    unwind_cache_store(other, cfa_rule(false, 32, true, -16));
    EXPECT_EQ(unwind_cache_tier(kA), UnwindCacheTier::None);
    EXPECT_EQ(unwind_cache_tier(other), UnwindCacheTier::Slot);
    const uintptr_t fp = st.lo() + 2000; // kA's frame by its frame pointer: {next, return address 0}
    st.put(fp, st.lo() + 2100);
    st.put(fp + 8, 0);
    r.fp = fp;
    EXPECT_EQ(walk(r), (std::vector<uintptr_t>{kA}));
    EXPECT_EQ(unwind_cache_tier(kA), UnwindCacheTier::Slot); // the computed rule is cached now
    EXPECT_EQ(unwind_cache_tier(other), UnwindCacheTier::None);
    // A second-table rule taking kB's slot: kB is unwound by its computed rule (its frame pointer,
    // C's frame: C is skipped), not by the other address's rule.
    r = build_chain();
    unwind_cache_store(kB + (uintptr_t{1} << kUnwindSlotBits), cfa_rule(false, 20));
    EXPECT_EQ(unwind_cache_tier(kB), UnwindCacheTier::None);
    EXPECT_EQ(walk(r), (std::vector<uintptr_t>{kA, kB, kD}));
}

TEST_F(DwarfCache, FlushForgetsBothTables) {
    UnwindRegs r = build_chain();
    unwind_cache_flush();
    for (uintptr_t ra : {kA, kB, kC, kD, kE}) EXPECT_EQ(unwind_cache_tier(ra), UnwindCacheTier::None);
    const uintptr_t fp = st.lo() + 2000;
    st.put(fp + 8, 0);
    r.fp = fp;
    EXPECT_EQ(walk(r), (std::vector<uintptr_t>{kA})); // computed again: by the frame pointer
}

TEST_F(DwarfCache, NoRuleReadsPastTheStack) {
    const uintptr_t lo = st.lo(), hi = st.hi();
    // An rsp-based CFA past the end of the stack.
    unwind_cache_store(kA, cfa_rule(false, 8192, true, -16));
    EXPECT_EQ(walk(UnwindRegs{kA, lo + 64, 0}), (std::vector<uintptr_t>{kA}));
    // An rsp-based CFA right at the end: the return address is the last word.
    st.put(hi - 8, kD);
    unwind_cache_store(kD, kind_rule(Kind::Stop));
    unwind_cache_store(kA, cfa_rule(false, uint32_t(hi - (lo + 64)), true, -16));
    EXPECT_EQ(walk(UnwindRegs{kA, lo + 64, 0}), (std::vector<uintptr_t>{kA, kD}));
    // rbp-based CFAs (a frame-pointer frame, and others) with rbp in the fence, below the stack,
    // below rsp, or about to wrap.
    for (const UnwindRule &rule : {cfa_rule(true, 16, true, -16), cfa_rule(true, 48, true, -40), cfa_rule(true, 16)}) {
        unwind_cache_store(kA, rule);
        for (uintptr_t fp : {hi - 8, hi, hi + 64, lo - 4096, lo + 8, ~uintptr_t{0} - 8, ~uintptr_t{0} - 15, uintptr_t{0}})
            EXPECT_EQ(walk(UnwindRegs{kA, lo + 64, fp}), (std::vector<uintptr_t>{kA}))
                << std::hex << fp << " CFA rbp + " << std::dec << rule.cfa_off;
    }
    // A second-table rule reaching past the end.
    unwind_cache_store(kA, cfa_rule(false, 8192 + 4, false, 0, -16));
    EXPECT_EQ(walk(UnwindRegs{kA, lo + 64, 0}), (std::vector<uintptr_t>{kA}));
    // The frame pointer chain with a frame pointer in the fence, or not above rsp.
    unwind_cache_store(kA, kind_rule(Kind::FpChain));
    for (uintptr_t fp : {hi - 8, hi, lo + 32, ~uintptr_t{0} - 15, ~uintptr_t{0} - 7})
        EXPECT_EQ(walk(UnwindRegs{kA, lo + 64, fp}), (std::vector<uintptr_t>{kA})) << std::hex << fp;
    // Registers outside the stack: nothing is read, nothing is written.
    EXPECT_TRUE(walk(UnwindRegs{kA, hi + 64, 0}).empty());
    EXPECT_TRUE(walk(UnwindRegs{kA, lo - 64, 0}).empty());
}

} // namespace
