// test_agent_security.cpp - the agent's socket against other users, hostile bytes, slow clients and
// a tampered socket directory; the target must never notice.
#include <nmleak/protocol.hpp>

#include "agent_support/harness.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <filesystem>
#include <random>

namespace fs = std::filesystem;

namespace {

using nmt::Process;

int connect_raw(const std::string &path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

// Reads until EOF (or 3 s); what the agent sent.
std::string drain(int fd) {
    std::string got;
    char b[65536];
    for (;;) {
        const ssize_t n = ::recv(fd, b, sizeof b, 0);
        if (n <= 0) break;
        got.append(b, size_t(n));
    }
    return got;
}

class Security : public ::testing::Test {
protected:
    // agent_target --worker under `nmleak run` (the agent is there from the start).
    void SetUp() override {
        ASSERT_TRUE(target_.start({NMT_NMLEAK, "run", "-q", "--", NMT_AGENT_TARGET, "--worker"}));
        pid_ = target_.wait_ready();
        ASSERT_GT(pid_, 0) << target_.stderr_text();
        nm::proto::Client c;
        nm::proto::ConnectOptions o;
        o.hello_flags = nm::proto::kHelloNoSnapshot;
        std::string error;
        ASSERT_TRUE(c.connect(pid_, o, &error)) << error;
        socket_ = c.socket_path();
    }

    // The target is alive, its worker reports no error, and a well-behaved client still works.
    void expect_target_fine() {
        ASSERT_TRUE(target_.alive());
        const std::string st = target_.ask("status", "status");
        EXPECT_NE(st.find("errors=0"), std::string::npos) << st;
        nm::proto::Client c;
        nm::proto::ConnectOptions o;
        o.hello_flags = 0;
        // A wait bound, not a timing check: on a loaded machine the agent may still be serving
        // what the test's hostile client asked for when this client says hello.
        o.timeout_ms = 30000;
        std::string error;
        // Connections a test just closed may still hold their places for a moment.
        bool connected = false;
        for (int64_t deadline = nmt::now_ms() + 10000; !connected && nmt::now_ms() < deadline;) {
            connected = c.connect(pid_, o, &error);
            if (!connected && error.find("too many clients") == std::string::npos) break;
            if (!connected) nmt::sleep_ms(50);
        }
        ASSERT_TRUE(connected) << error;
        nm::proto::Message m;
        ASSERT_EQ(c.read(&m, 10000, &error), nm::proto::ReadStatus::Message) << error;
        EXPECT_EQ(m.type, nm::proto::MessageType::Snapshot);
        EXPECT_NE(nmt::expert(m.snapshot, "alpha"), nullptr);
    }

    Process target_;
    pid_t pid_ = 0;
    std::string socket_;
};

TEST_F(Security, SocketDirectoryIsPrivate) {
    struct stat st;
    const std::string dir = socket_.substr(0, socket_.rfind('/'));
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_EQ(st.st_uid, ::geteuid());
    ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0077, 0u);
    // Through the normal path, another user cannot even reach the socket.
    if (!nmt::other_user_unavailable().empty()) return;
    const nmt::Result r = nmt::run(nmt::nmleak_as_nobody({"snapshot", std::to_string(pid_), "-o", "/tmp/nmt-nobody.nmsnap"}));
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("nmleak: ", 0), 0u) << "nmleak did not run as nobody: " << r.err;
    EXPECT_FALSE(fs::exists("/tmp/nmt-nobody.nmsnap"));
}

TEST_F(Security, AnotherUserIsRefusedByPeerCredentials) {
    if (const std::string why = nmt::other_user_unavailable(); !why.empty()) GTEST_SKIP() << why;
    // Give "nobody" a way past the directory (a hard link to the socket in a world-open directory,
    // the socket opened up): only the agent's SO_PEERCRED check is left to refuse it.
    const fs::path open_dir = fs::temp_directory_path() / ("nmt-open-" + std::to_string(pid_));
    fs::create_directories(open_dir);
    ::chmod(open_dir.c_str(), 0755);
    const fs::path link = open_dir / "agent.sock";
    ASSERT_EQ(::link(socket_.c_str(), link.c_str()), 0) << std::strerror(errno);
    ASSERT_EQ(::chmod(link.c_str(), 0666), 0);
    const std::string out = (open_dir / "x.nmsnap").string();
    const nmt::Result r = nmt::run(nmt::nmleak_as_nobody({"snapshot", std::to_string(pid_), "--socket", link.string(), "-o", out}));
    ::chmod(socket_.c_str(), 0600);
    fs::remove_all(open_dir);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("uid 65534"), std::string::npos) << r.err;
    expect_target_fine();
}

