// live_link.cpp - the LiveLink of a build without the live protocol: connecting fails with a clear reason.
#include "live_link.hpp"

namespace nm::gui {
namespace {

class UnavailableLink final : public LiveLink {
public:
    bool connect(int, std::string *error) override {
        *error = "this nmleak-gui was built without the live protocol (core/include/nmleak/protocol.hpp)";
        return false;
    }
    std::string peer_command() const override { return {}; }
    Recv receive(model::Snapshot *, int, std::string *error) override {
        *error = "not connected";
        return Recv::Error;
    }
    bool request_snapshot(std::string *error) override {
        *error = "not connected";
        return false;
    }
    bool request_terminate(uint64_t, std::string *error) override {
        *error = "not connected";
        return false;
    }
    void detach() override {}
};

} // namespace

std::unique_ptr<LiveLink> make_live_link() { return std::make_unique<UnavailableLink>(); }
bool live_protocol_available() { return false; }

} // namespace nm::gui
