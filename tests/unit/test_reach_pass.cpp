// The reachability pass's index and flood on blocks laid out by hand in real memory: interior
// pointers, chains, cycles, indirect loss, unreadable roots.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "track/reach.hpp"

namespace {

using nm::track::reach::BlockRef;
namespace reach = nm::track::reach;

// An arena of fake blocks (never freed by anyone), and one root area, both mmap'ed.
class Arena {
public:
    Arena() {
        mem_ = static_cast<char *>(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        EXPECT_NE(mem_, MAP_FAILED);
        std::memset(mem_, 0, kSize);
    }
    ~Arena() { munmap(mem_, kSize); }
    // A block of `size` bytes at `offset` (16-aligned) of the arena.
    uintptr_t block(size_t offset, size_t size) {
        blocks.push_back({uintptr_t(mem_ + offset), size, false});
        return uintptr_t(mem_ + offset);
    }
    static void store(uintptr_t at, uintptr_t value) { std::memcpy(reinterpret_cast<void *>(at), &value, 8); }
    uintptr_t root_area() const { return uintptr_t(mem_ + kSize - 65536); }

    std::vector<BlockRef> blocks;
    static constexpr size_t kSize = 4 << 20;

private:
    char *mem_;
};

std::vector<uint8_t> run(Arena &a, std::vector<std::pair<uintptr_t, uintptr_t>> roots, reach::Stats *st = nullptr) {
    std::vector<uint8_t> out;
    nm::track::reach::classify_from(a.blocks, out, roots, st);
    return out;
}

TEST(ReachPass, RootedChainIsReachableAndTheRestIsLost) {
    Arena a;
    const uintptr_t x = a.block(0, 64), y = a.block(4096, 64), z = a.block(8192, 64), lone = a.block(12288, 32);
    Arena::store(x + 8, y);
    Arena::store(y + 56, z);
    const uintptr_t root = a.root_area();
    Arena::store(root, x);
    auto out = run(a, {{root, root + 8}});
    EXPECT_EQ(out[0], reach::kReachable);
    EXPECT_EQ(out[1], reach::kReachable);
    EXPECT_EQ(out[2], reach::kReachable);
    EXPECT_EQ(out[3], reach::kDefinitelyLost);
    (void)lone;
}

TEST(ReachPass, InteriorPointerKeepsTheBlock) {
    Arena a;
    const uintptr_t b = a.block(256, 1000);
    a.block(2048, 16);
    const uintptr_t root = a.root_area();
    Arena::store(root + 16, b + 999); // last byte
    auto out = run(a, {{root, root + 64}});
    EXPECT_EQ(out[0], reach::kReachable);
    EXPECT_EQ(out[1], reach::kDefinitelyLost);
    // One past the end is not inside.
    Arena::store(root + 16, b + 1000);
    out = run(a, {{root, root + 64}});
    EXPECT_EQ(out[0], reach::kDefinitelyLost);
}

TEST(ReachPass, ZeroSizeBlockIsKeptByItsStart) {
    Arena a;
    const uintptr_t b = a.block(512, 0);
    const uintptr_t root = a.root_area();
    Arena::store(root, b);
    EXPECT_EQ(run(a, {{root, root + 8}})[0], reach::kReachable);
}

TEST(ReachPass, UnreachableCycleIsOneGroup) {
    Arena a;
    const uintptr_t p = a.block(0, 32), q = a.block(64 * 1024, 32);
    Arena::store(p, q);
    Arena::store(q, p);
    auto out = run(a, {});
    // One head (definitely lost) and the other indirectly lost: the pair's bytes count once each.
    EXPECT_EQ(out[0], reach::kDefinitelyLost);
    EXPECT_EQ(out[1], reach::kIndirectlyLost);
}

TEST(ReachPass, BlockReachedOnlyFromALostOneIsIndirect) {
    Arena a;
    // The child sits below its parent, so the walk in address order meets it first: it must still
    // end up indirect once the parent's group takes it in.
    const uintptr_t child = a.block(0, 48), parent = a.block(8192, 48), grandchild = a.block(16384, 48);
    Arena::store(parent + 16, child);
    Arena::store(child + 8, grandchild);
    auto out = run(a, {});
    EXPECT_EQ(out[0], reach::kIndirectlyLost);
    EXPECT_EQ(out[1], reach::kDefinitelyLost);
    EXPECT_EQ(out[2], reach::kIndirectlyLost);
}

TEST(ReachPass, ReachableBeatsIndirect) {
    Arena a;
    const uintptr_t lost = a.block(0, 32), shared = a.block(4096, 32);
    Arena::store(lost, shared);
    const uintptr_t root = a.root_area();
    Arena::store(root, shared);
    auto out = run(a, {{root, root + 8}});
    EXPECT_EQ(out[0], reach::kDefinitelyLost);
    EXPECT_EQ(out[1], reach::kReachable);
}

TEST(ReachPass, BigBlocksSpanningManyPages) {
    Arena a;
    const uintptr_t big = a.block(0, 1 << 20), after = a.block((1 << 20) + 4096, 64);
    Arena::store(big + (1 << 19) + 8, after); // deep inside the big block
    const uintptr_t root = a.root_area();
    Arena::store(root, big + 700000); // interior, many pages in
    auto out = run(a, {{root, root + 8}});
    EXPECT_EQ(out[0], reach::kReachable);
    EXPECT_EQ(out[1], reach::kReachable);
}

TEST(ReachPass, ManySmallBlocksInOnePage) {
    Arena a;
    std::vector<uintptr_t> b;
    for (size_t i = 0; i < 256; ++i) b.push_back(a.block(i * 16, 16));
    // A chain through every other block.
    for (size_t i = 0; i + 2 < b.size(); i += 2) Arena::store(b[i], b[i + 2] + 5);
    const uintptr_t root = a.root_area();
    Arena::store(root, b[0]);
    auto out = run(a, {{root, root + 8}});
    for (size_t i = 0; i < b.size(); ++i)
        EXPECT_EQ(out[i], i % 2 == 0 ? reach::kReachable : reach::kDefinitelyLost) << i;
}

TEST(ReachPass, UnreadableRootsAreSkippedNotFatal) {
    Arena a;
    const uintptr_t b = a.block(0, 32);
    long page = sysconf(_SC_PAGESIZE);
    char *m = static_cast<char *>(mmap(nullptr, size_t(page) * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(m, MAP_FAILED);
    ASSERT_EQ(mprotect(m + page, size_t(page), PROT_NONE), 0); // a guard page in the middle
    Arena::store(uintptr_t(m + 2 * page + 64), b);
    reach::Stats st;
    auto out = run(a, {{uintptr_t(m), uintptr_t(m + 3 * page)}, {0, 4096}, {uintptr_t(-8192), uintptr_t(-4096)}}, &st);
    EXPECT_EQ(out[0], reach::kReachable); // found past the guard page
    munmap(m, size_t(page) * 3);
}

TEST(ReachPass, NoBlocks) {
    Arena a;
    auto out = run(a, {{a.root_area(), a.root_area() + 64}});
    EXPECT_TRUE(out.empty());
}

} // namespace
