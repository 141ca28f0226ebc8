// golden.hpp - compares test output with tests/golden/*.expected; NMLEAK_UPDATE_GOLDEN=1 rewrites them.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace nm::test {

inline std::string golden_path(const std::string &name) {
    return std::string(NM_SOURCE_DIR) + "/tests/golden/" + name;
}

inline bool read_text(const std::string &path, std::string *out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    *out = ss.str();
    return true;
}

// Fails with the first differing line, which is what one needs to read a golden mismatch.
inline void expect_golden(const std::string &name, const std::string &actual) {
    const std::string path = golden_path(name);
    const char *update = std::getenv("NMLEAK_UPDATE_GOLDEN");
    if (update && *update && std::string(update) != "0") {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << actual;
        ASSERT_TRUE(out.good()) << "cannot write " << path;
        std::printf("updated %s\n", path.c_str());
        return;
    }
    std::string expected;
    ASSERT_TRUE(read_text(path, &expected))
        << "missing golden file " << path << " (run the test with NMLEAK_UPDATE_GOLDEN=1)";
    if (expected == actual) return;
    std::istringstream e(expected), a(actual);
    std::string le, la;
    int line = 0;
    while (true) {
        ++line;
        bool he = static_cast<bool>(std::getline(e, le)), ha = static_cast<bool>(std::getline(a, la));
        if (!he && !ha) break;
        if (!he || !ha || le != la) {
            ADD_FAILURE() << name << " differs at line " << line << "\n  expected: "
                          << (he ? le : "<end of file>") << "\n  actual:   "
                          << (ha ? la : "<end of file>")
                          << "\n(if the change is intended: NMLEAK_UPDATE_GOLDEN=1)";
            return;
        }
    }
    ADD_FAILURE() << name << " differs (line endings or final newline)";
}

} // namespace nm::test