TEST_F(Security, RandomBytesAndMalformedFramesCloseOnlyThatConnection) {
    std::mt19937 rng(20240611);
    // 1. Pure noise, in many sizes.
    for (int i = 0; i < 60; ++i) {
        const int fd = connect_raw(socket_);
        ASSERT_GE(fd, 0);
        std::vector<uint8_t> junk(size_t(rng() % 5000) + 1);
        for (auto &b : junk) b = uint8_t(rng());
        (void)!::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
        ::close(fd);
    }
    // 2. A header announcing 4 GiB: refused before any payload is read, with an Error frame. (The
    //    agent may still be busy with the flood above and say "too many clients": then retry.)
    std::string got;
    for (int64_t deadline = nmt::now_ms() + 10000; nmt::now_ms() < deadline;) {
        const int fd = connect_raw(socket_);
        const uint8_t huge[12] = {0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0, 0, 0, 0, 0, 0};
        (void)!::send(fd, huge, sizeof huge, MSG_NOSIGNAL);
        got = drain(fd);
        ::close(fd);
        if (got.find("too many clients") == std::string::npos) break;
        nmt::sleep_ms(50);
    }
    EXPECT_NE(got.find("exceeds the limit"), std::string::npos);
    // 3. A valid ClientHello, then valid-looking commands with garbage payloads.
    for (int i = 0; i < 40; ++i) {
        const int fd = connect_raw(socket_);
        std::vector<uint8_t> bytes;
        nm::proto::ClientHello h;
        h.flags = nm::proto::kHelloNoSnapshot;
        nm::proto::encode_client_hello(h, &bytes);
        const uint16_t type = uint16_t(0x0020 + rng() % 8);
        const uint32_t len = rng() % 64;
        const uint8_t hdr[12] = {uint8_t(len), 0, 0, 0, uint8_t(type), uint8_t(type >> 8), 0, 0, 1, 0, 0, 0};
        bytes.insert(bytes.end(), hdr, hdr + 12);
        for (uint32_t k = 0; k < len; ++k) bytes.push_back(uint8_t(rng()));
        (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        ::shutdown(fd, SHUT_WR); // done sending: the agent answers (Reply or Error), then closes
        drain(fd);
        ::close(fd);
    }
    // 4. More idle connections than the agent serves: the extra ones are told so, and the idle ones
    //    are dropped after the hello timeout.
    std::vector<int> idle;
    for (int i = 0; i < 20; ++i) idle.push_back(connect_raw(socket_));
    nmt::sleep_ms(200);
    for (int fd : idle) ::close(fd);
    // 5. Half a frame, then hang up.
    {
        const int fd = connect_raw(socket_);
        const uint8_t part[7] = {20, 0, 0, 0, 2, 0, 0};
        (void)!::send(fd, part, sizeof part, MSG_NOSIGNAL);
        ::close(fd);
    }
    expect_target_fine();
}

TEST_F(Security, UnknownCommandsGetUnsupportedAndTheConnectionLives) {
    const int fd = connect_raw(socket_);
    ASSERT_GE(fd, 0);
    std::vector<uint8_t> bytes;
    nm::proto::ClientHello h;
    h.flags = nm::proto::kHelloNoSnapshot;
    nm::proto::encode_client_hello(h, &bytes);
    const uint8_t unknown[12] = {0, 0, 0, 0, 0x2f, 0x00, 0, 0, 7, 0, 0, 0}; // type 0x002f, seq 7
    bytes.insert(bytes.end(), unknown, unknown + 12);
    nm::proto::encode_cmd_simple(nm::proto::MessageType::CmdPing, 8, &bytes);
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size()));
    nm::proto::FrameReader reader(nm::proto::kMaxServerPayload);
    std::vector<nm::proto::Message> got;
    std::string error;
    char b[4096];
    while (got.size() < 3) {
        const ssize_t n = ::recv(fd, b, sizeof b, 0);
        ASSERT_GT(n, 0);
        ASSERT_TRUE(reader.feed({reinterpret_cast<uint8_t *>(b), size_t(n)}, &error)) << error;
        nm::proto::Frame f;
        while (reader.next(&f)) {
            got.emplace_back();
            ASSERT_TRUE(nm::proto::decode_message(f, &got.back(), &error)) << error;
        }
    }
    ::close(fd);
    EXPECT_EQ(got[0].type, nm::proto::MessageType::Hello);
    EXPECT_EQ(got[1].type, nm::proto::MessageType::Reply);
    EXPECT_EQ(got[1].seq, 7u);
    EXPECT_EQ(got[1].reply.status, nm::proto::ReplyStatus::Unsupported);
    EXPECT_EQ(got[2].seq, 8u);
    EXPECT_EQ(got[2].reply.status, nm::proto::ReplyStatus::Ok);
}

