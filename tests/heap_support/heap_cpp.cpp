// heap_cpp.cpp - C++ with the STL for the whole-heap tests: containers, 8 threads that allocate
// and free across threads through a shared queue, a new[]/delete mismatch, and named leaks.
#include <atomic>
#include <cstdlib>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

std::mutex g_mu;
std::condition_variable g_cv;
std::deque<std::string *> g_queue;
bool g_done = false;

__attribute__((noinline)) void cpp_leak_strings(int n) {
    auto *v = new std::vector<std::string>();
    for (int i = 0; i < n; ++i) v->push_back(std::string(100, char('a' + i % 26)));
    // v is dropped on purpose: 1 vector, its buffer and n strings leak
}

__attribute__((noinline)) int *cpp_leak_array() { return new int[64](); }

void producer(int id, std::atomic<unsigned long> &sum) {
    for (int i = 0; i < 5000; ++i) {
        auto *s = new std::string(std::to_string(id) + ":" + std::to_string(i) + std::string(40, 'x'));
        auto local = std::make_unique<std::vector<int>>(size_t(i % 50), i);
        sum += local->size();
        std::lock_guard<std::mutex> lock(g_mu);
        g_queue.push_back(s);
        g_cv.notify_one();
    }
}

void consumer(std::atomic<unsigned long> &sum) {
    for (;;) {
        std::unique_lock<std::mutex> lock(g_mu);
        g_cv.wait(lock, [] { return g_done || !g_queue.empty(); });
        if (g_queue.empty()) return;
        std::string *s = g_queue.front();
        g_queue.pop_front();
        lock.unlock();
        sum += s->size();
        delete s; // made on another thread
    }
}

} // namespace

int main(int argc, char **argv) {
    std::map<std::string, int> words;
    for (int i = 0; i < 2000; ++i) words["word" + std::to_string(i % 300)] += i;
    std::atomic<unsigned long> sum{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back(producer, t, std::ref(sum));
    for (int t = 0; t < 4; ++t) threads.emplace_back(consumer, std::ref(sum));
    for (int t = 0; t < 4; ++t) threads[size_t(t)].join();
    {
        std::lock_guard<std::mutex> lock(g_mu);
        g_done = true;
    }
    g_cv.notify_all();
    for (size_t t = 4; t < threads.size(); ++t) threads[t].join();
    cpp_leak_strings(20);
    int *a = cpp_leak_array();
    sum += unsigned(a[3]);
    if (argc > 1 && std::string(argv[1]) == "--mismatch") {
        int *m = new int[10];
        delete m; // mismatched on purpose: recorded, and the program goes on
        char *c = static_cast<char *>(malloc(10));
        delete c; // free of malloc'ed memory through delete
    }
    std::printf("heap_cpp %lu %zu\n", sum.load(), words.size());
    return 0;
}
