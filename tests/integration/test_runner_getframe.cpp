// test_runner_getframe.cpp - ExpertGetFrame: numbering, each direction, flags, the ends, bad
// numbers, terminate and bad keys, over hand-written captures with known contents.
#include <gtest/gtest.h>

#include <dlfcn.h>

#include "support/runner_fixture.hpp"

namespace {

// Five Ethernet-sized frames with known times and lengths; frame 3 was cut to 20 of 90 bytes.
std::vector<nmt::PcapRecord> five_frames() {
    return {
        {1000, 500000, std::string(60, '\x00'), 60},
        {1000, 501500, std::string(61, '\x01'), 61},
        {1001, 500000, std::string(62, '\x02'), 62},
        {1001, 500001, std::string(20, '\x03'), 90},
        {1005, 0, std::string(64, '\x04'), 64},
    };
}

class GetFrame : public ::testing::Test {
protected:
    void SetUp() override {
        path_ = dir_.file("five.pcap");
        nmt::write_file(path_, nmt::pcap_bytes(five_frames()));
        key_ = NmOpenExpertKey("getframe");
        ASSERT_NE(key_, nullptr);
        char err[NM_RUNNER_TEXT_SZ];
        ASSERT_EQ(NmSetExpertCapture(key_, path_.c_str(), err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    }
    void TearDown() override {
        if (!key_) return;
        NmSetExpertCapture(key_, nullptr, nullptr, 0);
        NmCloseExpertKey(key_, NM_OUTCOME_DONE, nullptr);
    }
    DWORD get(DWORD direction, DWORD number, DWORD flags = 0, HFILTER filter = nullptr) {
        d_ = EXPERTFRAMEDESCRIPTOR{};
        d_.FrameNumber = 0xdeadbeef;
        return ExpertGetFrame(key_, direction, flags, number, filter, &d_);
    }

    nmt::TempDir dir_;
    std::string path_;
    HEXPERTKEY key_ = nullptr;
    EXPERTFRAMEDESCRIPTOR d_{};
};

TEST_F(GetFrame, SpecifiedFrameHasItsTimeLengthsAndBytes) {
    const int64_t want_us[] = {0, 1500, 1000000, 1000001, 4500000};
    const DWORD want_len[] = {60, 61, 62, 90, 64};
    const DWORD want_avail[] = {60, 61, 62, 20, 64};
    for (DWORD i = 0; i < 5; ++i) {
        ASSERT_EQ(get(GET_SPECIFIED_FRAME, i), DWORD(NMERR_SUCCESS));
        EXPECT_EQ(d_.FrameNumber, i);
        EXPECT_EQ(d_.lpRecognizeDataTable, nullptr);
        EXPECT_EQ(d_.lpPropertyTable, nullptr);
        EXPECT_EQ(d_.hFrame, static_cast<HFRAME>(d_.pFrame));
        DWORD link = 0;
        EXPECT_EQ(NmExpertGetLinkType(key_, &link), DWORD(NMERR_SUCCESS));
        EXPECT_EQ(link, 1u) << "LINKTYPE_ETHERNET";
        ASSERT_NE(d_.pFrame, nullptr);
        EXPECT_EQ(d_.pFrame->TimeStamp, want_us[i]) << "microseconds since the first frame";
        EXPECT_EQ(d_.pFrame->FrameLength, want_len[i]);
        EXPECT_EQ(d_.pFrame->nBytesAvail, want_avail[i]);
        EXPECT_EQ(d_.pFrame->MacFrame[0], BYTE(i));
        EXPECT_EQ(d_.pFrame->MacFrame[d_.pFrame->nBytesAvail - 1], BYTE(i));
        EXPECT_EQ(reinterpret_cast<uintptr_t>(d_.pFrame) % 8, 0u);
    }
}

TEST_F(GetFrame, ForwardWalksFromBeforeTheFirstToTheEnd) {
    DWORD pos = NM_FRAME_BEFORE_FIRST;
    for (DWORD want = 0; want < 5; ++want) {
        ASSERT_EQ(get(GET_FRAME_NEXT_FORWARD, pos), DWORD(NMERR_SUCCESS));
        EXPECT_EQ(d_.FrameNumber, want);
        pos = d_.FrameNumber;
    }
    EXPECT_EQ(get(GET_FRAME_NEXT_FORWARD, 4), DWORD(NMERR_NO_MORE_FRAMES));
    EXPECT_EQ(d_.FrameNumber, 0xdeadbeefu) << "the descriptor is untouched on failure";
    EXPECT_EQ(get(GET_FRAME_NEXT_FORWARD, 5), DWORD(NMERR_FRAME_NOT_FOUND));
    EXPECT_EQ(get(GET_FRAME_NEXT_FORWARD, 1000), DWORD(NMERR_FRAME_NOT_FOUND));
    ASSERT_EQ(get(GET_FRAME_NEXT_FORWARD, 2), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(d_.FrameNumber, 3u) << "the position is the number passed in, not a hidden cursor";
}

TEST_F(GetFrame, BackwardWalksFromTheCountToTheStart) {
    DWORD pos = 5; // the count: after the last frame
    for (int want = 4; want >= 0; --want) {
        ASSERT_EQ(get(GET_FRAME_NEXT_BACKWARD, pos), DWORD(NMERR_SUCCESS));
        EXPECT_EQ(d_.FrameNumber, DWORD(want));
        pos = d_.FrameNumber;
    }
    EXPECT_EQ(get(GET_FRAME_NEXT_BACKWARD, 0), DWORD(NMERR_NO_MORE_FRAMES));
    EXPECT_EQ(get(GET_FRAME_NEXT_BACKWARD, NM_FRAME_BEFORE_FIRST), DWORD(NMERR_NO_MORE_FRAMES));
    EXPECT_EQ(get(GET_FRAME_NEXT_BACKWARD, 6), DWORD(NMERR_FRAME_NOT_FOUND));
}

TEST_F(GetFrame, BadNumbersAreFrameNotFound) {
    EXPECT_EQ(get(GET_SPECIFIED_FRAME, 5), DWORD(NMERR_FRAME_NOT_FOUND));
    EXPECT_EQ(get(GET_SPECIFIED_FRAME, 0x7fffffff), DWORD(NMERR_FRAME_NOT_FOUND));
    EXPECT_EQ(get(GET_SPECIFIED_FRAME, NM_FRAME_BEFORE_FIRST), DWORD(NMERR_FRAME_NOT_FOUND));
}

TEST_F(GetFrame, FiltersFlagsAndArguments) {
    int filter = 0;
    EXPECT_EQ(get(GET_SPECIFIED_FRAME, 0, 0, &filter), DWORD(NMERR_INVALID_PARAMETER)) << "hFilter must be NULL";
    EXPECT_EQ(get(GET_SPECIFIED_FRAME, 0, FLAGS_ATTACH_PROPERTIES), DWORD(NMERR_NOT_SUPPORTED));
    EXPECT_EQ(get(GET_SPECIFIED_FRAME, 0, FLAGS_ATTACH_PROPERTIES | FLAGS_DEFER_TO_UI_FILTER), DWORD(NMERR_NOT_SUPPORTED));
    EXPECT_EQ(get(GET_SPECIFIED_FRAME, 0, 0x100), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_EQ(get(3, 0), DWORD(NMERR_INVALID_PARAMETER)) << "no such direction";
    EXPECT_EQ(ExpertGetFrame(key_, GET_SPECIFIED_FRAME, 0, 0, nullptr, nullptr), DWORD(NMERR_INVALID_PARAMETER));
    // No UI filter exists, so deferring to it passes every frame.
    ASSERT_EQ(get(GET_SPECIFIED_FRAME, 2, FLAGS_DEFER_TO_UI_FILTER), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(d_.FrameNumber, 2u);
}

TEST_F(GetFrame, TerminateWinsOverEverythingElse) {
    ASSERT_EQ(NmRequestExpertTerminate(key_), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(get(GET_SPECIFIED_FRAME, 0), DWORD(NMERR_EXPERT_TERMINATE));
    EXPECT_EQ(get(GET_FRAME_NEXT_FORWARD, NM_FRAME_BEFORE_FIRST), DWORD(NMERR_EXPERT_TERMINATE));
    EXPECT_EQ(get(GET_SPECIFIED_FRAME, 99), DWORD(NMERR_EXPERT_TERMINATE));
}

TEST_F(GetFrame, BadKeys) {
    EXPECT_EQ(ExpertGetFrame(nullptr, GET_SPECIFIED_FRAME, 0, 0, nullptr, &d_), DWORD(NMERR_INVALID_EXPERT_HANDLE));
    EXPECT_EQ(ExpertGetFrame(reinterpret_cast<HEXPERTKEY>(0x1234), GET_SPECIFIED_FRAME, 0, 0, nullptr, &d_),
              DWORD(NMERR_INVALID_EXPERT_HANDLE));
    HEXPERTKEY closed = NmOpenExpertKey("getframe-closed");
    ASSERT_EQ(NmSetExpertCapture(closed, path_.c_str(), nullptr, 0), DWORD(NMERR_SUCCESS));
    ASSERT_EQ(ExpertGetFrame(closed, GET_SPECIFIED_FRAME, 0, 0, nullptr, &d_), DWORD(NMERR_SUCCESS));
    NmCloseExpertKey(closed, NM_OUTCOME_DONE, nullptr); // without detaching first: still refused
    EXPECT_EQ(ExpertGetFrame(closed, GET_SPECIFIED_FRAME, 0, 0, nullptr, &d_), DWORD(NMERR_INVALID_EXPERT_HANDLE));
    EXPECT_EQ(NmSetExpertCapture(closed, path_.c_str(), nullptr, 0), DWORD(NMERR_INVALID_EXPERT_HANDLE));
}

TEST_F(GetFrame, KeyWithoutCaptureHasNoFrames) {
    HEXPERTKEY bare = NmOpenExpertKey("getframe-bare");
    EXPECT_EQ(ExpertGetFrame(bare, GET_SPECIFIED_FRAME, 0, 0, nullptr, &d_), DWORD(NMERR_FRAME_NOT_FOUND));
    EXPECT_EQ(ExpertGetFrame(bare, GET_FRAME_NEXT_FORWARD, 0, NM_FRAME_BEFORE_FIRST, nullptr, &d_),
              DWORD(NMERR_NO_MORE_FRAMES));
    // Detaching makes a key bare again.
    EXPECT_EQ(NmSetExpertCapture(key_, nullptr, nullptr, 0), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(get(GET_SPECIFIED_FRAME, 0), DWORD(NMERR_FRAME_NOT_FOUND));
    NmCloseExpertKey(bare, NM_OUTCOME_DONE, nullptr);
}

TEST_F(GetFrame, OneFileIsLoadedOnceAndSharedReadOnly) {
    HEXPERTKEY other = NmOpenExpertKey("getframe-other");
    ASSERT_EQ(NmSetExpertCapture(other, path_.c_str(), nullptr, 0), DWORD(NMERR_SUCCESS));
    EXPERTFRAMEDESCRIPTOR mine{}, theirs{};
    ASSERT_EQ(ExpertGetFrame(key_, GET_SPECIFIED_FRAME, 0, 4, nullptr, &mine), DWORD(NMERR_SUCCESS));
    ASSERT_EQ(ExpertGetFrame(other, GET_SPECIFIED_FRAME, 0, 4, nullptr, &theirs), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(mine.pFrame, theirs.pFrame);
    NmSetExpertCapture(other, nullptr, nullptr, 0);
    NmCloseExpertKey(other, NM_OUTCOME_DONE, nullptr);
}

TEST(GetFrameFiles, EmptyCaptureHasNoFrames) {
    nmt::TempDir dir;
    std::string path = dir.file("empty.pcap");
    nmt::write_file(path, nmt::pcap_bytes({}));
    HEXPERTKEY key = NmOpenExpertKey("getframe-empty");
    char err[NM_RUNNER_TEXT_SZ];
    ASSERT_EQ(NmSetExpertCapture(key, path.c_str(), err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    EXPERTFRAMEDESCRIPTOR d{};
    EXPECT_EQ(ExpertGetFrame(key, GET_FRAME_NEXT_FORWARD, 0, NM_FRAME_BEFORE_FIRST, nullptr, &d), DWORD(NMERR_NO_MORE_FRAMES));
    EXPECT_EQ(ExpertGetFrame(key, GET_FRAME_NEXT_BACKWARD, 0, 0, nullptr, &d), DWORD(NMERR_NO_MORE_FRAMES));
    EXPECT_EQ(ExpertGetFrame(key, GET_SPECIFIED_FRAME, 0, 0, nullptr, &d), DWORD(NMERR_FRAME_NOT_FOUND));
    NmSetExpertCapture(key, nullptr, nullptr, 0);
    NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr);
}

TEST(GetFrameFiles, NanosecondCapturesAreGivenInMicroseconds) {
    nmt::TempDir dir;
    std::string path = dir.file("nano.pcap");
    nmt::write_file(path, nmt::pcap_bytes({{50, 999999999, "abcdefghijklmn", 14}, {51, 2500, "abcdefghijklmn", 14}}, true));
    HEXPERTKEY key = NmOpenExpertKey("getframe-nano");
    char err[NM_RUNNER_TEXT_SZ];
    ASSERT_EQ(NmSetExpertCapture(key, path.c_str(), err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    EXPERTFRAMEDESCRIPTOR d{};
    ASSERT_EQ(ExpertGetFrame(key, GET_SPECIFIED_FRAME, 0, 1, nullptr, &d), DWORD(NMERR_SUCCESS));
    // 50.999999999 -> 50.999999 s and 51.0000025 -> 51.000002 s: 3 us apart.
    EXPECT_EQ(d.pFrame->TimeStamp, 3);
    NmSetExpertCapture(key, nullptr, nullptr, 0);
    NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr);
}

TEST(GetFrameRunner, ExpertReadsTheWholeSampleCaptureBothWays) {
    nmt::RunSpec spec;
    spec.behaviour = "frames";
    spec.key_name = "getframe-runner";
    spec.capture = NMT_SAMPLE_CAPTURE;
    NMRUNRESULT r = nmt::run_expert(spec);
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_DONE)) << r.szDetail;
    // The sample capture's frame count, as the probe counted it (exported global).
    void *probe = dlopen(NMT_PROBE_EXPERT, RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(probe, nullptr);
    auto *seen = static_cast<DWORD *>(dlsym(probe, "probe_last_frames_seen"));
    ASSERT_NE(seen, nullptr);
    EXPECT_EQ(*seen, 3067u);
    EXPECT_EQ(r.FramesRead, 3067u) << "distinct frames handed to the run";
    dlclose(probe);
}

TEST(GetFrameRunner, StartupInfoNamesTheCapture) {
    nmt::RunSpec spec;
    spec.behaviour = std::string("capture_name:") + NMT_SAMPLE_CAPTURE;
    spec.key_name = "getframe-startup";
    spec.capture = NMT_SAMPLE_CAPTURE;
    NMRUNRESULT r = nmt::run_expert(spec);
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_DONE)) << "szCaptureFile holds the path: " << r.szDetail;
}

} // namespace
