// test_sys.cpp - the one /proc reader, signal-name table and demangler (nmleak/sys.hpp).
#include <nmleak/sys.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <stdexcept>
#include <typeinfo>
#include <unistd.h>

namespace {

TEST(Sys, ReadsProcFilesOfThisAndOtherProcesses) {
    std::string status;
    ASSERT_TRUE(nm::sys::read_proc(0, "status", &status));
    EXPECT_NE(status.find("\nPid:\t" + std::to_string(::getpid()) + "\n"), std::string::npos) << status;
    std::string by_pid;
    ASSERT_TRUE(nm::sys::read_proc(::getpid(), "status", &by_pid));
    EXPECT_EQ(by_pid.substr(0, by_pid.find('\n')), status.substr(0, status.find('\n')));
    // /proc files say size 0; a bound cuts the read.
    std::string maps;
    ASSERT_TRUE(nm::sys::read_proc(0, "maps", &maps, 100));
    EXPECT_EQ(maps.size(), 100u);

    std::string none = "stale";
    EXPECT_FALSE(nm::sys::read_proc(0, "no-such-file", &none));
    EXPECT_TRUE(none.empty());
    EXPECT_FALSE(nm::sys::read_proc(999999999, "status", &none)) << "a pid that cannot exist";
}

TEST(Sys, ExecutableAndCommandLine) {
    const std::string exe = nm::sys::proc_exe(0);
    ASSERT_FALSE(exe.empty());
    EXPECT_EQ(exe.substr(exe.rfind('/') + 1), "test_sys");
    EXPECT_EQ(nm::sys::proc_exe(::getpid()), exe);
    const std::string cmd = nm::sys::proc_cmdline(0);
    EXPECT_NE(cmd.find("test_sys"), std::string::npos) << cmd;
    EXPECT_EQ(cmd.find('\0'), std::string::npos) << "arguments are joined by spaces";
    EXPECT_EQ(nm::sys::proc_exe(999999999), "");
    EXPECT_EQ(nm::sys::proc_cmdline(999999999), "");
}

TEST(Sys, SignalNames) {
    EXPECT_EQ(nm::sys::signal_name(SIGSEGV), "SIGSEGV");
    EXPECT_EQ(nm::sys::signal_name(SIGABRT), "SIGABRT");
    EXPECT_EQ(nm::sys::signal_name(SIGTRAP), "SIGTRAP");
    EXPECT_EQ(nm::sys::signal_name(SIGUSR1), "SIGUSR1");
    EXPECT_EQ(nm::sys::signal_name(SIGRTMIN), "SIGRTMIN");
    EXPECT_EQ(nm::sys::signal_name(SIGRTMIN + 3), "SIGRTMIN+3");
    EXPECT_EQ(nm::sys::signal_name(0), "signal 0");
    EXPECT_EQ(nm::sys::signal_name(99), "signal 99");
    EXPECT_EQ(nm::sys::signal_name(-1), "signal -1");
}

TEST(Sys, Demangling) {
    EXPECT_EQ(nm::sys::demangle_symbol("_ZN2nm3sys11signal_nameEi"), "nm::sys::signal_name(int)");
    EXPECT_EQ(nm::sys::demangle_symbol("main"), "main");
    EXPECT_EQ(nm::sys::demangle_symbol("i"), "i") << "a C symbol is not a type name";
    EXPECT_EQ(nm::sys::demangle_symbol("_Znot_a_symbol"), "_Znot_a_symbol");
    EXPECT_EQ(nm::sys::demangle_symbol(nullptr), "");
    EXPECT_EQ(nm::sys::demangle_type(typeid(std::runtime_error).name()), "std::runtime_error");
    EXPECT_EQ(nm::sys::demangle_type("i"), "int");
    EXPECT_EQ(nm::sys::demangle_type("not mangled at all"), "not mangled at all");
    EXPECT_EQ(nm::sys::demangle_type(nullptr), "");
}

} // namespace