TEST_F(Security, AClientThatNeverReadsSlowsNothing) {
    // Subscribed, asking for block snapshots, never reading: its queue fills, the agent skips it.
    const int fd = connect_raw(socket_);
    ASSERT_GE(fd, 0);
    std::vector<uint8_t> bytes;
    nm::proto::ClientHello h; // subscribe + blocks
    nm::proto::encode_client_hello(h, &bytes);
    for (uint32_t seq = 1; seq <= 50; ++seq) nm::proto::encode_cmd_snapshot(seq, nm::proto::kSnapshotWantBlocks, &bytes);
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size()));
    const std::string first = target_.ask("status", "status");
    nmt::sleep_ms(1500);
    const std::string second = target_.ask("status", "status");
    auto iterations = [](const std::string &s) { return std::stoull(s.substr(s.find("iterations=") + 11)); };
    EXPECT_GT(iterations(second), iterations(first) + 100) << first << " -> " << second;
    expect_target_fine();
    ::close(fd);
}

// Reads frames from a raw connection until one of `type` arrives (or EOF / 3 s); false if none.
bool read_until(int fd, nm::proto::MessageType type, nm::proto::Message *out) {
    nm::proto::FrameReader reader(nm::proto::kMaxServerPayload);
    std::string error;
    char b[65536];
    for (;;) {
        const ssize_t n = ::recv(fd, b, sizeof b, 0);
        if (n <= 0) return false;
        if (!reader.feed({reinterpret_cast<uint8_t *>(b), size_t(n)}, &error)) return false;
        nm::proto::Frame f;
        while (reader.next(&f)) {
            if (f.type != type) continue;
            return nm::proto::decode_message(f, out, &error);
        }
    }
}

// The first frame the agent sends on a raw connection.
bool read_first(int fd, nm::proto::Message *out) {
    nm::proto::FrameReader reader(nm::proto::kMaxServerPayload);
    std::string error;
    char b[4096];
    for (;;) {
        const ssize_t n = ::recv(fd, b, sizeof b, 0);
        if (n <= 0) return false;
        if (!reader.feed({reinterpret_cast<uint8_t *>(b), size_t(n)}, &error)) return false;
        nm::proto::Frame f;
        if (reader.next(&f)) return nm::proto::decode_message(f, out, &error);
    }
}

