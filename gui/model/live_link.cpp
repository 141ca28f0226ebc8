// live_link.cpp - the LiveLink over nmleak's live protocol: proto::Client for the socket, proto::LiveView
// for merging updates into the last full snapshot.
#include "live_link.hpp"

#include <nmleak/protocol.hpp>

#ifdef NMGUI_HAVE_ATTACH
#include "live_target.hpp" // inject::connect_agent: connection errors that say what to do next
#endif

#include <map>

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
            if (m.type == proto::MessageType::Snapshot && m.seq) pending_.erase(m.seq); // answers its CmdSnapshot
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

} // namespace nm::gui
