// wire.cpp - the live protocol's codec: frame headers, the stream splitter, and every payload.
//
// Payload layouts (little-endian; str = u32 length + bytes; no padding; no trailing bytes allowed):
//
//   Hello          0 8 magic "NMLKPROT"     ClientHello   0 8 magic "NMLKPROT"
//                  8 4 u32 version                        8 4 u32 version
//                 12 4 i32 pid                           12 4 u32 flags (kHello*)
//                 16 4 u32 uid                           16   str client name (<= 256)
//                 20 4 u32 update interval ms
//                 24 4 u32 stack depth                   CmdSnapshot   0 4 u32 flags (kSnapshotWantBlocks)
//                 28 8 u64 tracker start, unix ms        CmdTerminate  0 8 u64 key id
//                 36   str command                       CmdSetOptions 0 4 u32 mask (kOpt*)
//                      str executable                                  4 4 u32 stack depth
//                      str agent version                               8 4 u32 update interval ms
//                                                                     12 4 u32 subscribe (0/1)
//   Reply          0 4 u32 status, 4 str message         CmdDetach, CmdPing: empty
//   Error          0 4 u32 code,   4 str message
//   Bye            0   str reason                        Snapshot, Update: a snapshot_io container
//
// Text fields are at most kMaxTextField bytes. Both hellos carry the magic so that a stray
// connection (or a stray server) is told apart from a peer of another version.
#include <nmleak/protocol.hpp>
#include <nmleak/snapshot_io.hpp>

#include "model/bytes.hpp"

#include <algorithm>
#include <cstring>

