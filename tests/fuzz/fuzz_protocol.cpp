// fuzz_protocol.cpp - libFuzzer target: the live protocol's decoders must refuse any bytes cleanly.
//
// The first input byte picks how the rest is used:
//   even: a byte stream, cut into chunks (sizes from the byte), fed to the agent's FrameReader
//         (4 KiB limit) and to a client's (1 GiB limit); every frame is decoded, decoded commands
//         and hellos re-encoded must decode to the same message, and decoded Snapshot/Update
//         frames are merged into a LiveView.
//   odd:  a snapshot payload (snapshot_codec layout, no container, so mutations get past the
//         CRCs) merged into a LiveView as an update and as a reset: hostile stack and frame
//         indices must not escape the merge.
#include <nmleak/protocol.hpp>
#include <nmleak/snapshot_io.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

using namespace nm::proto;

namespace {

nm::model::Snapshot base_snapshot() {
    nm::model::Snapshot s;
    s.stacks.resize(2);
    s.frames.push_back({0x1000, "f", "a.c", 1, "/m", 0});
    s.stacks[1].frames = {0};
    nm::model::Expert e;
    e.id = 1;
    e.name = "k";
    e.blocks = {{0x10, 8, 1, 0}};
    s.experts.push_back(e);
    return s;
}

void check_view(const LiveView &v) {
    // Every index the merged view holds must point inside it.
    const nm::model::Snapshot &s = v.snapshot();
    auto stack_ok = [&](uint32_t id) {
        if (id >= s.stacks.size()) std::abort();
        for (uint32_t f : s.stacks[id].frames)
            if (f >= s.frames.size()) std::abort();
    };
    for (const auto &e : s.experts) {
        for (const auto &c : e.cleanups)
            for (const auto &g : c.stacks) stack_ok(g.stack);
        for (const auto &m : e.misuse) stack_ok(m.stack);
        stack_ok(e.crash_stack);
    }
}

void round_trip(const Message &m) {
    std::vector<uint8_t> again;
    switch (m.type) {
    case MessageType::Hello: encode_hello(m.hello, &again); break;
    case MessageType::ClientHello: encode_client_hello(m.client_hello, &again); break;
    case MessageType::Reply: encode_reply(m.seq, m.reply, &again); break;
    case MessageType::CmdSnapshot: encode_cmd_snapshot(m.seq, m.snapshot_flags, &again); break;
    case MessageType::CmdTerminate: encode_cmd_terminate(m.seq, m.key_id, &again); break;
    case MessageType::CmdSetOptions: encode_cmd_set_options(m.seq, m.options, &again); break;
    default: return;
    }
    FrameReader r(kMaxServerPayload);
    std::string error;
    Frame f;
    Message back;
    if (!r.feed(again, &error) || !r.next(&f) || !decode_message(f, &back, &error)) std::abort();
    if (back.seq != m.seq || back.hello.command != m.hello.command || back.client_hello.flags != m.client_hello.flags ||
        back.reply.message != m.reply.message || back.key_id != m.key_id || back.options.mask != m.options.mask)
        std::abort();
}

void stream(const uint8_t *data, size_t size) {
    FrameReader agent_side(kMaxClientPayload), client_side(kMaxServerPayload);
    LiveView view;
    view.reset(base_snapshot());
    DecodeLimits limits;
    limits.max_snapshot_bytes = 16 << 20; // keep libFuzzer's RSS limit out of reach
    const size_t chunk = size_t(data[0] >> 1) + 1;
    std::string error;
    for (size_t at = 1; at < size; at += chunk) {
        const std::span<const uint8_t> part(data + at, std::min(chunk, size - at));
        for (FrameReader *r : {&agent_side, &client_side}) {
            if (r->failed() || !r->feed(part, &error)) continue;
            Frame f;
            while (r->next(&f)) {
                Message m;
                if (!decode_message(f, &m, &error, limits)) continue;
                round_trip(m);
                if (view.apply(m)) check_view(view);
            }
        }
    }
}

void merge(const uint8_t *data, size_t size) {
    nm::model::Snapshot u;
    std::string error;
    if (!nm::snapshot_io::decode_payload({data, size}, &u, &error)) return;
    LiveView view;
    view.reset(base_snapshot());
    view.apply_update(u);
    check_view(view);
    view.apply_update(u); // twice: events append, figures replace
    check_view(view);
    view.reset(u);
    check_view(view);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1) merge(data + 1, size - 1);
    else stream(data, size);
    return 0;
}
