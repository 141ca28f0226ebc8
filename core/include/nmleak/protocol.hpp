// protocol.hpp - the live protocol between the in-process agent and its clients (CLI, GUI).
//
// Transport: a Unix stream socket, one per analyzer process, named nmleak-PID.sock in a directory
// only its user can enter (socket_dir()). Both ends speak in frames; every integer is little-endian.
//
// Frame (both directions):
//   offset size field
//        0    4 u32 length  payload bytes that follow the 12-byte header
//        4    2 u16 type    MessageType
//        6    2 u16 flags   per type (FrameFlag); bits a type does not define must be 0
//        8    4 u32 seq     commands: the client's request number (not 0); Reply/Snapshot: the seq
//                           of the command they answer (0 for the initial snapshot); Update: the
//                           connection's update counter; otherwise 0
//       12  len payload
// A frame longer than the receiver's limit ends the connection: the agent accepts at most
// kMaxClientPayload bytes from a client, a client at most kMaxServerPayload from the agent.
//
// Conversation:
//   agent  -> Hello            at once on accept (magic, version, pid, uid, command line)
//   client -> ClientHello      first frame, within kHelloTimeoutMs (magic, version, flags)
//   agent  -> Snapshot         the full state (unless kHelloNoSnapshot), then, if subscribed,
//   agent  -> Update ...       what changed, at most every update interval (default 200 ms)
//   client -> Cmd*             any time after ClientHello; each gets a Reply with its seq
//                              (CmdSnapshot gets a Snapshot frame instead, or a Reply on error)
//   agent  -> Bye              the agent stops (detach); the socket closes after it
//   agent  -> Error            fatal for this connection (bad bytes, refused peer); closes after
//
// Payload layouts are drawn beside the codec (core/src/proto/wire.cpp). Strings are u32 length +
// bytes, no terminator. Snapshot and Update payloads are snapshot_io containers (snapshot_io.hpp):
// an Update is a partial Snapshot, merged into the last full one by LiveView (live_view.cpp).
#pragma once

