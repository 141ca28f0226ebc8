// test_protocol.cpp - the live protocol's codec, stream splitter, LiveView merge and socket paths.
#include <nmleak/protocol.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace fs = std::filesystem;
using namespace nm::proto;

namespace {

std::vector<Frame> split(const std::vector<uint8_t> &bytes, size_t chunk, uint32_t limit = kMaxServerPayload) {
    FrameReader r(limit);
    std::string error;
    for (size_t at = 0; at < bytes.size(); at += chunk) {
        const size_t n = std::min(chunk, bytes.size() - at);
        EXPECT_TRUE(r.feed({bytes.data() + at, n}, &error)) << error;
    }
    std::vector<Frame> out;
    Frame f;
    while (r.next(&f)) out.push_back(f);
    return out;
}

Message decode(const Frame &f) {
    Message m;
    std::string error;
    EXPECT_TRUE(decode_message(f, &m, &error)) << error;
    return m;
}

nm::model::Snapshot small_snapshot() {
    nm::model::Snapshot s;
    s.process.pid = 42;
    s.process.command = "analyzer --demo";
    s.stacks.resize(2);
    s.frames.push_back({0x1000, "alloc_here", "a.cpp", 12, "/bin/a", 0x1000});
    s.frames.push_back({0x2000, "main", "a.cpp", 40, "/bin/a", 0x2000});
    s.stacks[1].frames = {0, 1};
    nm::model::Expert e;
    e.id = 1;
    e.name = "http";
    e.live_blocks = 2;
    e.live_bytes = 300;
    e.blocks = {{0x7000, 100, 1, 5}, {0x8000, 200, 1, 6}};
    s.experts.push_back(e);
    return s;
}

std::vector<uint8_t> every_message() {
    std::vector<uint8_t> b;
    Hello h;
    h.pid = 1234;
    h.uid = 1000;
    h.command = "analyzer -x";
    h.executable = "/usr/bin/analyzer";
    h.agent_version = "0.1.0";
    h.start_unix_ms = 1700000000000ull;
    encode_hello(h, &b);
    ClientHello ch;
    ch.client = "gui";
    encode_client_hello(ch, &b);
    encode_reply(9, {ReplyStatus::NoSuchKey, "no key 5"}, &b);
    encode_error({ErrorCode::PeerRefused, "uid 7"}, &b);
    encode_bye("detached", &b);
    encode_cmd_snapshot(1, kSnapshotWantBlocks, &b);
    encode_cmd_terminate(2, 0x1122334455667788ull, &b);
    encode_cmd_set_options(3, {kOptStackDepth | kOptSubscribe, 16, 0, 1}, &b);
    encode_cmd_simple(MessageType::CmdDetach, 4, &b);
    encode_cmd_simple(MessageType::CmdPing, 5, &b);
    std::string error;
    EXPECT_TRUE(encode_snapshot_frame(MessageType::Snapshot, kSnapshotHasBlocks, 6, small_snapshot(), &b, &error));
    return b;
}

TEST(Protocol, EveryMessageRoundTrips) {
    const std::vector<Frame> frames = split(every_message(), 1 << 20);
    ASSERT_EQ(frames.size(), 11u);
    Message m = decode(frames[0]);
    EXPECT_EQ(m.type, MessageType::Hello);
    EXPECT_EQ(m.hello.pid, 1234);
    EXPECT_EQ(m.hello.uid, 1000u);
    EXPECT_EQ(m.hello.command, "analyzer -x");
    EXPECT_EQ(m.hello.executable, "/usr/bin/analyzer");
    EXPECT_EQ(m.hello.start_unix_ms, 1700000000000ull);
    m = decode(frames[1]);
    EXPECT_EQ(m.client_hello.flags, kHelloSubscribe | kHelloBlocks);
    EXPECT_EQ(m.client_hello.client, "gui");
    m = decode(frames[2]);
    EXPECT_EQ(m.seq, 9u);
    EXPECT_EQ(m.reply.status, ReplyStatus::NoSuchKey);
    EXPECT_EQ(m.reply.message, "no key 5");
    EXPECT_EQ(decode(frames[3]).error.code, ErrorCode::PeerRefused);
    EXPECT_EQ(decode(frames[4]).bye_reason, "detached");
    EXPECT_EQ(decode(frames[5]).snapshot_flags, kSnapshotWantBlocks);
    EXPECT_EQ(decode(frames[6]).key_id, 0x1122334455667788ull);
    m = decode(frames[7]);
    EXPECT_EQ(m.options.mask, kOptStackDepth | kOptSubscribe);
    EXPECT_EQ(m.options.stack_depth, 16u);
    EXPECT_EQ(m.options.subscribe, 1u);
    EXPECT_EQ(decode(frames[8]).type, MessageType::CmdDetach);
    EXPECT_EQ(decode(frames[9]).seq, 5u);
    m = decode(frames[10]);
    EXPECT_EQ(m.flags, kSnapshotHasBlocks);
    EXPECT_EQ(m.seq, 6u);
    ASSERT_EQ(m.snapshot.experts.size(), 1u);
    EXPECT_EQ(m.snapshot.experts[0].blocks.size(), 2u);
    EXPECT_EQ(m.snapshot.frames[0].function, "alloc_here");
}

TEST(Protocol, FramesSplitTheSameAtAnyChunkSize) {
    const std::vector<uint8_t> bytes = every_message();
    const std::vector<Frame> whole = split(bytes, bytes.size());
    for (size_t chunk : {1, 2, 3, 5, 11, 12, 13, 100, 4096}) {
        const std::vector<Frame> parts = split(bytes, chunk);
        ASSERT_EQ(parts.size(), whole.size()) << "chunk " << chunk;
        for (size_t i = 0; i < parts.size(); ++i) {
            EXPECT_EQ(parts[i].type, whole[i].type);
            EXPECT_EQ(parts[i].seq, whole[i].seq);
            EXPECT_EQ(parts[i].payload, whole[i].payload) << "chunk " << chunk << " frame " << i;
        }
    }
}

TEST(Protocol, OversizedFrameIsRefusedBeforeItsPayload) {
    FrameReader r(kMaxClientPayload);
    const uint8_t header[12] = {0x01, 0x10, 0, 0, 0x20, 0, 0, 0, 1, 0, 0, 0}; // 4097 bytes
    std::string error;
    EXPECT_FALSE(r.feed(header, &error));
    EXPECT_NE(error.find("exceeds the limit"), std::string::npos) << error;
    EXPECT_TRUE(r.failed());
    const uint8_t more[1] = {0};
    EXPECT_FALSE(r.feed(more, &error)); // stays failed
}

TEST(Protocol, ALyingHeaderReservesNothing) {
    FrameReader r(kMaxServerPayload);
    const uint8_t header[12] = {0x00, 0x00, 0x00, 0x40, 0x10, 0, 0, 0, 0, 0, 0, 0}; // 1 GiB snapshot
    std::string error;
    ASSERT_TRUE(r.feed(header, &error)) << error;
    EXPECT_EQ(r.partial_bytes(), 12u);
    std::vector<uint8_t> some(1000, 7);
    ASSERT_TRUE(r.feed(some, &error));
    EXPECT_EQ(r.partial_bytes(), 1012u);
    EXPECT_EQ(r.pending_frames(), 0u);
}

TEST(Protocol, MalformedPayloadsAreRefused) {
    const std::vector<Frame> frames = split(every_message(), 1 << 20);
    for (const Frame &good : frames) {
        // Every truncation (the snapshot's container catches its own) and one trailing byte.
        for (size_t n = 0; n < good.payload.size(); n += (good.payload.size() > 200 ? 37 : 1)) {
            Frame f = good;
            f.payload.resize(n);
            Message m;
            std::string error;
            EXPECT_FALSE(decode_message(f, &m, &error)) << to_string(f.type) << " truncated to " << n;
            EXPECT_FALSE(error.empty());
        }
        Frame f = good;
        f.payload.push_back(0);
        Message m;
        std::string error;
        EXPECT_FALSE(decode_message(f, &m, &error)) << to_string(f.type) << " with a trailing byte";
    }
    Message m;
    std::string error;
    Frame hello = frames[0];
    hello.payload[8] = 3; // version 3
    EXPECT_FALSE(decode_message(hello, &m, &error));
    EXPECT_NE(error.find("version 3"), std::string::npos) << error;
    hello = frames[0];
    hello.payload[0] = 'X';
    EXPECT_FALSE(decode_message(hello, &m, &error));
    EXPECT_NE(error.find("magic"), std::string::npos) << error;
    Frame ping = frames[9];
    ping.seq = 0;
    EXPECT_FALSE(decode_message(ping, &m, &error)) << "a command needs a seq";
    ping = frames[9];
    ping.flags = 1;
    EXPECT_FALSE(decode_message(ping, &m, &error)) << "unknown flags";
    Frame bye = frames[4];
    bye.payload = {0xff, 0xff, 0xff, 0x7f}; // a 2 GiB string in a 4-byte payload
    EXPECT_FALSE(decode_message(bye, &m, &error));
    Frame unknown = frames[9];
    unknown.type = MessageType(0x7777);
    EXPECT_FALSE(decode_message(unknown, &m, &error));
}

TEST(Protocol, RandomPayloadsNeverCrash) {
    std::mt19937 rng(7);
    const MessageType types[] = {MessageType::Hello, MessageType::ClientHello, MessageType::Reply,
                                 MessageType::Error, MessageType::Bye, MessageType::Snapshot,
                                 MessageType::Update, MessageType::CmdSnapshot, MessageType::CmdTerminate,
                                 MessageType::CmdSetOptions, MessageType::CmdDetach, MessageType::CmdPing};
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        Frame f;
        f.type = types[rng() % std::size(types)];
        f.seq = rng() % 3;
        f.flags = rng() % 8 == 0 ? uint16_t(rng()) : 0;
        f.payload.resize(rng() % 64);
        for (auto &b : f.payload) b = uint8_t(rng() % 4 == 0 ? 0 : rng());
        Message m;
        std::string error;
        accepted += decode_message(f, &m, &error);
    }
    EXPECT_GT(accepted, 0); // some tiny commands are valid by chance; none crashed
}

