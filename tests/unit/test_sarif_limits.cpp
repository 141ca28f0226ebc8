// test_sarif_limits.cpp - SARIF respects code-scanning upload limits and keeps stable fingerprints.
#include <nmleak/report.hpp>

#include "unit/report_sample.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace {

using nm::report::Format;
using nlohmann::json;

// One open key holding one block on each of `stacks` stacks of one frame; block i has i+1 bytes,
// so the biggest results are the last stacks. Stack `deep_frames` > 0 adds a stack that deep.
nm::model::Snapshot many_stacks(size_t stacks, size_t deep_frames = 0) {
    using namespace nm::model;
    Snapshot s;
    s.process.pid = 1;
    s.modules.push_back({"/opt/x/libexpert.so", 0x7f0000000000, 0x1000000, "00ff"});
    s.stacks.push_back({});
    nm::model::Expert e;
    e.id = 1;
    e.name = "many";
    for (size_t i = 0; i < stacks; ++i) {
        const uint64_t off = 0x1000 + i * 16;
        s.frames.push_back({0x7f0000000000 + off, "site_" + std::to_string(i), "/src/x.c",
                            static_cast<uint32_t>(i + 1), s.modules[0].path, off});
        s.stacks.push_back({{static_cast<uint32_t>(i)}});
        e.blocks.push_back({0x1000 + i * 64, i + 1, static_cast<uint32_t>(i + 1), 0});
    }
    if (deep_frames) {
        Stack deep;
        for (size_t d = 0; d < deep_frames; ++d) {
            const uint64_t off = 0x800000 + d * 16;
            s.frames.push_back({0x7f0000000000 + off, "deep_" + std::to_string(d), "/src/deep.c",
                                static_cast<uint32_t>(d + 1), s.modules[0].path, off});
            deep.frames.push_back(static_cast<uint32_t>(s.frames.size() - 1));
        }
        s.stacks.push_back(deep);
        e.blocks.push_back({0x9000000, 1u << 30, static_cast<uint32_t>(s.stacks.size() - 1), 0});
    }
    s.experts.push_back(std::move(e));
    return s;
}

json sarif(const nm::model::Snapshot &s, const nm::report::Options &o = {}) {
    std::ostringstream out;
    std::string error;
    EXPECT_TRUE(nm::report::write(out, s, Format::Sarif, o, &error)) << error;
    return json::parse(out.str());
}

const json *notice(const json &run, const std::string &id) {
    const json &inv = run["invocations"][0];
    if (!inv.contains("toolExecutionNotifications")) return nullptr;
    for (const json &n : inv["toolExecutionNotifications"])
        if (n["descriptor"]["id"] == id) return &n;
    return nullptr;
}

TEST(SarifLimits, ResultsAreCappedWithANotice) {
    const auto snap = many_stacks(6000);
    const json doc = sarif(snap);
    const json &run = doc["runs"][0];
    ASSERT_EQ(run["results"].size(), nm::report::kSarifDefaultResults);
    // The biggest are kept: 6000 bytes first, the smallest kept is 1001.
    EXPECT_EQ(run["results"][0]["properties"]["bytes"], 6000);
    EXPECT_EQ(run["results"][4999]["properties"]["bytes"], 1001);
    const json *n = notice(run, "NMLEAK9001");
    ASSERT_NE(n, nullptr) << run["invocations"].dump(2);
    EXPECT_EQ((*n)["level"], "warning");
    EXPECT_EQ((*n)["properties"]["resultsOmitted"], 1000);
    EXPECT_EQ((*n)["properties"]["bytesOmitted"], 1000 * 1001 / 2); // 1 + ... + 1000
    EXPECT_NE((*n)["message"]["text"].get<std::string>().find("Only the 5000 biggest of 6000"), std::string::npos);
    // The run's totals still count everything.
    EXPECT_EQ(run["properties"]["outstanding"]["stacks"], 6000);

    // Under the cap: no notice at all.
    const json small = sarif(many_stacks(10));
    EXPECT_EQ(small["runs"][0]["results"].size(), 10u);
    EXPECT_FALSE(small["runs"][0]["invocations"][0].contains("toolExecutionNotifications"));
}

TEST(SarifLimits, NoMoreThanTheHardLimitWhateverIsAsked) {
    nm::report::Options o;
    o.sarif_max_results = 1000000;
    // Counted in the text rather than parsed: 25,000 results are slow to parse under sanitizers.
    std::ostringstream out;
    std::string error;
    ASSERT_TRUE(nm::report::write(out, many_stacks(nm::report::kSarifResultsLimit + 7), Format::Sarif, o, &error));
    const std::string text = out.str();
    size_t results = 0;
    for (size_t at = text.find("\"ruleId\""); at != std::string::npos; at = text.find("\"ruleId\"", at + 1)) ++results;
    EXPECT_EQ(results, nm::report::kSarifResultsLimit);
    EXPECT_NE(text.find("Only the 25000 biggest of 25007 leaking stacks"), std::string::npos);
    o.sarif_max_results = 3;
    EXPECT_EQ(sarif(many_stacks(10), o)["runs"][0]["results"].size(), 3u);
}

TEST(SarifLimits, DeepStacksAreBoundedPerResult) {
    const json doc = sarif(many_stacks(2, 1500));
    const json &run = doc["runs"][0];
    const json &deep = run["results"][0]; // the 1 GiB block
    ASSERT_EQ(deep["properties"]["bytes"], 1u << 30);
    const json &steps = deep["codeFlows"][0]["threadFlows"][0]["locations"];
    EXPECT_EQ(steps.size(), 1000u);
    EXPECT_EQ(deep["properties"]["framesOmitted"], 500);
    EXPECT_LE(deep["locations"].size(), 1u);
    // The innermost frame is kept: it is where the memory was allocated.
    EXPECT_EQ(steps.back()["location"]["logicalLocations"][0]["name"], "deep_0");
    EXPECT_EQ(steps.front()["nestingLevel"], 0);
    EXPECT_EQ(steps.back()["nestingLevel"], 999);
    ASSERT_NE(notice(run, "NMLEAK9002"), nullptr);
    EXPECT_FALSE(run["results"][1]["properties"].contains("framesOmitted"));
}

TEST(SarifLimits, FingerprintsAreStableAcrossCapsAndRuns) {
    const auto snap = many_stacks(40);
    nm::report::Options capped;
    capped.sarif_max_results = 10;
    const json all = sarif(snap), few = sarif(snap, capped);
    std::map<int, std::string> by_bytes;
    for (const json &r : all["runs"][0]["results"])
        by_bytes[r["properties"]["bytes"].get<int>()] = r["partialFingerprints"]["nmleakStack/v1"];
    std::set<std::string> distinct;
    for (const auto &[bytes, fp] : by_bytes) distinct.insert(fp);
    EXPECT_EQ(distinct.size(), 40u);
    for (const json &r : few["runs"][0]["results"])
        EXPECT_EQ(r["partialFingerprints"]["nmleakStack/v1"], by_bytes[r["properties"]["bytes"].get<int>()]);

    // Another run of the same build: other load addresses (ASLR), other stack and frame ids.
    auto moved = snap;
    for (auto &f : moved.frames) f.address += 0x100000;
    for (auto &m : moved.modules) m.base += 0x100000;
    std::reverse(moved.experts[0].blocks.begin(), moved.experts[0].blocks.end());
    const json again = sarif(moved);
    for (const json &r : again["runs"][0]["results"])
        EXPECT_EQ(r["partialFingerprints"]["nmleakStack/v1"], by_bytes[r["properties"]["bytes"].get<int>()]);
}

} // namespace
