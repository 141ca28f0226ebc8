// test_runner_expert_api.cpp - the documented entry points and expert calls through the runner:
// what Register sets and the host fills in, Configure's configuration kept across runs (made,
// grown, refused), the startup information (ExpertGetStartupInfo), the link type extension.
#include <dlfcn.h>
#include <sys/wait.h>

#include <fstream>
#include <iterator>

#include <cstring>
#include <string>
#include <vector>

#include "support/runner_fixture.hpp"

namespace {

// The reference-pages expert's configuration (tests/support/refdoc_expert.c).
struct RefdocConfig {
    DWORD RawConfigLength, LongFrameBytes, TimesConfigured, MaxEvents;
};

struct Loaded {
    NMEXPERT *expert = nullptr;
    explicit Loaded(const char *path) {
        char err[NM_RUNNER_TEXT_SZ] = "";
        EXPECT_EQ(NmLoadExpert(path, &expert, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    }
    ~Loaded() { NmFreeExpert(expert); }
};

RefdocConfig kept_config(NMEXPERT *e) {
    RefdocConfig c{};
    EXPECT_EQ(NmGetExpertConfig(e, reinterpret_cast<PEXPERTCONFIG>(&c), sizeof c), sizeof c);
    return c;
}

NMRUNRESULT run_and_wait(NMEXPERT *e, const NMRUNOPTIONS &opts) {
    NMRUN *run = nullptr;
    char err[NM_RUNNER_TEXT_SZ] = "";
    NMRUNRESULT r{};
    EXPECT_EQ(NmStartExpert(e, &opts, &run, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    if (!run) return r;
    NmWaitExpert(run, NM_WAIT_INFINITE, &r);
    NmFreeRun(run);
    return r;
}

} // namespace

TEST(ExpertApi, HostFillsThePrivateMembersAfterRegister) {
    Loaded l(NMT_REFDOC_C_EXPERT);
    ASSERT_NE(l.expert, nullptr);
    const EXPERTENUMINFO *info = NmExpertInfo(l.expert);
    EXPECT_STREQ(info->szName, "refdoc-c");
    EXPECT_STREQ(info->szVendor, "written from the reference pages");
    EXPECT_EQ(info->Version, 0u);
    EXPECT_EQ(info->Flags, DWORD(EXPERT_ENUM_FLAG_CONFIGURABLE));
    EXPECT_STREQ(info->szDllName, NMT_REFDOC_C_EXPERT);
    ASSERT_NE(info->hModule, nullptr);
    EXPECT_NE(info->hExpert, nullptr);
    EXPECT_EQ(reinterpret_cast<void *>(info->pRegisterProc), dlsym(info->hModule, "Register"));
    EXPECT_EQ(reinterpret_cast<void *>(info->pConfigProc), dlsym(info->hModule, "Configure"));
    EXPECT_EQ(reinterpret_cast<void *>(info->pRunProc), dlsym(info->hModule, "Run"));

    Loaded probe(NMT_PROBE_EXPERT); // exports Configure without setting the flag: allowed
    ASSERT_NE(probe.expert, nullptr);
    EXPECT_NE(NmExpertInfo(probe.expert)->pConfigProc, nullptr);
}

TEST(ExpertApi, RegisterMustLeaveVersionZero) {
    NMEXPERT *e = nullptr;
    char err[NM_RUNNER_TEXT_SZ] = "";
    EXPECT_EQ(NmLoadExpert(NMT_VERSION_EXPERT, &e, err, sizeof err), DWORD(NMERR_LOAD_EXPERT_FAILED));
    EXPECT_EQ(e, nullptr);
    EXPECT_EQ(std::string(err),
              std::string("expert '") + NMT_VERSION_EXPERT + "': Register set EXPERTENUMINFO.Version to 2; it must be 0");
}

TEST(ExpertApi, ConfigurableFlagNeedsConfigure) {
    NMEXPERT *e = nullptr;
    char err[NM_RUNNER_TEXT_SZ] = "";
    EXPECT_EQ(NmLoadExpert(NMT_CONFIGURABLE_EXPERT, &e, err, sizeof err), DWORD(NMERR_LOAD_EXPERT_FAILED));
    EXPECT_NE(std::string(err).find("EXPERT_ENUM_FLAG_CONFIGURABLE but the expert exports no 'Configure'"),
              std::string::npos)
        << err;
}

TEST(ExpertApi, ConfigureOnceThenRunSeveralTimesWithOtherKeys) {
    Loaded l(NMT_REFDOC_CXX_EXPERT);
    ASSERT_NE(l.expert, nullptr);
    EXPECT_EQ(NmGetExpertConfig(l.expert, nullptr, 0), 0u) << "nothing kept before Configure";
    NMRUNOPTIONS opts{};
    opts.szCaptureFile = NMT_SAMPLE_CAPTURE;
    char err[NM_RUNNER_TEXT_SZ] = "";
    ASSERT_EQ(NmConfigureExpert(l.expert, &opts, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    RefdocConfig c = kept_config(l.expert);
    EXPECT_EQ(c.RawConfigLength, sizeof(RefdocConfig));
    EXPECT_EQ(c.LongFrameBytes, 100u);
    EXPECT_EQ(c.TimesConfigured, 1u);
    EXPECT_EQ(c.MaxEvents, 8u);

    // Configure ran on a key of its own, closed at once: the configuration outlived it, and
    // nothing else it allocated was left behind.
    nm::model::Snapshot snap = nm::capture_snapshot(false);
    const nm::model::Expert *conf = nmt::find_expert(snap, "refdoc-cxx (configure)");
    ASSERT_NE(conf, nullptr);
    EXPECT_EQ(conf->state, nm::model::ExpertState::Closed);
    EXPECT_EQ(conf->outcome, nm::model::Outcome::Done);
    EXPECT_EQ(conf->allocs, 1u);
    EXPECT_EQ(conf->frees, 1u) << "the host freed the block after taking the configuration over";
    ASSERT_EQ(conf->cleanups.size(), 1u);
    EXPECT_EQ(conf->cleanups[0].blocks, 0u);

    // Three runs at once, each with its own key, all handed the kept configuration.
    std::vector<NMRUN *> runs(3);
    std::vector<std::string> names = {"refdoc-run-a", "refdoc-run-b", "refdoc-run-c"};
    for (size_t i = 0; i < runs.size(); ++i) {
        NMRUNOPTIONS o = opts;
        o.szKeyName = names[i].c_str();
        ASSERT_EQ(NmStartExpert(l.expert, &o, &runs[i], err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    }
    for (NMRUN *r : runs) {
        NMRUNRESULT res{};
        NmWaitExpert(r, NM_WAIT_INFINITE, &res);
        EXPECT_EQ(res.Outcome, DWORD(NM_OUTCOME_DONE)) << res.szDetail;
        EXPECT_STREQ(res.szDetail, "Run returned TRUE");
        NmFreeRun(r);
    }
    snap = nm::capture_snapshot(false);
    for (const std::string &n : names) {
        const nm::model::Expert *rec = nmt::find_expert(snap, n);
        ASSERT_NE(rec, nullptr) << n;
        EXPECT_NE(rec->id, conf->id) << "Run's key differs from Configure's";
        EXPECT_EQ(rec->misuse_count, 0u) << "Run only read the configuration";
    }

    // Configuring again hands Configure (a copy of) what was kept.
    ASSERT_EQ(NmConfigureExpert(l.expert, &opts, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    EXPECT_EQ(kept_config(l.expert).TimesConfigured, 2u);
}

TEST(ExpertApi, ConfigureGrowsAnOlderConfigurationWithRealloc) {
    Loaded l(NMT_REFDOC_C_EXPERT);
    ASSERT_NE(l.expert, nullptr);
    DWORD old_version[2] = {2 * sizeof(DWORD), 50}; // RawConfigLength, LongFrameBytes
    ASSERT_EQ(NmSetExpertConfig(l.expert, reinterpret_cast<const EXPERTCONFIG *>(old_version)), DWORD(NMERR_SUCCESS));
    char err[NM_RUNNER_TEXT_SZ] = "";
    NMRUNOPTIONS opts{};
    opts.szKeyName = "refdoc-grow";
    ASSERT_EQ(NmConfigureExpert(l.expert, &opts, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    RefdocConfig c = kept_config(l.expert);
    EXPECT_EQ(c.RawConfigLength, sizeof(RefdocConfig));
    EXPECT_EQ(c.LongFrameBytes, 50u) << "grown, not remade";
    EXPECT_EQ(c.TimesConfigured, 1u);
    nm::model::Snapshot snap = nm::capture_snapshot(false);
    const nm::model::Expert *rec = nmt::find_expert(snap, "refdoc-grow");
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(rec->reallocs, 1u);
    EXPECT_EQ(rec->misuse_count, 0u);
    ASSERT_EQ(rec->cleanups.size(), 1u);
    EXPECT_EQ(rec->cleanups[0].blocks, 0u);
}

TEST(ExpertApi, BadConfigurationsAreRefusedAndTheKeptOneStays) {
    Loaded l(NMT_PROBE_EXPERT);
    ASSERT_NE(l.expert, nullptr);
    DWORD too_short[1] = {2};
    EXPECT_EQ(NmSetExpertConfig(l.expert, reinterpret_cast<const EXPERTCONFIG *>(too_short)),
              DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_EQ(NmGetExpertConfig(l.expert, nullptr, 0), 0u);

    nmt::ProbeConfig bad("bad_length");
    ASSERT_EQ(NmSetExpertConfig(l.expert, bad.get()), DWORD(NMERR_SUCCESS));
    char err[NM_RUNNER_TEXT_SZ] = "";
    EXPECT_EQ(NmConfigureExpert(l.expert, nullptr, err, sizeof err), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_NE(std::string(err).find("RawConfigLength 1048576 in a block of"), std::string::npos) << err;
    std::vector<unsigned char> buf(64);
    size_t n = NmGetExpertConfig(l.expert, reinterpret_cast<PEXPERTCONFIG>(buf.data()), buf.size());
    ASSERT_EQ(n, sizeof(DWORD) + sizeof "bad_length");
    EXPECT_STREQ(reinterpret_cast<const char *>(buf.data() + 4), "bad_length") << "unchanged";

    nmt::ProbeConfig refuse("refuse");
    ASSERT_EQ(NmSetExpertConfig(l.expert, refuse.get()), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(NmConfigureExpert(l.expert, nullptr, err, sizeof err), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_STREQ(err, "Configure returned FALSE");
    nm::model::Snapshot snap = nm::capture_snapshot(false);
    const nm::model::Expert *rec = nmt::find_expert(snap, "probe (configure)");
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(rec->misuse_count, 0u);
    ASSERT_EQ(rec->cleanups.size(), 1u);
    EXPECT_EQ(rec->cleanups[0].blocks, 0u) << "the host gave its copy back";

    Loaded noconf(NMT_SAMPLE_EXPERT_DIR "/proto_dist.so"); // exports no Configure
    ASSERT_NE(noconf.expert, nullptr);
    EXPECT_EQ(NmConfigureExpert(noconf.expert, nullptr, err, sizeof err), DWORD(NMERR_NOT_SUPPORTED));
}

TEST(ExpertApi, StartupInfoOfAHostRunKey) {
    HEXPERTKEY key = NmOpenExpertKey("startup-host");
    ASSERT_NE(key, nullptr);
    EXPERTSTARTUPINFO info;
    std::memset(&info, 0x5a, sizeof info);
    ASSERT_EQ(ExpertGetStartupInfo(key, &info), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(info.szCaptureFile[0], '\0');
    EXPECT_EQ(info.hCapture, nullptr);
    EXPECT_EQ(info.dwFrameNumber, INVALID_FRAME_NUMBER);
    EXPECT_EQ(ExpertGetStartupInfo(key, nullptr), DWORD(NMERR_INVALID_PARAMETER));
    DWORD link = 7;
    EXPECT_EQ(NmExpertGetLinkType(key, &link), DWORD(NMERR_FRAME_NOT_FOUND));
    EXPECT_EQ(link, 7u);

    char err[NM_RUNNER_TEXT_SZ] = "";
    ASSERT_EQ(NmSetExpertCapture(key, NMT_SAMPLE_CAPTURE, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    ASSERT_EQ(ExpertGetStartupInfo(key, &info), DWORD(NMERR_SUCCESS));
    EXPECT_STREQ(info.szCaptureFile, NMT_SAMPLE_CAPTURE);
    EXPECT_NE(info.hCapture, nullptr);
    EXPECT_EQ(NmExpertGetLinkType(key, &link), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(link, 1u) << "LINKTYPE_ETHERNET";
    EXPECT_EQ(NmExpertGetLinkType(key, nullptr), DWORD(NMERR_INVALID_PARAMETER));

    EXPERTSTARTUPINFO mine{};
    mine.Flags = EXPERT_STARTUP_FLAG_USE_STARTUP_DATA_OVER_CONFIG_DATA;
    mine.dwFrameNumber = 4;
    std::strcpy(mine.szCaptureFile, "/captures/elsewhere.cap");
    ASSERT_EQ(NmSetExpertStartupInfo(key, &mine), DWORD(NMERR_SUCCESS));
    ASSERT_EQ(ExpertGetStartupInfo(key, &info), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(info.Flags, mine.Flags);
    EXPECT_EQ(info.dwFrameNumber, 4u);
    EXPECT_STREQ(info.szCaptureFile, "/captures/elsewhere.cap");

    ASSERT_EQ(NmRequestExpertTerminate(key), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(ExpertGetStartupInfo(key, &info), DWORD(NMERR_EXPERT_TERMINATE));
    EXPECT_EQ(NmExpertGetLinkType(key, &link), DWORD(NMERR_EXPERT_TERMINATE));
    NmSetExpertStartupInfo(key, nullptr);
    NmSetExpertCapture(key, nullptr, nullptr, 0);
    ASSERT_EQ(NmCloseExpertKey(key, NM_OUTCOME_TERMINATED, nullptr), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(ExpertGetStartupInfo(key, &info), DWORD(NMERR_INVALID_EXPERT_HANDLE));
    EXPECT_EQ(NmSetExpertStartupInfo(key, &mine), DWORD(NMERR_INVALID_EXPERT_HANDLE));
    EXPECT_EQ(ExpertGetStartupInfo(reinterpret_cast<HEXPERTKEY>(0x1234), &info), DWORD(NMERR_INVALID_EXPERT_HANDLE));
}

namespace {

const nm::model::Event *find_event(const nm::model::Expert &e, const std::string &name) {
    for (const auto &ev : e.events)
        if (ev.name == name) return &ev;
    return nullptr;
}

std::string column(const nm::model::Event &ev, const std::string &name) {
    for (const auto &c : ev.columns)
        if (c.name == name) return c.value;
    return "<no column " + name + ">";
}

} // namespace

TEST(ExpertApi, StartupDataOverConfigDataStartsAtTheFrameWithFocus) {
    Loaded l(NMT_REFDOC_C_EXPERT);
    ASSERT_NE(l.expert, nullptr);
    NMRUNOPTIONS opts{};
    opts.szCaptureFile = NMT_SAMPLE_CAPTURE;
    opts.StartupFlags = EXPERT_STARTUP_FLAG_USE_STARTUP_DATA_OVER_CONFIG_DATA;
    opts.FrameNumber = 3000;
    opts.szKeyName = "refdoc-startup";
    NMRUNRESULT r = run_and_wait(l.expert, opts);
    ASSERT_EQ(r.Outcome, DWORD(NM_OUTCOME_DONE)) << r.szDetail;
    EXPECT_EQ(r.FramesRead, 67u) << "frames 3000..3066 of the sample capture";
    nm::model::Snapshot snap = nm::capture_snapshot(false);
    const nm::model::Expert *rec = nmt::find_expert(snap, "refdoc-startup");
    ASSERT_NE(rec, nullptr);
    const nm::model::Event *sum = find_event(*rec, "Capture summary");
    ASSERT_NE(sum, nullptr);
    EXPECT_EQ(column(*sum, "Frames"), "67");
    EXPECT_EQ(column(*sum, "From startup data"), "On");
    EXPECT_EQ(column(*sum, "Startup info matches"), "Yes") << "ExpertGetStartupInfo gave what Run was handed";
    EXPECT_EQ(column(*sum, "Capture"), NMT_SAMPLE_CAPTURE);
}

TEST(ExpertApi, ReferencePagesExpertInTheDemoAsCAndCxx) {
    nmt::TempDir dir;
    std::string cmd = std::string(NMT_DEMO) + " --expert " + NMT_REFDOC_C_EXPERT + " --expert " + NMT_REFDOC_CXX_EXPERT +
                      " --capture " + NMT_SAMPLE_CAPTURE + " --report-dir " + dir.path() + " 2>&1";
    FILE *p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = pclose(p);
    ASSERT_TRUE(WIFEXITED(status)) << out;
    ASSERT_EQ(WEXITSTATUS(status), 0) << out;
    // The table's row of each: outcome done, and every frame of the sample capture read.
    for (const std::string name : {"refdoc-c ", "refdoc-cxx "}) {
        size_t at = out.find("\n" + name);
        ASSERT_NE(at, std::string::npos) << out;
        std::string row = out.substr(at + 1, out.find('\n', at + 1) - at - 1);
        EXPECT_NE(row.find(" done "), std::string::npos) << row;
        EXPECT_NE(row.find(" 3067 "), std::string::npos) << row;
    }
    EXPECT_NE(out.find("events: 9 (8 warnings or worse)"), std::string::npos) << out;

    auto slurp = [&](const char *file) {
        std::ifstream in(dir.file(file), std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    const std::string text = slurp("nmleak-report.txt");
    for (const char *want : {"warning at +", "[refdoc-c] Long frame (id 1): frame ", "[refdoc-cxx] Capture summary (id 2)",
                             "    Startup info matches: Yes", "    Frames: 3067", "    MACADDR: 00:1b:21:3c:4d:5e",
                             "    IPADDR: 192.168.7.1", "    VARTIME: 2000-01-01 12:00:00.000",
                             "    time: 1999-12-31 23:59:58 UTC",
                             "    justification: Every frame of the capture was read once, in order.",
                             "allocated by expert refdoc-c"})
        EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;

    const std::string json = slurp("nmleak-report.json");
    for (const char *want : {"\"events\"", "\"Long frame\"", "\"Capture summary\"", "\"events_dropped\""})
        EXPECT_NE(json.find(want), std::string::npos) << want;

    const std::string sarif = slurp("nmleak-report.sarif");
    size_t event_results = 0, notes = 0;
    for (size_t at = 0; (at = sarif.find("\"ruleId\": \"NMLEAK2001\"", at)) != std::string::npos; ++at) ++event_results;
    for (size_t at = 0; (at = sarif.find("\"level\": \"note\"", at)) != std::string::npos; ++at) ++notes;
    EXPECT_EQ(event_results, 18u) << "a result per event: 9 from each expert";
    EXPECT_EQ(notes, 2u) << "the two informational summaries";
    EXPECT_NE(sarif.find("\"ruleId\": \"NMLEAK1001\""), std::string::npos) << "and the leaks";

    const std::string folded = slurp("nmleak-report.folded");
    EXPECT_NE(folded.find("refdoc-c;"), std::string::npos) << folded;
    EXPECT_NE(folded.find("refdoc-cxx;"), std::string::npos) << folded;
    const std::string html = slurp("nmleak-report.html");
    EXPECT_NE(html.find("refdoc-c"), std::string::npos);
    EXPECT_NE(html.find("<h2 id=\"events\">Events</h2>"), std::string::npos);
    EXPECT_NE(html.find("Capture summary"), std::string::npos);
    EXPECT_GT(slurp("nmleak-report.pb.gz").size(), 100u);
}
