// test_hostile_text.cpp - untrusted strings never reach a terminal raw (nmleak/text.hpp and every
// human-readable writer), and special files are refused instead of blocking.
#include <nmleak/report.hpp>
#include <nmleak/report_diff.hpp>
#include <nmleak/snapshot_io.hpp>
#include <nmleak/text.hpp>

#include "unit/hostile_sample.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using nm::text::escape;
using nm::text::escape_lines;

TEST(Escape, ControlCharactersBecomeVisible) {
    EXPECT_EQ(escape("a\x1b[31mb"), "a\\x1b[31mb");
    EXPECT_EQ(escape("bell\x07"), "bell\\x07");
    EXPECT_EQ(escape("cr\rlf\ntab\t"), "cr\\rlf\\ntab\\t");
    EXPECT_EQ(escape(std::string("nul\0end", 7)), "nul\\x00end");
    EXPECT_EQ(escape("del\x7f"), "del\\x7f");
    EXPECT_EQ(escape_lines("one\ntwo\x1b"), "one\ntwo\\x1b");
    EXPECT_EQ(escape_lines("cr\r\n"), "cr\\r\n");
}

TEST(Escape, C1ControlsRawOrEncoded) {
    EXPECT_EQ(escape("\x9b" "31m"), "\\x9b31m");        // a lone C1 byte is not UTF-8 either
    EXPECT_EQ(escape("\xc2\x9b" "31m"), "\\u009b31m");   // U+009B, CSI on terminals that take C1
    EXPECT_EQ(escape("\xc2\x85"), "\\u0085");            // NEL
    EXPECT_EQ(escape("\xe2\x80\xae" "txt"), "\\u202etxt"); // right-to-left override
    EXPECT_EQ(escape("\xe2\x80\xa8"), "\\u2028");        // line separator
}

TEST(Escape, ValidUtf8IsKept) {
    for (const std::string s : {"plain ascii", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x90\x9b bug",
                                "\xc2\xa0nbsp", "\xef\xbf\xbd", "C:\\path\\x1b literally"}) {
        EXPECT_EQ(escape(s), s);
        EXPECT_TRUE(nm::text::is_clean(s));
    }
}