TEST_F(Security, IdleClientsGiveWayToALaterClient) {
    // Every place taken by a client that says hello and then asks for nothing: half of them not
    // subscribed, half subscribed to updates they never read.
    std::vector<int> idle;
    for (int i = 0; i < 16; ++i) {
        // Each one holds a place: it was greeted with Hello (the fixture's own connection may
        // still hold a place for a moment: then try again).
        int fd = -1;
        for (int64_t deadline = nmt::now_ms() + 10000; fd < 0 && nmt::now_ms() < deadline;) {
            fd = connect_raw(socket_);
            ASSERT_GE(fd, 0);
            nm::proto::Message first;
            if (!read_first(fd, &first) || first.type != nm::proto::MessageType::Hello) {
                ::close(fd);
                fd = -1;
                nmt::sleep_ms(50);
            }
        }
        ASSERT_GE(fd, 0) << "could not take place " << i;
        std::vector<uint8_t> bytes;
        nm::proto::ClientHello h;
        h.flags = i % 2 ? nm::proto::kHelloNoSnapshot : nm::proto::kHelloSubscribe | nm::proto::kHelloNoSnapshot;
        nm::proto::encode_client_hello(h, &bytes);
        ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size()));
        idle.push_back(fd);
    }
    // While they are fresh, one more is turned away with the reason, and `nmleak snapshot` does not
    // suggest --attach (the agent is there, only busy). Once they are idle long enough, a newcomer
    // takes an idle one's place instead: either answer is right, depending on the moment.
    {
        const nmt::Result r = nmt::nmleak({"snapshot", std::to_string(pid_), "-o", "/tmp/nmt-full.nmsnap"});
        if (r.status != 0) {
            EXPECT_NE(r.err.find("too many clients"), std::string::npos) << r.err;
            EXPECT_EQ(r.err.find("--attach"), std::string::npos) << r.err;
        }
        ::unlink("/tmp/nmt-full.nmsnap");
    }
    // A later client is served: an idle one gives it its place, and is told why.
    nm::proto::Client c;
    nm::proto::ConnectOptions o;
    o.hello_flags = 0;
    std::string error;
    bool connected = false;
    for (int64_t deadline = nmt::now_ms() + 15000; !connected && nmt::now_ms() < deadline;) {
        connected = c.connect(pid_, o, &error);
        if (!connected) nmt::sleep_ms(200);
    }
    ASSERT_TRUE(connected) << error;
    nm::proto::Message m;
    ASSERT_EQ(c.read(&m, 10000, &error), nm::proto::ReadStatus::Message) << error;
    EXPECT_EQ(m.type, nm::proto::MessageType::Snapshot);
    EXPECT_NE(nmt::expert(m.snapshot, "alpha"), nullptr);
    // The one that gave way was closed with the reason (one that does not read its socket is
    // closed without).
    int told = 0;
    for (int64_t deadline = nmt::now_ms() + 10000; !told && nmt::now_ms() < deadline; nmt::sleep_ms(20))
        for (int &fd : idle) {
            pollfd p{fd, POLLRDHUP, 0};
            if (fd < 0 || ::poll(&p, 1, 0) <= 0) continue;
            nm::proto::Message e;
            if (read_until(fd, nm::proto::MessageType::Error, &e) &&
                e.error.message.find("make room") != std::string::npos)
                ++told;
            ::close(fd);
            fd = -1;
        }
    EXPECT_GE(told, 1);
    for (int fd : idle)
        if (fd >= 0) ::close(fd);
    expect_target_fine();
}

TEST(SecurityDir, AgentRefusesASymlinkedOrOpenDirectory) {
    const fs::path base = fs::temp_directory_path() / ("nmt-xdg-" + std::to_string(::getpid()));
    fs::remove_all(base);
    fs::create_directories(base / "elsewhere");
    ::chmod(base.c_str(), 0700);
    fs::create_directory_symlink(base / "elsewhere", base / "nmleak");
    {
        Process p;
        ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--", NMT_AGENT_TARGET}, {"XDG_RUNTIME_DIR=" + base.string()}));
        const pid_t pid = p.wait_ready();
        ASSERT_GT(pid, 0);
        EXPECT_EQ(p.ask("quit", "bye"), "bye");
        EXPECT_EQ(p.wait_exit(), 0);
        EXPECT_NE(p.stderr_text().find("symbolic link"), std::string::npos) << p.stderr_text();
        EXPECT_TRUE(fs::is_empty(base / "elsewhere"));
    }
    fs::remove(base / "nmleak");
    fs::create_directory(base / "nmleak");
    ::chmod((base / "nmleak").c_str(), 0755);
    {
        Process p;
        ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--", NMT_AGENT_TARGET}, {"XDG_RUNTIME_DIR=" + base.string()}));
        ASSERT_GT(p.wait_ready(), 0);
        EXPECT_EQ(p.ask("quit", "bye"), "bye");
        EXPECT_EQ(p.wait_exit(), 0);
        EXPECT_NE(p.stderr_text().find("mode 0755"), std::string::npos) << p.stderr_text();
        EXPECT_TRUE(fs::is_empty(base / "nmleak"));
    }
    fs::remove_all(base);
}

} // namespace
