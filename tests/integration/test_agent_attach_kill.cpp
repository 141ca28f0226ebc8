// test_agent_attach_kill.cpp - `nmleak attach` killed (SIGKILL) at random instants, on fresh
// targets: the target never dies, its interrupted read() still returns the right bytes, and its
// self-checking worker reports no error. Half of the kills are aimed at the time a thread of the
// target is borrowed (a tracer is seen on it), the others land anywhere in the attacher's life.
#include "agent_support/harness.hpp"

#include <gtest/gtest.h>

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <random>

namespace {

using nmt::Process;

// The TracerPid of any thread of `pid` (0: none is traced).
pid_t any_tracer(pid_t pid) {
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR *d = ::opendir(dir.c_str());
    if (!d) return 0;
    pid_t tracer = 0;
    while (dirent *e = ::readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        std::ifstream f(dir + "/" + e->d_name + "/status");
        for (std::string l; std::getline(f, l);)
            if (l.rfind("TracerPid:", 0) == 0) tracer = tracer ? tracer : pid_t(std::atol(l.c_str() + 10));
    }
    ::closedir(d);
    return tracer;
}

pid_t spawn(const std::vector<std::string> &argv) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int devnull = ::open("/dev/null", O_RDWR);
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
        std::vector<char *> args;
        for (const std::string &a : argv) args.push_back(::strdup(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

// The child has not exited yet (it is not reaped here).
bool running(pid_t child) {
    siginfo_t info{};
    return ::waitid(P_PID, id_t(child), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

void sleep_us(long us) {
    timespec ts{us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, nullptr);
}

int64_t now_us() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

class AttachKill : public ::testing::Test {
protected:
    void SetUp() override {
        if (const std::string why = nmt::attach_unavailable(); !why.empty()) GTEST_SKIP() << why;
        ::signal(SIGPIPE, SIG_IGN); // a target that died must fail the test, not end it
    }
};

TEST_F(AttachKill, KilledAttacherNeverHarmsTheTarget) {
    const char *env_rounds = std::getenv("NMT_KILL_ROUNDS");
    const int rounds = env_rounds ? std::atoi(env_rounds) : 80;
    const unsigned seed = std::random_device{}();
    std::mt19937 rng(seed);
    std::printf("seed %u, %d rounds\n", seed, rounds);

    // How long a whole attach takes here, and how long a thread stays borrowed: the kill instants
    // are drawn from these spans (medians of a few attaches).
    std::vector<int64_t> wholes;
    std::vector<double> borrows;
    for (int i = 0; i < 5; ++i) {
        Process p;
        ASSERT_TRUE(p.start({NMT_AGENT_TARGET, "--worker"}));
        const pid_t pid = p.wait_ready();
        ASSERT_GT(pid, 0);
        const int64_t t0 = now_us();
        const nmt::Result r = nmt::nmleak({"attach", std::to_string(pid)});
        wholes.push_back(now_us() - t0);
        ASSERT_EQ(r.status, 0) << r.err;
        const size_t at = r.out.find("was stopped ");
        ASSERT_NE(at, std::string::npos) << r.out;
        borrows.push_back(std::atof(r.out.c_str() + at + 12));
    }
    std::sort(wholes.begin(), wholes.end());
    std::sort(borrows.begin(), borrows.end());
    const int64_t whole_us = wholes[wholes.size() / 2];
    const double borrowed_ms = borrows[borrows.size() / 2];
    std::printf("attach takes %.1f ms, a thread is borrowed %.2f ms (medians)\n", double(whole_us) / 1000, borrowed_ms);

    auto iterations = [](const std::string &st) {
        const size_t at = st.find("iterations=");
        return at == std::string::npos ? uint64_t(0) : std::stoull(st.substr(at + 11));
    };
    int harmed = 0, while_borrowed = 0, attacher_finished = 0;
    for (int round = 0; round < rounds; ++round) {
        Process p;
        ASSERT_TRUE(p.start({NMT_AGENT_TARGET, "--worker"}));
        pid_t worker = 0;
        const pid_t pid = p.wait_ready(&worker);
        ASSERT_GT(pid, 0);
        std::vector<std::string> argv = {NMT_NMLEAK, "attach", "-q"};
        if (round % 4 == 3) argv.insert(argv.end(), {"--thread", std::to_string(worker)}); // a thread in user code
        argv.push_back(std::to_string(pid));

        const pid_t attacher = spawn(argv);
        ASSERT_GT(attacher, 0);
        if (round % 2 == 0) {
            sleep_us(long(std::uniform_int_distribution<int64_t>(0, whole_us)(rng)));
        } else {
            // Wait for the seize, then kill somewhere inside the borrowed time.
            bool seen_tracer = false;
            const int64_t deadline = now_us() + 5000000;
            while (!seen_tracer && now_us() < deadline && running(attacher))
                seen_tracer = any_tracer(pid) == attacher;
            if (seen_tracer)
                sleep_us(long(std::uniform_int_distribution<int64_t>(0, int64_t(borrowed_ms * 1000))(rng)));
        }
        const bool traced_at_kill = any_tracer(pid) == attacher;
        while_borrowed += traced_at_kill;
        ::kill(attacher, SIGKILL);
        int st = 0;
        ::waitpid(attacher, &st, 0);
        attacher_finished += WIFEXITED(st);

        // The target must live on as it was: its worker thread goes on with its self-checks (no
        // error), its blocked read() returns these bytes, and it exits cleanly.
        const std::string where = "round " + std::to_string(round) + " (killed " +
                                  (traced_at_kill ? "while a thread was borrowed" : "outside the borrowing") + ")";
        const std::string first = p.ask("status", "status", 10000);
        std::string later = first;
        for (int64_t deadline = nmt::now_ms() + 10000; p.alive() && nmt::now_ms() < deadline;) {
            later = p.ask("status", "status", 10000);
            if (iterations(later) > iterations(first)) break;
            nmt::sleep_ms(5);
        }
        const std::string tag = "echo round " + std::to_string(round);
        const std::string echoed = p.ask(tag, "echo", 10000);
        const std::string bye = p.ask("quit", "bye", 10000);
        const int code = p.wait_exit();
        const bool ok = iterations(later) > iterations(first) && later.find("errors=0") != std::string::npos &&
                        echoed == tag && bye == "bye" && code == 0 && p.stdout_seen().find("EINTR") == std::string::npos;
        if (!ok) {
            ++harmed;
            ADD_FAILURE() << where << ": status '" << first << "' then '" << later << "', echo '" << echoed
                          << "', quit '" << bye << "', exit " << code;
        }
    }
    // After a killed attach, attaching works as usual (the trampoline page left behind is used).
    for (int round = 0; round < 5; ++round) {
        Process p;
        ASSERT_TRUE(p.start({NMT_AGENT_TARGET, "--worker"}));
        const pid_t pid = p.wait_ready();
        ASSERT_GT(pid, 0);
        const pid_t attacher = spawn({NMT_NMLEAK, "attach", "-q", std::to_string(pid)});
        while (any_tracer(pid) != attacher && running(attacher)) {
        }
        ::kill(attacher, SIGKILL);
        ::waitpid(attacher, nullptr, 0);
        const nmt::Result a = nmt::nmleak({"attach", std::to_string(pid)});
        EXPECT_EQ(a.status, 0) << a.err;
        const nmt::Result d = nmt::nmleak({"detach", "-q", std::to_string(pid)});
        EXPECT_EQ(d.status, 0) << d.err;
        EXPECT_EQ(p.ask("echo again", "echo"), "echo again");
        EXPECT_NE(p.ask("status", "status").find("errors=0"), std::string::npos);
        EXPECT_EQ(p.ask("quit", "bye"), "bye");
        EXPECT_EQ(p.wait_exit(), 0);
    }
    std::printf("%d rounds: %d kills while a thread was borrowed, %d attachers finished first, %d targets harmed\n",
                rounds, while_borrowed, attacher_finished, harmed);
    EXPECT_EQ(harmed, 0);
    // The test is only worth something if many kills landed inside the borrowed time.
    EXPECT_GE(while_borrowed, rounds / 5);
}

} // namespace