#include <nmleak/model.hpp>

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace nm::proto {

// "NMLKPROT": first 8 bytes of the Hello and ClientHello payloads.
inline constexpr unsigned char kMagic[8] = {'N', 'M', 'L', 'K', 'P', 'R', 'O', 'T'};
// Bump when a layout changes. A peer with another version is refused with an Error frame.
inline constexpr uint32_t kProtocolVersion = 2;
inline constexpr size_t kFrameHeaderSize = 12;
// Commands are tiny; anything bigger from a client is hostile.
inline constexpr uint32_t kMaxClientPayload = 4096;
// A full snapshot: 1 GiB holds well over 10M live blocks after compression.
inline constexpr uint32_t kMaxServerPayload = uint32_t{1} << 30;
// Field limits inside payloads (longer fields make the frame malformed).
inline constexpr uint32_t kMaxTextField = 64 * 1024;
inline constexpr uint32_t kMaxClientName = 256;
inline constexpr int kHelloTimeoutMs = 5000;
inline constexpr uint32_t kDefaultUpdateIntervalMs = 200;
inline constexpr uint32_t kMinUpdateIntervalMs = 50;
inline constexpr uint32_t kMaxUpdateIntervalMs = 60000;

enum class MessageType : uint16_t {
    Hello = 0x0001,       // agent -> client
    ClientHello = 0x0002, // client -> agent
    Snapshot = 0x0010,    // agent -> client: snapshot_io container of the full state
    Update = 0x0011,      // agent -> client: snapshot_io container of what changed (partial)
    Reply = 0x0012,       // agent -> client: status of a command
    Error = 0x0013,       // agent -> client: fatal for this connection
    Bye = 0x0014,         // agent -> client: the agent stops
    CmdSnapshot = 0x0020, // client -> agent: send a full snapshot now
    CmdTerminate = 0x0021,  // client -> agent: NmRequestExpertTerminate on the key with this id
    CmdSetOptions = 0x0022, // client -> agent: stack depth, update interval, subscription
    CmdDetach = 0x0023,     // client -> agent: stop the agent (the library stays loaded)
    CmdPing = 0x0024,       // client -> agent: Reply Ok
};
const char *to_string(MessageType t);
bool is_known(uint16_t type);
bool is_command(MessageType t);

// Frame flags.
inline constexpr uint16_t kSnapshotHasBlocks = 1; // Snapshot: live block lists are included

// ClientHello flags.
inline constexpr uint32_t kHelloSubscribe = 1;      // stream Update frames
inline constexpr uint32_t kHelloBlocks = 2;         // the initial snapshot includes live blocks
inline constexpr uint32_t kHelloNoSnapshot = 4;     // no initial snapshot
inline constexpr uint32_t kHelloKnownFlags = 7;

// CmdSnapshot flags (payload).
inline constexpr uint32_t kSnapshotWantBlocks = 1;

// CmdSetOptions: which fields apply.
inline constexpr uint32_t kOptStackDepth = 1;
inline constexpr uint32_t kOptUpdateInterval = 2;
inline constexpr uint32_t kOptSubscribe = 4;
inline constexpr uint32_t kOptKnown = 7;

enum class ReplyStatus : uint32_t {
    Ok = 0,
    Unsupported = 1,     // a command type this agent does not know (the connection stays open)
    InvalidArgument = 2, // e.g. a stack depth above NM_MAX_STACK_DEPTH
    NoSuchKey = 3,       // no open key has this id (never existed, or closed)
    Busy = 4,            // a snapshot for this connection is still being sent
    Internal = 5,        // the agent could not do it (out of memory, encode failed)
};
const char *to_string(ReplyStatus s);

enum class ErrorCode : uint32_t {
    Protocol = 1,        // malformed frame, wrong first frame, unknown flags
    Version = 2,         // protocol version or magic mismatch
    PeerRefused = 3,     // the peer's uid is neither the agent's user nor root
    TooManyClients = 4,
    Timeout = 5,         // no ClientHello in time, or the client stopped reading
};
const char *to_string(ErrorCode c);

struct Hello {
    uint32_t version = kProtocolVersion;
    int32_t pid = 0;
    uint32_t uid = 0;
    uint32_t update_interval_ms = kDefaultUpdateIntervalMs;
    uint32_t stack_depth = 0;
    uint64_t start_unix_ms = 0; // when the process's tracker started
    std::string command;        // argv joined by spaces
    std::string executable;
    std::string agent_version;
};

struct ClientHello {
    uint32_t version = kProtocolVersion;
    uint32_t flags = kHelloSubscribe | kHelloBlocks;
    std::string client; // a name for logs ("nmleak ps", "nmleak-gui")
};

struct Options {
    uint32_t mask = 0; // kOpt* bits: the fields below that apply
    uint32_t stack_depth = 0;
    uint32_t update_interval_ms = 0;
    uint32_t subscribe = 0; // 0/1
};

struct Reply {
    ReplyStatus status = ReplyStatus::Ok;
    std::string message;
};

struct ErrorInfo {
    ErrorCode code = ErrorCode::Protocol;
    std::string message;
};

// One frame as read off the socket.
struct Frame {
    MessageType type = MessageType::Hello;
    uint16_t flags = 0;
    uint32_t seq = 0;
    std::vector<uint8_t> payload;
};

// One decoded message. Only the member matching `type` is filled.
struct Message {
    MessageType type = MessageType::Hello;
    uint16_t flags = 0;
    uint32_t seq = 0;
    Hello hello;
    ClientHello client_hello;
    Reply reply;
    ErrorInfo error;
    std::string bye_reason;
    model::Snapshot snapshot;   // Snapshot, Update
    uint32_t snapshot_flags = 0; // CmdSnapshot
    uint64_t key_id = 0;         // CmdTerminate
    Options options;             // CmdSetOptions
};

// ---- encoding ---------------------------------------------------------------------------------
// Each appends one complete frame to *out.
void encode_hello(const Hello &h, std::vector<uint8_t> *out);
void encode_client_hello(const ClientHello &h, std::vector<uint8_t> *out);
void encode_reply(uint32_t seq, const Reply &r, std::vector<uint8_t> *out);
void encode_error(const ErrorInfo &e, std::vector<uint8_t> *out);
void encode_bye(const std::string &reason, std::vector<uint8_t> *out);
void encode_cmd_snapshot(uint32_t seq, uint32_t flags, std::vector<uint8_t> *out);
void encode_cmd_terminate(uint32_t seq, uint64_t key_id, std::vector<uint8_t> *out);
void encode_cmd_set_options(uint32_t seq, const Options &o, std::vector<uint8_t> *out);
void encode_cmd_simple(MessageType type, uint32_t seq, std::vector<uint8_t> *out); // Detach, Ping
// A Snapshot or Update frame: the snapshot_io container is written straight into the frame (no
// second copy of a large payload). zstd_level 1 favours speed on a local socket. False with
// *error if encoding fails or the result exceeds kMaxServerPayload (nothing is appended then).
bool encode_snapshot_frame(MessageType type, uint16_t flags, uint32_t seq, const model::Snapshot &snap,
                           std::vector<uint8_t> *out, std::string *error, int zstd_level = 1);

// ---- decoding ---------------------------------------------------------------------------------

// Splits a byte stream into frames. Memory grows only with bytes actually received (a header that
// announces 1 GiB reserves nothing), and a frame over the limit is an error before its payload is
// read. Once an error is reported the reader stays failed.
class FrameReader {
public:
    explicit FrameReader(uint32_t max_payload) : max_payload_(max_payload) {}

    // Consumes all of `bytes`; complete frames queue up for next(). False when a header announces
    // a payload over the limit; *error says why. Types are not judged here: an agent answers an
    // unknown command type with ReplyStatus::Unsupported, decode_message() refuses the rest.
    bool feed(std::span<const uint8_t> bytes, std::string *error);
    // Pops the oldest complete frame.
    bool next(Frame *out);
    size_t pending_frames() const { return frames_.size(); }
    // Bytes held in the partial frame being received.
    size_t partial_bytes() const { return header_fill_ + payload_.size(); }
    bool failed() const { return failed_; }

private:
    uint32_t max_payload_;
    uint8_t header_[kFrameHeaderSize] = {};
    size_t header_fill_ = 0;
    bool have_header_ = false;
    uint32_t want_ = 0;
    Frame current_;
    std::vector<uint8_t> payload_;
    std::deque<Frame> frames_;
    bool failed_ = false;
};

struct DecodeLimits {
    // Decompressed size limit for Snapshot and Update payloads.
    uint64_t max_snapshot_bytes = uint64_t{4} << 30;
};

// Decodes a frame's payload by its type. False with *error for any malformed payload: wrong size,
// bad magic, flags not defined for the type, a string over its limit, a corrupt snapshot. Never
// crashes on any input; allocation is bounded by the payload size (and the limits for snapshots).
bool decode_message(const Frame &frame, Message *out, std::string *error, const DecodeLimits &limits = {});

// ---- where the sockets live -------------------------------------------------------------------

// The directory where an agent running as `uid` with this environment puts its socket:
// $XDG_RUNTIME_DIR/nmleak when XDG_RUNTIME_DIR is an absolute path to a directory owned by uid,
// else /tmp/nmleak-UID.
std::string socket_dir(uid_t uid, const char *xdg_runtime_dir);
std::string socket_name(pid_t pid); // "nmleak-PID.sock"
// Creates `dir` (mode 0700) if missing, then checks, without following symlinks, that it is a
// directory owned by `uid` that no one else may enter (mode & 077 == 0). False with *error naming
// the problem; an existing directory is never chmod-ed or chown-ed.
bool ensure_private_dir(const std::string &dir, uid_t uid, std::string *error);
// Checks an existing directory the same way (for clients).
bool check_private_dir(const std::string &dir, uid_t uid, std::string *error);
// Where a client should look for the socket of process `pid`, best first: the target's own
// XDG_RUNTIME_DIR (from /proc/PID/environ when readable), /run/user/UID/nmleak, /tmp/nmleak-UID.
std::vector<std::string> socket_candidates(pid_t pid);
// The uid that owns process `pid` (effective uid in /proc/PID/status); false if it is gone.
bool process_uid(pid_t pid, uid_t *uid);

// ---- the client -------------------------------------------------------------------------------

struct ConnectOptions {
    uint32_t hello_flags = kHelloSubscribe | kHelloBlocks;
    std::string client_name = "nmleak";
    int timeout_ms = 5000;    // connect + handshake
    std::string socket_path;  // connect here instead of looking the pid's socket up
};

enum class ReadStatus {
    Message, // *out holds a message
    Timeout, // nothing complete arrived in time
    Closed,  // the agent closed the connection (after Bye or Error, or it died)
    Failed,  // malformed bytes from the agent, or a socket error; the connection is closed
};

// A connection to one agent. Not thread-safe: use it from one thread (the GUI's I/O thread).
class Client {
public:
    Client();
    ~Client();
    Client(Client &&) noexcept;
    Client &operator=(Client &&) noexcept;
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    // Finds pid's socket (socket_candidates, or options.socket_path), connects, checks the peer is
    // that process (SO_PEERCRED) and exchanges hellos. False with a one-line *error: no agent
    // (not attached: "nmleak attach PID"), permission, refused by the agent, version mismatch.
    bool connect(pid_t pid, const ConnectOptions &options, std::string *error);
    void close();
    bool connected() const;
    const Hello &hello() const;
    const std::string &socket_path() const;
    // The socket, for poll() in an event loop; read() then with timeout 0.
    int fd() const;

    // The next message, waiting at most timeout_ms (-1: forever). Snapshot and Update payloads are
    // decoded into Message::snapshot.
    ReadStatus read(Message *out, int timeout_ms, std::string *error);

    // Commands. Each returns the seq its Reply (or Snapshot) will carry, 0 on a send error.
    uint32_t send_snapshot_request(bool include_blocks, std::string *error);
    uint32_t send_terminate(uint64_t key_id, std::string *error);
    uint32_t send_options(const Options &options, std::string *error);
    uint32_t send_detach(std::string *error);
    uint32_t send_ping(std::string *error);

    // Round trips: send, then wait for the answer. Messages that arrive meanwhile (updates) are kept
    // and returned by later read() calls, in order.
    bool request_snapshot(bool include_blocks, model::Snapshot *out, int timeout_ms, std::string *error);
    bool wait_reply(uint32_t seq, Reply *out, int timeout_ms, std::string *error);

private:
    struct Impl;
    std::unique_ptr<Impl> d_;
};

// ---- the client's model of a live process -----------------------------------------------------

// The last full snapshot with every update since merged in. Merge rules (what the agent sends):
// an Update lists the keys whose figures changed (their figures replace the old ones), with only
// the cleanups and misuse events that are new (appended); its stacks and frames are its own and
// are re-indexed into this snapshot's. Block lists are those of the last full snapshot, except that
// a key that closed loses them; request a snapshot for fresh blocks. Modules are replaced when an
// Update carries any.
class LiveView {
public:
    void reset(model::Snapshot full);
    void apply_update(const model::Snapshot &update);
    // Applies a Snapshot or Update message; false for other types.
    bool apply(const Message &m);
    const model::Snapshot &snapshot() const { return snap_; }
    uint64_t updates_applied() const { return updates_; }

private:
    uint32_t import_stack(const model::Snapshot &from, uint32_t stack);
    model::Snapshot snap_;
    std::unordered_map<uint64_t, size_t> expert_index_;
    std::unordered_map<uint64_t, uint32_t> frame_index_; // address -> frames index
    std::unordered_map<std::string, uint32_t> stack_index_; // frame indices as bytes -> stacks index
    uint64_t updates_ = 0;
};

} // namespace nm::proto