TEST(LiveView, UpdatesMergeFiguresAndEvents) {
    LiveView view;
    view.reset(small_snapshot());
    // The update has its own numbering: frame 0 is main (shared by address), frame 1 is new.
    nm::model::Snapshot u;
    u.process.snapshot_ms = 900;
    u.stacks.resize(2);
    u.frames.push_back({0x2000, "main", "a.cpp", 40, "/bin/a", 0x2000});
    u.frames.push_back({0x3000, "close_here", "b.cpp", 7, "/bin/a", 0x3000});
    u.stacks[1].frames = {1, 0};
    nm::model::Expert closed;
    closed.id = 1;
    closed.name = "http";
    closed.state = nm::model::ExpertState::Closed;
    closed.cleanups.push_back({800, nm::model::Outcome::Done, 2, 300, {{1, 2, 300}}, 0, 0, {}, 0, 0, {}, {}});
    nm::model::Expert fresh;
    fresh.id = 2;
    fresh.name = "dns";
    fresh.live_blocks = 1;
    fresh.misuse.push_back({850, nm::model::MisuseKind::DoubleFree, "ExpertFreeMemory", 0x9000, 1, ""});
    u.experts = {closed, fresh};
    view.apply_update(u);

    const nm::model::Snapshot &s = view.snapshot();
    EXPECT_EQ(s.process.snapshot_ms, 900u);
    EXPECT_EQ(s.process.command, "analyzer --demo"); // kept from the full snapshot
    ASSERT_EQ(s.experts.size(), 2u);
    const nm::model::Expert &http = s.experts[0];
    EXPECT_EQ(http.state, nm::model::ExpertState::Closed);
    EXPECT_TRUE(http.blocks.empty()) << "a closed key has no blocks";
    ASSERT_EQ(http.cleanups.size(), 1u);
    const auto &stack = s.stacks[http.cleanups[0].stacks[0].stack];
    ASSERT_EQ(stack.frames.size(), 2u);
    EXPECT_EQ(s.frames[stack.frames[0]].function, "close_here");
    EXPECT_EQ(stack.frames[1], 1u) << "main is deduplicated by address";
    EXPECT_EQ(s.frames.size(), 3u);
    EXPECT_EQ(s.experts[1].name, "dns");
    ASSERT_EQ(s.experts[1].misuse.size(), 1u);
    EXPECT_EQ(s.experts[1].misuse[0].stack, http.cleanups[0].stacks[0].stack) << "equal stacks share an index";

    // The same events are never sent twice; a second misuse update appends.
    nm::model::Snapshot u2;
    u2.stacks.resize(1);
    fresh.misuse[0].stack = 0;
    fresh.misuse_count = 2;
    u2.experts = {fresh};
    view.apply_update(u2);
    EXPECT_EQ(view.snapshot().experts[1].misuse.size(), 2u);
    EXPECT_EQ(view.snapshot().experts[1].misuse_count, 2u);
    EXPECT_EQ(view.updates_applied(), 2u);
}

