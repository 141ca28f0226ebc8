// test_allocator_isolation.cpp - linking libnmapi must not swap the host's allocator or backtrace.
#include <dlfcn.h>
#include <execinfo.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "nmhost.h"

namespace {

std::string object_of(const char *symbol) {
    void *addr = dlsym(RTLD_DEFAULT, symbol);
    Dl_info info{};
    if (!addr || !dladdr(addr, &info) || !info.dli_fname) return "";
    return info.dli_fname;
}

// Under a sanitizer its runtime owns malloc; otherwise glibc must.
bool from_the_expected_library(const std::string &obj) {
    return obj.find("libc.so") != std::string::npos || obj.find("libasan") != std::string::npos ||
           obj.find("libtsan") != std::string::npos;
}

TEST(AllocatorIsolation, MallocAndFreeStayTheHosts) {
    HEXPERTKEY k = NmOpenExpertKey("isolation"); // the tracker and mimalloc are fully up
    ASSERT_NE(ExpertAllocMemory(k, 100, nullptr), nullptr);
    for (const char *sym : {"malloc", "free", "realloc", "calloc", "malloc_usable_size"}) {
        EXPECT_EQ(object_of(sym).find("mimalloc"), std::string::npos) << sym << " comes from " << object_of(sym);
        EXPECT_TRUE(from_the_expected_library(object_of(sym))) << sym << " comes from " << object_of(sym);
    }
    NmCloseExpertKey(k, NM_OUTCOME_DONE, nullptr);
}

TEST(AllocatorIsolation, BacktraceIsNotLibunwinds) {
    EXPECT_EQ(object_of("backtrace").find("libunwind"), std::string::npos) << object_of("backtrace");
    EXPECT_TRUE(from_the_expected_library(object_of("backtrace"))) << object_of("backtrace");
    void *frames[8];
    EXPECT_GT(backtrace(frames, 8), 0);
}

TEST(AllocatorIsolation, GlibcBlocksAndTrackedBlocksCoexist) {
    HEXPERTKEY k = NmOpenExpertKey("coexist");
    void *g = std::malloc(64);
    void *t = ExpertAllocMemory(k, 64, nullptr);
    EXPECT_EQ(ExpertFreeMemory(k, g), SIZE_T(NMERR_INVALID_PARAMETER)) << "a malloc block is not the key's";
    std::free(g);
    EXPECT_EQ(ExpertFreeMemory(k, t), SIZE_T(NMERR_SUCCESS));
    NmCloseExpertKey(k, NM_OUTCOME_DONE, nullptr);
}

} // namespace
