// processes.hpp - the attachable processes: agent sockets and processes that load libnmapi, scanned off the UI thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nm::gui {

struct ProcessEntry {
    int pid = 0;
    std::string command;     // argv joined with spaces
    bool has_agent = false;  // an agent socket answers for it: connect directly
    bool uses_nmapi = false; // libnmapi is mapped: `nmleak attach` can inject the agent
    std::string socket;      // the agent socket's path, when has_agent
    uint64_t rss_bytes = 0;  // resident set size
    uint64_t live_bytes = 0; // outstanding expert bytes, when the agent reported them
    bool live_known = false;
};

// The directories agent sockets live in: $XDG_RUNTIME_DIR/nmleak, then /tmp/nmleak-UID.
std::vector<std::string> agent_socket_dirs();
// One scan (blocking: reads /proc). Own process excluded. Sorted: agents first, then by pid.
std::vector<ProcessEntry> scan_processes();

// Rescans every `period_ms` on its own thread while active; the UI reads the last list.
class ProcessScanner {
public:
    explicit ProcessScanner(int period_ms = 2000);
    ~ProcessScanner();
    ProcessScanner(const ProcessScanner &) = delete;
    ProcessScanner &operator=(const ProcessScanner &) = delete;

    void set_active(bool active); // the process view is shown
    void refresh();               // scan now (asynchronously)
    std::shared_ptr<const std::vector<ProcessEntry>> list() const;
    double last_scan_ms() const { return last_scan_.load(); }
    void set_wake(std::function<void()> wake) {
        std::lock_guard<std::mutex> lock(mu_);
        wake_ = std::move(wake);
    }

private:
    void loop();

    const int period_ms_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false, active_ = false, kick_ = false;
    std::shared_ptr<const std::vector<ProcessEntry>> list_;
    std::atomic<double> last_scan_{0};
    std::function<void()> wake_;
    std::thread thread_;
};

} // namespace nm::gui
