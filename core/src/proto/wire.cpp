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

#include <algorithm>
#include <cstring>

namespace nm::proto {
namespace {

void put16(std::vector<uint8_t> *out, uint16_t v) {
    out->push_back(uint8_t(v));
    out->push_back(uint8_t(v >> 8));
}
void put32(std::vector<uint8_t> *out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out->push_back(uint8_t(v >> (8 * i)));
}
void put64(std::vector<uint8_t> *out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out->push_back(uint8_t(v >> (8 * i)));
}
void put_str(std::vector<uint8_t> *out, const std::string &s, uint32_t limit) {
    const uint32_t n = uint32_t(std::min<size_t>(s.size(), limit)); // never emit what we would refuse
    put32(out, n);
    out->insert(out->end(), s.begin(), s.begin() + n);
}
void patch32(std::vector<uint8_t> *out, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) (*out)[at + size_t(i)] = uint8_t(v >> (8 * i));
}
uint32_t get32(const uint8_t *p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// Writes the header with a zero length; finish_frame() patches it once the payload is in.
size_t begin_frame(std::vector<uint8_t> *out, MessageType type, uint16_t flags, uint32_t seq) {
    const size_t at = out->size();
    put32(out, 0);
    put16(out, uint16_t(type));
    put16(out, flags);
    put32(out, seq);
    return at;
}
void finish_frame(std::vector<uint8_t> *out, size_t at) {
    patch32(out, at, uint32_t(out->size() - at - kFrameHeaderSize));
}

// Reads a payload front to back; every getter fails (and stays failed) past the end.
class Reader {
public:
    explicit Reader(std::span<const uint8_t> b) : b_(b) {}
    bool u32(uint32_t *v) {
        if (!need(4)) return false;
        *v = get32(b_.data() + at_);
        at_ += 4;
        return true;
    }
    bool u64(uint64_t *v) {
        uint32_t lo, hi;
        if (!u32(&lo) || !u32(&hi)) return false;
        *v = uint64_t(hi) << 32 | lo;
        return true;
    }
    bool str(std::string *s, uint32_t limit) {
        uint32_t n;
        if (!u32(&n)) return false;
        if (n > limit) return fail("a text field of " + std::to_string(n) + " bytes (limit " +
                                   std::to_string(limit) + ")");
        if (!need(n)) return false;
        s->assign(reinterpret_cast<const char *>(b_.data() + at_), n);
        at_ += n;
        return true;
    }
    bool magic() {
        if (!need(sizeof kMagic)) return false;
        if (std::memcmp(b_.data() + at_, kMagic, sizeof kMagic) != 0) return fail("bad magic (not an nmleak peer)");
        at_ += sizeof kMagic;
        return true;
    }
    bool done() {
        if (failed_) return false;
        if (at_ != b_.size()) return fail(std::to_string(b_.size() - at_) + " unexpected trailing bytes");
        return true;
    }
    bool fail(std::string why) {
        if (!failed_) why_ = std::move(why);
        failed_ = true;
        return false;
    }
    const std::string &why() const { return why_; }

private:
    bool need(size_t n) {
        if (failed_) return false;
        if (b_.size() - at_ < n) return fail("payload truncated");
        return true;
    }
    std::span<const uint8_t> b_;
    size_t at_ = 0;
    bool failed_ = false;
    std::string why_;
};

bool version_ok(Reader &r, uint32_t *version) {
    if (!r.magic() || !r.u32(version)) return false;
    if (*version != kProtocolVersion)
        return r.fail("protocol version " + std::to_string(*version) + " (this build speaks " +
                      std::to_string(kProtocolVersion) + ")");
    return true;
}

bool decode_payload(const Frame &f, Message *m, Reader &r, const DecodeLimits &limits) {
    switch (f.type) {
    case MessageType::Hello: {
        Hello &h = m->hello;
        uint32_t pid = 0;
        if (!version_ok(r, &h.version) || !r.u32(&pid) || !r.u32(&h.uid) || !r.u32(&h.update_interval_ms) ||
            !r.u32(&h.stack_depth) || !r.u64(&h.start_unix_ms) || !r.str(&h.command, kMaxTextField) ||
            !r.str(&h.executable, kMaxTextField) || !r.str(&h.agent_version, kMaxTextField))
            return false;
        h.pid = int32_t(pid);
        return r.done();
    }
    case MessageType::ClientHello: {
        ClientHello &h = m->client_hello;
        if (!version_ok(r, &h.version) || !r.u32(&h.flags) || !r.str(&h.client, kMaxClientName)) return false;
        if (h.flags & ~kHelloKnownFlags) return r.fail("unknown ClientHello flags");
        return r.done();
    }
    case MessageType::Reply: {
        uint32_t s;
        if (!r.u32(&s) || !r.str(&m->reply.message, kMaxTextField)) return false;
        m->reply.status = ReplyStatus(s);
        return r.done();
    }
    case MessageType::Error: {
        uint32_t c;
        if (!r.u32(&c) || !r.str(&m->error.message, kMaxTextField)) return false;
        m->error.code = ErrorCode(c);
        return r.done();
    }
    case MessageType::Bye:
        return r.str(&m->bye_reason, kMaxTextField) && r.done();
    case MessageType::Snapshot:
    case MessageType::Update: {
        snapshot_io::DecodeLimits sl;
        sl.max_payload_bytes = limits.max_snapshot_bytes;
        std::string why;
        if (!snapshot_io::decode(f.payload, &m->snapshot, &why, sl)) return r.fail("snapshot: " + why);
        return true;
    }
    case MessageType::CmdSnapshot:
        if (!r.u32(&m->snapshot_flags)) return false;
        if (m->snapshot_flags & ~kSnapshotWantBlocks) return r.fail("unknown CmdSnapshot flags");
        return r.done();
    case MessageType::CmdTerminate:
        return r.u64(&m->key_id) && r.done();
    case MessageType::CmdSetOptions: {
        Options &o = m->options;
        if (!r.u32(&o.mask) || !r.u32(&o.stack_depth) || !r.u32(&o.update_interval_ms) || !r.u32(&o.subscribe))
            return false;
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
    const size_t at = begin_frame(out, MessageType::Hello, 0, 0);
    out->insert(out->end(), kMagic, kMagic + sizeof kMagic);
    put32(out, h.version);
    put32(out, uint32_t(h.pid));
    put32(out, h.uid);
    put32(out, h.update_interval_ms);
    put32(out, h.stack_depth);
    put64(out, h.start_unix_ms);
    put_str(out, h.command, kMaxTextField);
    put_str(out, h.executable, kMaxTextField);
    put_str(out, h.agent_version, kMaxTextField);
    finish_frame(out, at);
}

void encode_client_hello(const ClientHello &h, std::vector<uint8_t> *out) {
    const size_t at = begin_frame(out, MessageType::ClientHello, 0, 0);
    out->insert(out->end(), kMagic, kMagic + sizeof kMagic);
    put32(out, h.version);
    put32(out, h.flags);
    put_str(out, h.client, kMaxClientName);
    finish_frame(out, at);
}

void encode_reply(uint32_t seq, const Reply &r, std::vector<uint8_t> *out) {
    const size_t at = begin_frame(out, MessageType::Reply, 0, seq);
    put32(out, uint32_t(r.status));
    put_str(out, r.message, kMaxTextField);
    finish_frame(out, at);
}

void encode_error(const ErrorInfo &e, std::vector<uint8_t> *out) {
    const size_t at = begin_frame(out, MessageType::Error, 0, 0);
    put32(out, uint32_t(e.code));
    put_str(out, e.message, kMaxTextField);
    finish_frame(out, at);
}

void encode_bye(const std::string &reason, std::vector<uint8_t> *out) {
    const size_t at = begin_frame(out, MessageType::Bye, 0, 0);
    put_str(out, reason, kMaxTextField);
    finish_frame(out, at);
}

void encode_cmd_snapshot(uint32_t seq, uint32_t flags, std::vector<uint8_t> *out) {
    const size_t at = begin_frame(out, MessageType::CmdSnapshot, 0, seq);
    put32(out, flags);
    finish_frame(out, at);
}

void encode_cmd_terminate(uint32_t seq, uint64_t key_id, std::vector<uint8_t> *out) {
    const size_t at = begin_frame(out, MessageType::CmdTerminate, 0, seq);
    put64(out, key_id);
    finish_frame(out, at);
}

void encode_cmd_set_options(uint32_t seq, const Options &o, std::vector<uint8_t> *out) {
    const size_t at = begin_frame(out, MessageType::CmdSetOptions, 0, seq);
    put32(out, o.mask);
    put32(out, o.stack_depth);
    put32(out, o.update_interval_ms);
    put32(out, o.subscribe);
    finish_frame(out, at);
}

void encode_cmd_simple(MessageType type, uint32_t seq, std::vector<uint8_t> *out) {
    finish_frame(out, begin_frame(out, type, 0, seq));
}

bool encode_snapshot_frame(MessageType type, uint16_t flags, uint32_t seq, const model::Snapshot &snap,
                           std::vector<uint8_t> *out, std::string *error, int zstd_level) {
    const size_t at = begin_frame(out, type, flags, seq);
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
    finish_frame(out, at);
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
            want_ = get32(header_);
            const uint16_t type = uint16_t(header_[4] | header_[5] << 8);
            if (want_ > max_payload_) {
                failed_ = true;
                if (error)
                    *error = "frame of " + std::to_string(want_) + " bytes exceeds the limit of " +
                             std::to_string(max_payload_);
                return false;
            }
            current_.type = MessageType(type);
            current_.flags = uint16_t(header_[6] | header_[7] << 8);
            current_.seq = get32(header_ + 8);
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
    if (!ok && error) *error = std::string(to_string(frame.type)) + ": " + r.why();
    return ok;
}

} // namespace nm::proto
