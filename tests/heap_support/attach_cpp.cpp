// attach_cpp.cpp - an ordinary C++ program (STL, 4 threads, no libnmapi) for `nmleak attach`:
// containers made before the attach, workers that keep building and checking maps of strings
// and vectors and hand blocks to each other, and commands on stdin as attach_c.c:
//   status, free-old, leak N (N `new Leaked` from nmt_attach_cpp_leak), mismatch (three frees by
//   the wrong family), quit.
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<bool> stop{false};
std::atomic<unsigned long> iterations{0}, errors{0};
std::vector<std::string *> old_blocks;
std::vector<std::unique_ptr<int[]>> old_arrays;

struct Leaked {
    char bytes[3131];
};
std::vector<Leaked *> leaks;

// Blocks made on one thread and freed on another.
std::mutex handoff_mu;
std::vector<std::vector<uint64_t> *> handoff;

uint64_t round_of(uint64_t seed) {
    std::map<std::string, std::vector<uint64_t>> m;
    for (uint64_t i = 0; i < 20; ++i) {
        std::string key = "key-" + std::to_string(seed * 31 + i) + std::string(i * 3, 'x');
        m[key].assign(i + 1, seed + i);
    }
    uint64_t sum = 0;
    for (auto &[k, v] : m) {
        for (uint64_t x : v) sum += x;
        if (v.empty() || k.compare(0, 4, "key-") != 0) ++errors;
    }
    auto *mine = new std::vector<uint64_t>(50, seed);
    std::vector<uint64_t> *theirs = nullptr;
    {
        std::lock_guard<std::mutex> lock(handoff_mu);
        handoff.push_back(mine);
        if (handoff.size() > 8) {
            theirs = handoff.front();
            handoff.erase(handoff.begin());
        }
    }
    if (theirs) {
        if (theirs->size() != 50) ++errors;
        delete theirs;
    }
    auto arr = std::make_unique<double[]>(100);
    arr[99] = double(seed);
    sum += uint64_t(arr[99]);
    return sum;
}

// Frees by the wrong family (glibc serves all three, so the program runs on): new[]/free,
// malloc/delete, new/delete[] of a trivially destructible type.
void *volatile sink; // the compiler may not elide a pair it cannot see through

__attribute__((noinline)) void nmt_attach_cpp_mismatch() {
    sink = new int[10];
    std::free(sink);
    sink = std::malloc(24);
    delete static_cast<char *>(sink);
    sink = new int(5);
    delete[] static_cast<int *>(sink);
}

__attribute__((noinline)) void nmt_attach_cpp_leak(int n) {
    for (int i = 0; i < n; ++i) leaks.push_back(new Leaked());
}

} // namespace

int main() {
    for (int i = 0; i < 1000; ++i) old_blocks.push_back(new std::string(100 + i, 'o'));
    for (int i = 0; i < 100; ++i) old_arrays.emplace_back(new int[1000]());
    std::vector<std::thread> workers;
    for (uint64_t w = 1; w <= 4; ++w)
        workers.emplace_back([w] {
            for (uint64_t s = w * 1000003; !stop.load(); ++s) {
                round_of(s);
                // Leave the CPU to others now and then (the agent's snapshots, on 2 shared cores).
                if (iterations++ % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        });
    std::printf("ready %d worker=%ld\n", int(getpid()), long(syscall(SYS_gettid)));
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line == "status") {
            std::printf("status iterations=%lu errors=%lu\n", iterations.load(), errors.load());
        } else if (line == "free-old") {
            int n = 0;
            for (std::string *s : old_blocks) {
                if (s->size() < 100 || (*s)[0] != 'o') ++errors;
                delete s;
                ++n;
            }
            old_blocks.clear();
            old_arrays.clear();
            std::printf("freed-old %d\n", n);
        } else if (line.rfind("leak ", 0) == 0) {
            nmt_attach_cpp_leak(std::stoi(line.substr(5)));
            std::printf("leaked %s\n", line.substr(5).c_str());
        } else if (line == "mismatch") {
            nmt_attach_cpp_mismatch();
            std::printf("mismatched 3\n");
        } else if (line == "quit") {
            break;
        }
        std::fflush(stdout);
    }
    stop = true;
    for (auto &t : workers) t.join();
    for (auto *v : handoff) delete v;
    handoff.clear();
    uint64_t checksum = 0;
    for (uint64_t s = 0; s < 3000; ++s) checksum += round_of(s);
    std::printf("done errors=%lu checksum=%llu\n", errors.load(), static_cast<unsigned long long>(checksum));
    return 0;
}