TEST(Escape, InvalidUtf8BytesAreEscapedOneByOne) {
    EXPECT_EQ(escape("\xff"), "\\xff");
    EXPECT_EQ(escape("\xc3"), "\\xc3");                 // truncated sequence
    EXPECT_EQ(escape("\xc3(x"), "\\xc3(x");
    EXPECT_EQ(escape("\xc0\xaf"), "\\xc0\\xaf");        // overlong '/'
    EXPECT_EQ(escape("\xe0\x80\xaf"), "\\xe0\\x80\\xaf"); // overlong, 3 bytes
    EXPECT_EQ(escape("\xed\xa0\x80"), "\\xed\\xa0\\x80"); // UTF-16 surrogate
    EXPECT_EQ(escape("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); // above U+10FFFF
    EXPECT_EQ(escape("ok\xe6\x97"), "ok\\xe6\\x97");
    EXPECT_FALSE(nm::text::is_clean("\xe6\x97"));
}

TEST(Escape, EveryByteValueIsSafeAfterEscaping) {
    std::string all;
    for (int i = 0; i < 256; ++i) all += char(i);
    const std::string out = escape(all);
    EXPECT_EQ(nm::test::first_unsafe_byte(out), std::string::npos) << out;
}

std::string render(const nm::model::Snapshot &s, nm::report::Format f) {
    std::ostringstream out;
    std::string error;
    EXPECT_TRUE(nm::report::write(out, s, f, {}, &error)) << error;
    return out.str();
}

TEST(HostileText, TextReportEscapesEveryField) {
    const nm::model::Snapshot s = nm::test::hostile_snapshot();
    const std::string text = render(s, nm::report::Format::Text);
    const size_t bad = nm::test::first_unsafe_byte(text);
    EXPECT_EQ(bad, std::string::npos) << "raw byte at " << bad << ": " << text.substr(bad > 40 ? bad - 40 : 0, 80);
    const std::string seen = escape(nm::test::kHostile);
    // The names, status texts, details, symbols, paths and the command line are all there, readable.
    EXPECT_NE(text.find("http" + seen + " (key 1)"), std::string::npos) << text;
    EXPECT_NE(text.find("done parsing" + seen), std::string::npos);
    EXPECT_NE(text.find("SIGSEGV at 0x10" + seen), std::string::npos);
    EXPECT_NE(text.find("http_run" + seen), std::string::npos);
    EXPECT_NE(text.find("run.c" + seen), std::string::npos);
    EXPECT_NE(text.find("libhttp_expert.so" + seen), std::string::npos);
    EXPECT_NE(text.find("demo.pcap" + seen), std::string::npos);
    EXPECT_NE(text.find("build-host" + seen), std::string::npos);
    EXPECT_NE(text.find("owned by http" + seen), std::string::npos);
    // One leak group per line: no field could add or rewrite lines.
    EXPECT_EQ(text.find("\r"), std::string::npos);
}

TEST(HostileText, DiffTextEscapesEveryField) {
    const nm::model::Snapshot before = nm::test::hostile_snapshot();
    nm::model::Snapshot after = before;
    after.experts[0].cleanups[0].stacks[0] = {1, 4, 8192};
    const nm::report::SnapshotDiff d = nm::report::diff(before, after);
    std::ostringstream out;
    nm::report::write_diff_text(out, d);
    const std::string text = out.str();
    EXPECT_EQ(nm::test::first_unsafe_byte(text), std::string::npos) << text;
    EXPECT_NE(text.find("in expert http" + escape(nm::test::kHostile)), std::string::npos) << text;
}

TEST(HostileText, MachineFormatsKeepTheExactText) {
    const nm::model::Snapshot s = nm::test::hostile_snapshot();
    const auto j = nlohmann::json::parse(render(s, nm::report::Format::Json), nullptr, false);
    ASSERT_FALSE(j.is_discarded());
    // JSON escapes control characters itself; the text round-trips (bad UTF-8 is replaced).
    const std::string name = j["experts"][0]["name"];
    EXPECT_EQ(name.rfind("http\x1b]0;owned\x07\r\x1b[2K", 0), 0u) << name;
}

class SpecialFiles : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("nmt-special-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        fifo_ = (dir_ / "fifo").string();
        ASSERT_EQ(::mkfifo(fifo_.c_str(), 0600), 0);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
    std::string fifo_;
};

// Opening a FIFO that has no writer would block forever: it is refused at once, by name.
TEST_F(SpecialFiles, AFifoIsRefusedNotWaitedOn) {
    nm::model::Snapshot out;
    std::string error;
    EXPECT_FALSE(nm::snapshot_io::read_file(fifo_, &out, &error));
    EXPECT_NE(error.find("FIFO"), std::string::npos) << error;
    EXPECT_NE(error.find(fifo_), std::string::npos) << error;
    nm::report::Suppressions sup;
    EXPECT_FALSE(sup.add_file(fifo_, &error));
    EXPECT_NE(error.find("FIFO"), std::string::npos) << error;
}

TEST_F(SpecialFiles, DevicesAreRefused) {
    nm::model::Snapshot out;
    std::string error;
    EXPECT_FALSE(nm::snapshot_io::read_file("/dev/zero", &out, &error));
    EXPECT_NE(error.find("character device"), std::string::npos) << error;
    EXPECT_FALSE(nm::snapshot_io::read_file("/dev/tty", &out, &error)); // no terminal becomes ours
}

// Writing to a FIFO nobody reads fails at once instead of blocking; one with a reader is written.
TEST_F(SpecialFiles, WritingAFifoNeedsAReader) {
    std::string error;
    EXPECT_FALSE(nm::report::write_file(nm::test::sample_snapshot(), fifo_, "text", &error));
    EXPECT_NE(error.find("FIFO"), std::string::npos) << error;
    EXPECT_TRUE(fs::is_fifo(fifo_)) << "the FIFO is not replaced";

    const int reader = ::open(fifo_.c_str(), O_RDONLY | O_NONBLOCK);
    ASSERT_GE(reader, 0);
    ::fcntl(reader, F_SETPIPE_SZ, 1 << 20);
    ASSERT_TRUE(nm::report::write_file(nm::test::sample_snapshot(), fifo_, "folded", &error)) << error;
    char buf[256];
    EXPECT_GT(::read(reader, buf, sizeof buf), 0);
    ::close(reader);
}

} // namespace
