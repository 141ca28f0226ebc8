// test_install.cpp - an install works from wherever it lands: `cmake --install` into a temporary
// prefix (then moved, so nothing may point at where it was installed), and `cpack -G DEB` unpacked
// with `dpkg -x` (no system directory is touched). From there: every binary resolves its libraries,
// the demo finds its experts and capture, an expert builds with pkg-config and with the CMake
// package, and runs under `nmleak run`, whose agent and libnmapi come from the install.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct RunResult {
    int exit_code = -1;
    std::string output; // stdout and stderr
};

RunResult sh(const std::string &cmd) {
    RunResult r;
    // The loader must find everything through RPATHs: no help from the environment.
    FILE *p = popen(("unset LD_LIBRARY_PATH LD_PRELOAD NMLEAK_AGENT_PATH; " + cmd + " 2>&1").c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf{};
    while (size_t n = fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
    const int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string q(const fs::path &p) { return "'" + p.string() + "'"; }

std::string read_file(const fs::path &p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool is_elf(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    return in.gcount() == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

class TempDir {
public:
    explicit TempDir(const std::string &tag) {
        path_ = fs::temp_directory_path() / ("nmleak-" + tag + "-" + std::to_string(getpid()));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() {
        if (!::testing::Test::HasFailure()) fs::remove_all(path_);
        else std::fprintf(stderr, "kept %s for inspection\n", path_.c_str());
    }
    const fs::path &path() const { return path_; }

private:
    fs::path path_;
};

// Every ELF file under `root` loads with what the prefix and the system provide, and a library of
// nmleak's comes from the prefix.
void check_libraries_resolve(const fs::path &root, const fs::path &prefix) {
    size_t checked = 0;
    for (const auto &e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file() || !is_elf(e.path())) continue;
        SCOPED_TRACE(e.path().string());
        const RunResult r = sh("ldd " + q(e.path()));
        ASSERT_EQ(r.exit_code, 0) << r.output;
        EXPECT_EQ(r.output.find("not found"), std::string::npos) << r.output;
        const size_t at = r.output.find("libnmapi.so.0 => ");
        if (at != std::string::npos) {
            const std::string resolved = r.output.substr(at + 17, r.output.find(' ', at + 17) - at - 17);
            EXPECT_EQ(fs::weakly_canonical(resolved).string().rfind(fs::weakly_canonical(prefix).string(), 0), 0u)
                << "libnmapi resolved outside the install: " << resolved;
        }
        ++checked;
    }
    // nmleak, nmleak-demo, nmleak-gui (when built), libnmapi, the agent, seven sample experts.
    EXPECT_GE(checked, 11u);
}

// An outside project building the probe expert: with pkg-config, or with find_package(nmleak).
fs::path build_with_pkg_config(const fs::path &prefix, const fs::path &work) {
    const fs::path so = work / "probe_pkgconfig.so";
    const RunResult r = sh("PKG_CONFIG_PATH=" + q(prefix / NM_LIBDIR / "pkgconfig") + " sh -c '" + NM_CC +
                           " -shared -fPIC -g -O1 " + NM_PROBE_SOURCE + " $(pkg-config --cflags --libs nmapi) -o " +
                           so.string() + "'");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return so;
}

fs::path build_with_cmake_package(const fs::path &prefix, const fs::path &work) {
    const fs::path src = work / "cmake-project", bin = work / "cmake-build";
    fs::create_directories(src);
    std::ofstream(src / "CMakeLists.txt") << "cmake_minimum_required(VERSION 3.20)\n"
                                             "project(probe C)\n"
                                             "find_package(nmleak REQUIRED)\n"
                                             "add_library(probe MODULE "
                                          << NM_PROBE_SOURCE
                                          << ")\n"
                                             "target_link_libraries(probe PRIVATE nmleak::nmapi)\n"
                                             "set_target_properties(probe PROPERTIES PREFIX \"\" OUTPUT_NAME probe_cmake)\n";
    RunResult r = sh(std::string(NM_CMAKE) + " -S " + q(src) + " -B " + q(bin) + " -DCMAKE_BUILD_TYPE=RelWithDebInfo" +
                     " -DCMAKE_PREFIX_PATH=" + q(prefix) + " -DCMAKE_C_COMPILER=" + NM_CC);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    r = sh(std::string(NM_CMAKE) + " --build " + q(bin));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return bin / "probe_cmake.so";
}

// The probe expert under `nmleak run` with the installed demo as its host: the run's report
// names the leak site, and libnmapi and the agent were loaded from the install.
void run_under_nmleak(const fs::path &prefix, const fs::path &expert, const fs::path &work) {
    SCOPED_TRACE(expert.string());
    ASSERT_TRUE(fs::exists(expert));
    const fs::path bin = prefix / NM_BINDIR;
    const fs::path report = work / (expert.stem().string() + ".json");
    const RunResult r = sh("cd " + q(work) + " && " + q(bin / "nmleak") + " run --report " + q(report) + " -- " +
                           q(bin / "nmleak-demo") + " --expert " + q(expert) + " --report-dir " + q(work));
    ASSERT_NE(r.exit_code, -1) << r.output;
    EXPECT_NE(r.output.find("install-probe"), std::string::npos) << r.output;
    std::set<std::string> loaded; // a library is mapped in several segments: one line each
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("probe-loaded ", 0) != 0) continue;
        const std::string path = line.substr(13);
        EXPECT_EQ(fs::weakly_canonical(path).string().rfind(fs::weakly_canonical(prefix).string(), 0), 0u)
            << "loaded from outside the install: " << path;
        loaded.insert(fs::path(path).filename().string());
    }
    EXPECT_EQ(loaded, (std::set<std::string>{"libnmapi.so." + std::string(NM_VERSION), "libnmleak-agent.so"}))
        << "libnmapi and the agent, from the install:\n" << r.output;
    ASSERT_TRUE(fs::exists(report)) << r.output;
    const std::string json = read_file(report);
    EXPECT_NE(json.find("leaky_site"), std::string::npos) << json.substr(0, 2000);
    EXPECT_NE(json.find("\"install-probe\""), std::string::npos);
    EXPECT_NE(json.find("4321"), std::string::npos);
}

// The installed demo, started from an unrelated directory, finds the sample experts and capture
// in the install.
void run_demo(const fs::path &prefix, const fs::path &work) {
    const fs::path out = work / "demo-out";
    const RunResult r = sh("cd / && " + q(prefix / NM_BINDIR / "nmleak") + " demo --deadline 1 --report-dir " + q(out));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("7 experts on " + (prefix / "share/nmleak/sample.pcap").string()), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("conv_table_insert"), std::string::npos) << r.output; // the one real leak
    EXPECT_TRUE(fs::exists(out / "nmleak-report.json")) << r.output;
    const RunResult v = sh(q(prefix / NM_BINDIR / "nmleak") + " --version");
    EXPECT_EQ(v.exit_code, 0) << v.output;
    if (fs::exists(prefix / NM_BINDIR / "nmleak-gui")) {
        const RunResult g = sh(q(prefix / NM_BINDIR / "nmleak-gui") + " --version");
        EXPECT_EQ(g.exit_code, 0) << g.output;
    }
}

void check_install(const fs::path &prefix, const fs::path &work) {
    ASSERT_TRUE(fs::exists(prefix / NM_BINDIR / "nmleak")) << prefix;
    {
        SCOPED_TRACE("libraries");
        check_libraries_resolve(prefix, prefix);
    }
    {
        SCOPED_TRACE("demo");
        run_demo(prefix, work);
    }
    {
        SCOPED_TRACE("pkg-config");
        run_under_nmleak(prefix, build_with_pkg_config(prefix, work), work);
    }
    {
        SCOPED_TRACE("cmake package");
        run_under_nmleak(prefix, build_with_cmake_package(prefix, work), work);
    }
}

TEST(Install, AnyPrefixEvenAfterTheTreeIsMoved) {
    TempDir tmp("install");
    const fs::path staged = tmp.path() / "staged", prefix = tmp.path() / "moved" / "nmleak";
    const RunResult r = sh(std::string(NM_CMAKE) + " --install " + q(NM_BUILD_DIR) + " --prefix " + q(staged));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    fs::create_directories(prefix.parent_path());
    fs::rename(staged, prefix); // nothing may remember where it was installed
    check_install(prefix, tmp.path());
}

TEST(Install, DebianPackageUnpackedWithDpkgX) {
    if (sh("command -v dpkg-deb").exit_code != 0) GTEST_SKIP() << "no dpkg-deb";
    TempDir tmp("deb");
    const RunResult r = sh("cd " + q(NM_BUILD_DIR) + " && " + NM_CPACK + " -G DEB -B " + q(tmp.path() / "pkg"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    fs::path deb;
    for (const auto &e : fs::directory_iterator(tmp.path() / "pkg"))
        if (e.path().extension() == ".deb") deb = e.path();
    ASSERT_FALSE(deb.empty()) << r.output;
    const RunResult info = sh("dpkg-deb --field " + q(deb) + " Package Version Depends");
    ASSERT_EQ(info.exit_code, 0) << info.output;
    EXPECT_NE(info.output.find("Package: nmleak"), std::string::npos) << info.output;
    EXPECT_NE(info.output.find("libc6"), std::string::npos) << info.output; // computed by dpkg-shlibdeps
    const fs::path root = tmp.path() / "root";
    const RunResult x = sh("dpkg -x " + q(deb) + " " + q(root));
    ASSERT_EQ(x.exit_code, 0) << x.output;
    check_install(root / "usr", tmp.path());
}

} // namespace
