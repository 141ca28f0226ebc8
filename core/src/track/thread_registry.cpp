// thread_registry.cpp - ThreadRegistry: adding and removing threads.
#include "track/thread_registry.hpp"

#include <sched.h>

#include <algorithm>

namespace nm::track {

void ThreadRegistry::add(ThreadState *ts) {
    std::lock_guard<std::mutex> lock(mu_);
    threads_.push_back(ts);
}

void ThreadRegistry::remove(ThreadState *ts) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find(threads_.begin(), threads_.end(), ts);
    if (it != threads_.end()) threads_.erase(it);
}

void ThreadRegistry::yield() noexcept { sched_yield(); }

} // namespace nm::track
