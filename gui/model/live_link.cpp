// live_link.cpp - the LiveLink over nmleak's live protocol (proto::Client for the socket, proto::LiveView
// for merging updates into the last full snapshot), and attaching through `nmleak attach`.
#include "live_link.hpp"

#include <nmleak/protocol.hpp>

#ifdef NMGUI_HAVE_ATTACH
#include "live_target.hpp" // inject::connect_agent: connection errors that say what to do next
#endif

#include <map>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

extern char **environ;

namespace nm::gui {
namespace {

bool connect_client(int pid, const proto::ConnectOptions &options, proto::Client *client, std::string *error) {
#ifdef NMGUI_HAVE_ATTACH
    return inject::connect_agent(pid_t(pid), options, client, error);
#else
    return client->connect(pid_t(pid), options, error);
#endif
}

class ProtoLink final : public LiveLink {
public:
    bool connect(int pid, std::string *error) override {
        proto::ConnectOptions o;
        o.client_name = "nmleak-gui";
        o.hello_flags = proto::kHelloSubscribe | proto::kHelloBlocks;
        o.timeout_ms = 5000;
        return connect_client(pid, o, &client_, error);
    }

    std::string peer_command() const override { return client_.connected() ? client_.hello().command : std::string(); }

    Event poll(int timeout_ms, std::string *text, bool *ok) override {
        proto::Message m;
        std::string error;
        switch (client_.read(&m, timeout_ms, &error)) {
        case proto::ReadStatus::Timeout: return Event::Timeout;
        case proto::ReadStatus::Closed:
            *text = bye_.empty() ? std::string() : "the agent stopped: " + bye_;
            return Event::Closed;
        case proto::ReadStatus::Failed:
            *text = error;
            return Event::Error;
        case proto::ReadStatus::Message: break;
        }
        switch (m.type) {
        case proto::MessageType::Snapshot:
        case proto::MessageType::Update:
            if (m.type == proto::MessageType::Snapshot) {
                if (m.seq) pending_.erase(m.seq); // answers its CmdSnapshot
                blocks_ms_ = m.snapshot.process.snapshot_ms;
            }
            view_.apply(m);
            return Event::Changed;
        case proto::MessageType::Reply: {
            auto it = pending_.find(m.seq);
            const std::string what = it == pending_.end() ? std::string("command") : it->second;
            if (it != pending_.end()) pending_.erase(it);
            *ok = m.reply.status == proto::ReplyStatus::Ok;
            if (*ok) *text = what + ": done";
            else *text = what + " failed: " + proto::to_string(m.reply.status) + (m.reply.message.empty() ? "" : " (" + m.reply.message + ")");
            return Event::Note;
        }
        case proto::MessageType::Error:
            *text = std::string("the agent refused the connection: ") + proto::to_string(m.error.code) +
                    (m.error.message.empty() ? "" : " (" + m.error.message + ")");
            client_.close();
            return Event::Error;
        case proto::MessageType::Bye:
            bye_ = m.bye_reason.empty() ? "detached" : m.bye_reason;
            return Event::Timeout; // the close follows
        default: return Event::Timeout;
        }
    }

    void copy_state(model::Snapshot *out) const override { *out = view_.snapshot(); }
    uint64_t blocks_ms() const override { return blocks_ms_; }

    bool request_snapshot(std::string *error) override {
        const uint32_t seq = client_.send_snapshot_request(true, error);
        if (seq) pending_[seq] = "Snapshot";
        return seq != 0;
    }

    bool request_terminate(uint64_t expert_id, const std::string &name, std::string *error) override {
        const uint32_t seq = client_.send_terminate(expert_id, error);
        if (seq) pending_[seq] = "Terminate " + name + " (key " + std::to_string(expert_id) + ")";
        return seq != 0;
    }

    bool request_detach(std::string *error) override {
        const uint32_t seq = client_.send_detach(error);
        if (seq) pending_[seq] = "Stop the agent";
        return seq != 0;
    }

    void close() override { client_.close(); }

private:
    proto::Client client_;
    proto::LiveView view_;
    std::map<uint32_t, std::string> pending_; // seq -> what the command was, for its reply
    std::string bye_;
    uint64_t blocks_ms_ = 0;
};

} // namespace

std::unique_ptr<LiveLink> make_live_link() { return std::make_unique<ProtoLink>(); }
bool live_protocol_available() { return true; }

bool query_live_bytes(int pid, int timeout_ms, uint64_t *bytes) {
    proto::Client c;
    proto::ConnectOptions o;
    o.client_name = "nmleak-gui (process list)";
    o.hello_flags = proto::kHelloNoSnapshot;
    o.timeout_ms = timeout_ms;
    std::string error;
    if (!c.connect(pid_t(pid), o, &error)) return false;
    model::Snapshot snap;
    if (!c.request_snapshot(false, &snap, timeout_ms, &error)) return false;
    uint64_t sum = 0;
    for (const model::Expert &e : snap.experts) sum += e.live_bytes;
    *bytes = sum;
    return true;
}

namespace {

namespace fs = std::filesystem;

bool executable(const fs::path &p) {
    struct stat st{};
    return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

} // namespace

std::string find_nmleak_binary() {
    if (const char *env = std::getenv("NMLEAK_BIN"); env && *env && executable(env)) return env;
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path dir = self.parent_path();
        // Installed side by side, or the build tree (build/gui/nmleak-gui, build/inject/nmleak).
        for (const fs::path &p : {dir / "nmleak", dir.parent_path() / "inject" / "nmleak",
                                  dir.parent_path().parent_path() / "inject" / "nmleak"})
            if (executable(p)) return p.string();
    }
    if (const char *path = std::getenv("PATH")) {
        std::stringstream ss(path);
        std::string d;
        while (std::getline(ss, d, ':'))
            if (!d.empty() && executable(fs::path(d) / "nmleak")) return (fs::path(d) / "nmleak").string();
    }
    return {};
}

bool inject_agent(int pid, int timeout_ms, std::string *error) {
    const std::string bin = find_nmleak_binary();
    if (bin.empty()) {
        *error = "the nmleak executable was not found (set NMLEAK_BIN)";
        return false;
    }
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        *error = "pipe failed";
        return false;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    const std::string pid_text = std::to_string(pid);
    char *argv[] = {const_cast<char *>(bin.c_str()), const_cast<char *>("attach"),
                    const_cast<char *>(pid_text.c_str()), nullptr};
    pid_t child = -1;
    const int rc = posix_spawn(&child, bin.c_str(), &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        *error = "could not run " + bin;
        return false;
    }

    // Collect its output until it exits or the deadline passes.
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{out[0], POLLIN, 0};
        if (poll(&p, 1, int(std::min<long>(left.count(), 200))) > 0) {
            char buf[512];
            const ssize_t n = read(out[0], buf, sizeof buf);
            if (n <= 0) break; // EOF: it exited (or closed its output)
            if (text.size() < 8192) text.append(buf, size_t(n));
        }
    }
    close(out[0]);
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 50 && (done = waitpid(child, &status, WNOHANG)) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (done == 0) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        *error = "nmleak attach " + pid_text + " did not finish in time";
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        text = trim(text);
        const size_t nl = text.rfind('\n');
        *error = text.empty() ? "nmleak attach " + pid_text + " failed" : text.substr(nl == std::string::npos ? 0 : nl + 1);
        return false;
    }
    return true;
}

} // namespace nm::gui