namespace nm::proto {
namespace {

using bytes::load_le16;
using bytes::load_le32;
using Reader = bytes::Reader;

// A text field, cut at `limit`: never emit what the peer would refuse.
void put_str(bytes::Writer &w, const std::string &s, uint32_t limit) {
    w.str(std::string_view(s).substr(0, limit));
}

// Writes the header with a zero length; finish_frame() patches it once the payload is in.
size_t begin_frame(bytes::Writer &w, MessageType type, uint16_t flags, uint32_t seq) {
    const size_t at = w.size();
    w.u32(0);
    w.u16(uint16_t(type));
    w.u16(flags);
    w.u32(seq);
    return at;
}
void finish_frame(bytes::Writer &w, size_t at) { w.patch32(at, uint32_t(w.size() - at - kFrameHeaderSize)); }

bool version_ok(Reader &r, uint32_t *version) {
    if (!r.expect(kMagic, "magic",
                  "bad magic (not an nmleak peer)"))
        return false;
    *version = r.u32("version");
    if (!r.ok()) return false;
    if (*version != kProtocolVersion)
        return r.fail("protocol version " + std::to_string(*version) + " (this build speaks " +
                      std::to_string(kProtocolVersion) + ")");
    return true;
}

bool decode_payload(const Frame &f, Message *m, Reader &r, const DecodeLimits &limits) {
    switch (f.type) {
    case MessageType::Hello: {
        Hello &h = m->hello;
        if (!version_ok(r, &h.version)) return false;
        h.pid = r.i32("pid");
        h.uid = r.u32("uid");
        h.update_interval_ms = r.u32("update interval");
        h.stack_depth = r.u32("stack depth");
        h.start_unix_ms = r.u64("start time");
        h.command = r.str("command", kMaxTextField);
        h.executable = r.str("executable", kMaxTextField);
        h.agent_version = r.str("agent version", kMaxTextField);
        return r.done();
    }
    case MessageType::ClientHello: {
        ClientHello &h = m->client_hello;
        if (!version_ok(r, &h.version)) return false;
        h.flags = r.u32("flags");
        h.client = r.str("client name", kMaxClientName);
        if (!r.ok()) return false;
        if (h.flags & ~kHelloKnownFlags) return r.fail("unknown ClientHello flags");
        return r.done();
    }
    case MessageType::Reply:
        m->reply.status = ReplyStatus(r.u32("status"));
        m->reply.message = r.str("message", kMaxTextField);
        return r.done();
    case MessageType::Error:
        m->error.code = ErrorCode(r.u32("code"));
        m->error.message = r.str("message", kMaxTextField);
        return r.done();
    case MessageType::Bye:
        m->bye_reason = r.str("reason", kMaxTextField);
        return r.done();
    case MessageType::Snapshot:
    case MessageType::Update: {
        snapshot_io::DecodeLimits sl;
        sl.max_payload_bytes = limits.max_snapshot_bytes;
        std::string why;
        if (!snapshot_io::decode(f.payload, &m->snapshot, &why, sl)) return r.fail("snapshot: " + why);
        return true;
    }
    case MessageType::CmdSnapshot:
        m->snapshot_flags = r.u32("flags");
        if (!r.ok()) return false;
        if (m->snapshot_flags & ~kSnapshotWantBlocks) return r.fail("unknown CmdSnapshot flags");
        return r.done();
    case MessageType::CmdTerminate:
        m->key_id = r.u64("key id");
        return r.done();
    case MessageType::CmdSetOptions: {
        Options &o = m->options;
        o.mask = r.u32("mask");
        o.stack_depth = r.u32("stack depth");
        o.update_interval_ms = r.u32("update interval");
        o.subscribe = r.u32("subscribe");
        if (!r.ok()) return false;
        if (o.mask & ~kOptKnown) return r.fail("unknown CmdSetOptions fields");
        if (o.subscribe > 1) return r.fail("CmdSetOptions subscribe must be 0 or 1");
        return r.done();
    }
    case MessageType::CmdDetach:
    case MessageType::CmdPing:
        return r.done();
    }
    return r.fail("unknown message type");
}

} // namespace

const char *to_string(MessageType t) {
    switch (t) {
    case MessageType::Hello: return "Hello";
    case MessageType::ClientHello: return "ClientHello";
    case MessageType::Snapshot: return "Snapshot";
    case MessageType::Update: return "Update";
    case MessageType::Reply: return "Reply";
    case MessageType::Error: return "Error";
    case MessageType::Bye: return "Bye";
    case MessageType::CmdSnapshot: return "CmdSnapshot";
    case MessageType::CmdTerminate: return "CmdTerminate";
    case MessageType::CmdSetOptions: return "CmdSetOptions";
    case MessageType::CmdDetach: return "CmdDetach";
    case MessageType::CmdPing: return "CmdPing";
    }
    return "unknown";
}

bool is_known(uint16_t type) {
    switch (MessageType(type)) {
    case MessageType::Hello: case MessageType::ClientHello: case MessageType::Snapshot:
    case MessageType::Update: case MessageType::Reply: case MessageType::Error: case MessageType::Bye:
    case MessageType::CmdSnapshot: case MessageType::CmdTerminate: case MessageType::CmdSetOptions:
    case MessageType::CmdDetach: case MessageType::CmdPing:
        return true;
    }
    return false;
}

bool is_command(MessageType t) { return (uint16_t(t) & 0xfff0) == 0x0020; }

const char *to_string(ReplyStatus s) {
    switch (s) {
    case ReplyStatus::Ok: return "ok";
    case ReplyStatus::Unsupported: return "unsupported command";
    case ReplyStatus::InvalidArgument: return "invalid argument";
    case ReplyStatus::NoSuchKey: return "no open key with this id";
    case ReplyStatus::Busy: return "busy";
    case ReplyStatus::Internal: return "internal error";
    }
    return "unknown status";
}

const char *to_string(ErrorCode c) {
    switch (c) {
    case ErrorCode::Protocol: return "protocol error";
    case ErrorCode::Version: return "version mismatch";
    case ErrorCode::PeerRefused: return "refused";
    case ErrorCode::TooManyClients: return "too many clients";
    case ErrorCode::Timeout: return "timeout";
    }
    return "error";
}

// ---- encoders ---------------------------------------------------------------------------------

void encode_hello(const Hello &h, std::vector<uint8_t> *out) {
    bytes::Writer w(out);
    const size_t at = begin_frame(w, MessageType::Hello, 0, 0);
    w.raw(kMagic, sizeof kMagic);
    w.u32(h.version);
    w.u32(uint32_t(h.pid));
    w.u32(h.uid);
    w.u32(h.update_interval_ms);
    w.u32(h.stack_depth);
    w.u64(h.start_unix_ms);
    put_str(w, h.command, kMaxTextField);
    put_str(w, h.executable, kMaxTextField);
    put_str(w, h.agent_version, kMaxTextField);
    finish_frame(w, at);
}

void encode_client_hello(const ClientHello &h, std::vector<uint8_t> *out) {
    bytes::Writer w(out);
    const size_t at = begin_frame(w, MessageType::ClientHello, 0, 0);
    w.raw(kMagic, sizeof kMagic);
    w.u32(h.version);
    w.u32(h.flags);
    put_str(w, h.client, kMaxClientName);
    finish_frame(w, at);
}

void encode_reply(uint32_t seq, const Reply &r, std::vector<uint8_t> *out) {
    bytes::Writer w(out);
    const size_t at = begin_frame(w, MessageType::Reply, 0, seq);
    w.u32(uint32_t(r.status));
    put_str(w, r.message, kMaxTextField);
    finish_frame(w, at);
}

void encode_error(const ErrorInfo &e, std::vector<uint8_t> *out) {
    bytes::Writer w(out);
    const size_t at = begin_frame(w, MessageType::Error, 0, 0);
    w.u32(uint32_t(e.code));
    put_str(w, e.message, kMaxTextField);
    finish_frame(w, at);
}

void encode_bye(const std::string &reason, std::vector<uint8_t> *out) {
    bytes::Writer w(out);
    const size_t at = begin_frame(w, MessageType::Bye, 0, 0);
    put_str(w, reason, kMaxTextField);
    finish_frame(w, at);
}

void encode_cmd_snapshot(uint32_t seq, uint32_t flags, std::vector<uint8_t> *out) {
    bytes::Writer w(out);
    const size_t at = begin_frame(w, MessageType::CmdSnapshot, 0, seq);
    w.u32(flags);
    finish_frame(w, at);
}

void encode_cmd_terminate(uint32_t seq, uint64_t key_id, std::vector<uint8_t> *out) {
    bytes::Writer w(out);
    const size_t at = begin_frame(w, MessageType::CmdTerminate, 0, seq);
    w.u64(key_id);
    finish_frame(w, at);
}

void encode_cmd_set_options(uint32_t seq, const Options &o, std::vector<uint8_t> *out) {
    bytes::Writer w(out);
    const size_t at = begin_frame(w, MessageType::CmdSetOptions, 0, seq);
    w.u32(o.mask);
    w.u32(o.stack_depth);
    w.u32(o.update_interval_ms);
    w.u32(o.subscribe);
    finish_frame(w, at);
}

void encode_cmd_simple(MessageType type, uint32_t seq, std::vector<uint8_t> *out) {
    bytes::Writer w(out);
    finish_frame(w, begin_frame(w, type, 0, seq));
}

bool encode_snapshot_frame(MessageType type, uint16_t flags, uint32_t seq, const model::Snapshot &snap,
                           std::vector<uint8_t> *out, std::string *error, int zstd_level) {
    bytes::Writer w(out);
    const size_t at = begin_frame(w, type, flags, seq);
    snapshot_io::EncodeOptions options;
    options.zstd_level = zstd_level;
    if (!snapshot_io::encode(snap, out, error, options)) {
        out->resize(at);
        return false;
    }
    if (out->size() - at - kFrameHeaderSize > kMaxServerPayload) {
        out->resize(at);
        if (error) *error = "the snapshot is larger than the protocol's frame limit (1 GiB)";
        return false;
    }
    finish_frame(w, at);
    return true;
}

// ---- decoding ---------------------------------------------------------------------------------

bool FrameReader::feed(std::span<const uint8_t> bytes, std::string *error) {
    if (failed_) {
        if (error) *error = "the stream already failed";
        return false;
    }
    size_t at = 0;
    while (at < bytes.size()) {
        if (!have_header_) {
            const size_t take = std::min(kFrameHeaderSize - header_fill_, bytes.size() - at);
            std::memcpy(header_ + header_fill_, bytes.data() + at, take);
            header_fill_ += take;
            at += take;
            if (header_fill_ < kFrameHeaderSize) break;
            want_ = load_le32(header_);
            const uint16_t type = load_le16(header_ + 4);
            if (want_ > max_payload_) {
                failed_ = true;
                if (error)
                    *error = "frame of " + std::to_string(want_) + " bytes exceeds the limit of " +
                             std::to_string(max_payload_);
                return false;
            }
            current_.type = MessageType(type);
            current_.flags = load_le16(header_ + 6);
            current_.seq = load_le32(header_ + 8);
            have_header_ = true;
            payload_.clear();
            // Reserve only what this read could fill: a lying header costs nothing.
            payload_.reserve(std::min<size_t>(want_, bytes.size() - at));
        }
        const size_t take = std::min<size_t>(want_ - payload_.size(), bytes.size() - at);
        payload_.insert(payload_.end(), bytes.begin() + ptrdiff_t(at), bytes.begin() + ptrdiff_t(at + take));
        at += take;
        if (payload_.size() == want_) {
            current_.payload = std::move(payload_);
            payload_ = {};
            frames_.push_back(std::move(current_));
            current_ = {};
            have_header_ = false;
            header_fill_ = 0;
        }
    }
    return true;
}

bool FrameReader::next(Frame *out) {
    if (frames_.empty()) return false;
    *out = std::move(frames_.front());
    frames_.pop_front();
    return true;
}

bool decode_message(const Frame &frame, Message *out, std::string *error, const DecodeLimits &limits) {
    *out = Message{};
    out->type = frame.type;
    out->flags = frame.flags;
    out->seq = frame.seq;
    const uint16_t allowed = frame.type == MessageType::Snapshot ? kSnapshotHasBlocks : 0;
    Reader r(frame.payload);
    bool ok;
    if (frame.flags & ~allowed) ok = r.fail("unknown frame flags");
    else if (is_command(frame.type) && frame.seq == 0) ok = r.fail("a command with seq 0");
    else if (!is_command(frame.type) && frame.seq != 0 && frame.type != MessageType::Reply &&
             frame.type != MessageType::Snapshot && frame.type != MessageType::Update)
        ok = r.fail("a seq on a frame that has none");
    else ok = decode_payload(frame, out, r, limits);
    if (!ok && error) *error = std::string(to_string(frame.type)) + ": " + r.error();
    return ok;
}

} // namespace nm::proto