class SocketDir : public ::testing::Test {
protected:
    void SetUp() override {
        base_ = fs::temp_directory_path() / ("nmt-dir-" + std::to_string(::getpid()));
        fs::remove_all(base_);
        fs::create_directories(base_);
    }
    void TearDown() override { fs::remove_all(base_); }
    fs::path base_;
};

TEST_F(SocketDir, NamesAndPlaces) {
    EXPECT_EQ(socket_name(1234), "nmleak-1234.sock");
    EXPECT_EQ(socket_dir(::geteuid(), base_.c_str()), base_.string() + "/nmleak");
    EXPECT_EQ(socket_dir(::geteuid(), "relative/dir"), "/tmp/nmleak-" + std::to_string(::geteuid()));
    EXPECT_EQ(socket_dir(::geteuid(), nullptr), "/tmp/nmleak-" + std::to_string(::geteuid()));
    EXPECT_EQ(socket_dir(::geteuid() + 1, base_.c_str()), "/tmp/nmleak-" + std::to_string(::geteuid() + 1))
        << "an XDG_RUNTIME_DIR owned by someone else is not used";
}

TEST_F(SocketDir, CreatedPrivateAndCheckedWithoutFollowingLinks) {
    std::string error;
    const std::string dir = (base_ / "nmleak").string();
    ::umask(022);
    ASSERT_TRUE(ensure_private_dir(dir, ::geteuid(), &error)) << error;
    struct stat st;
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_TRUE(ensure_private_dir(dir, ::geteuid(), &error)) << "an existing good directory is fine";
    EXPECT_TRUE(check_private_dir(dir, ::geteuid(), &error));

    ::chmod(dir.c_str(), 0750);
    EXPECT_FALSE(ensure_private_dir(dir, ::geteuid(), &error));
    EXPECT_NE(error.find("mode 0750"), std::string::npos) << error;
    EXPECT_FALSE(check_private_dir(dir, ::geteuid(), &error));

    const std::string link = (base_ / "link").string();
    fs::create_directory_symlink(base_ / "nmleak", link);
    ::chmod(dir.c_str(), 0700);
    EXPECT_FALSE(ensure_private_dir(link, ::geteuid(), &error));
    EXPECT_NE(error.find("symbolic link"), std::string::npos) << error;

    EXPECT_FALSE(ensure_private_dir(dir, ::geteuid() + 1, &error)) << "owned by another uid";
    EXPECT_NE(error.find("belongs to uid"), std::string::npos) << error;

    const std::string file = (base_ / "file").string();
    { std::ofstream(file) << "x"; }
    EXPECT_FALSE(ensure_private_dir(file, ::geteuid(), &error));
}

} // namespace
