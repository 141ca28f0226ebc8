// report_sample.hpp - a hand-built, deterministic Snapshot that exercises every report feature.
//
// Used by the golden-file tests, the snapshot codec tests, the CLI tests, the fuzz seed and the
// benchmark. Changing it changes the goldens: regenerate them with NMLEAK_UPDATE_GOLDEN=1.
#pragma once

#include <nmleak/model.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace nm::test {

inline model::Snapshot sample_snapshot() {
    using namespace nm::model;
    Snapshot s;
    s.process.pid = 4242;
    s.process.command = "/opt/analyzer/bin/analyzer --capture /data/demo.pcap";
    s.process.executable = "/opt/analyzer/bin/analyzer";
    s.process.hostname = "build-host";
    s.process.start_unix_ms = 1714557600000; // 2024-05-01 10:00:00 UTC
    s.process.snapshot_ms = 1500;
    s.process.stack_depth = 16;

    const std::string exe = "/opt/analyzer/bin/analyzer";
    const std::string http = "/opt/analyzer/experts/libhttp_expert.so";
    const std::string dns = "/opt/analyzer/experts/libdns_expert.so";
    const std::string ssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
    const std::string libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
    s.modules = {
        {exe, 0x555555554000, 0x20000, "0011223344556677"},
        {http, 0x7f0000100000, 0x10000, "aabbccddeeff0011"},
        {dns, 0x7f0000200000, 0x10000, ""},
        {ssl, 0x7f0000300000, 0x80000, "5566778899aabbcc"},
        {libc, 0x7f0000400000, 0x1c0000, "deadbeefcafef00d"},
    };

    // Frames with every level of symbolization: full, function only, module only, nothing.
    s.frames = {
        /*0*/ {0x7f0000101234, "http::Parser::parse(unsigned char const*, unsigned long)",
               "/src/experts/http/parser.cpp", 42, http, 0x1234},
        /*1*/ {0x7f0000102000, "http_run", "/src/experts/http/run.c", 17, http, 0x2000},
        /*2*/ {0x555555556100, "run_expert_thread", "/src/analyzer/runner.c", 88, exe, 0x2100},
        /*3*/ {0x7f0000429d90, "start_thread", "", 0, libc, 0x29d90},
        /*4*/ {0x7f0000201111, "dns_cache_insert", "/src/experts/dns/cache c.c", 120, dns, 0x1111},
        /*5*/ {0x7f0000202222, "", "", 0, dns, 0x2222},
        /*6*/ {0x7f0000301000, "SSL_new", "", 0, ssl, 0x1000},
        /*7*/ {0x00000000dead, "", "", 0, "", 0},
        /*8*/ {0x7f0000103000, "http::Headers::add", "/src/experts/http/headers.cpp", 0, http, 0x3000},
        /*9*/ {0x555555556200, "crash_site", "/src/analyzer/crashy.c", 9, exe, 0x2200},
    };
    s.stacks = {
        /*0*/ {{}},
        /*1*/ {{0, 1, 2, 3}},
        /*2*/ {{8, 1, 2, 3}},
        /*3*/ {{4, 5, 2, 3}},
        /*4*/ {{5, 2}},
        /*5*/ {{9, 2, 3}},
        /*6*/ {{6, 1, 2}},
        /*7*/ {{7}},
    };

    auto closed = [](uint64_t id, std::string name, Outcome outcome) {
        Expert e;
        e.id = id;
        e.name = std::move(name);
        e.state = ExpertState::Closed;
        e.outcome = outcome;
        e.opened_ms = 100 * id;
        e.closed_ms = 100 * id + 50;
        return e;
    };

    Expert http_done = closed(1, "http", Outcome::Done);
    http_done.peak_bytes = 8192;
    http_done.allocs = 12;
    http_done.reallocs = 2;
    http_done.frees = 9;
    http_done.misuse_count = 2;
    http_done.status = {3, 0, "done parsing", 99};
    http_done.misuse.push_back({120, MisuseKind::DoubleFree, "ExpertFreeMemory", 0x7f00dead0010, 2, ""});
    http_done.cleanups.push_back({150, Outcome::Done, 3, 4196, {{1, 2, 4096}, {2, 1, 100}}, 0, 0, {}, 0, 0, {}, {}});
    s.experts.push_back(http_done);

    Expert dns_open;
    dns_open.id = 2;
    dns_open.name = "dns";
    dns_open.state = ExpertState::Running;
    dns_open.opened_ms = 200;
    dns_open.status = {2, 1, "resolving", 40};
    dns_open.live_blocks = 4;
    dns_open.live_bytes = 288;
    dns_open.peak_bytes = 1024;
    dns_open.allocs = 20;
    dns_open.frees = 16;
    dns_open.misuse_count = 1;
    dns_open.blocks = {{0x7f00aa000010, 64, 3, 210}, {0x7f00aa000060, 64, 3, 220},
                       {0x7f00aa0000b0, 128, 3, 230}, {0x7f00aa000140, 32, 4, 240}};
    dns_open.misuse.push_back(
        {260, MisuseKind::ForeignKey, "ExpertReallocMemory", 0x7f00bb000010, 4, "http"});
    s.experts.push_back(dns_open);

    Expert crashy = closed(3, "crashy", Outcome::Crashed);
    crashy.peak_bytes = 4096;
    crashy.allocs = 5;
    crashy.frees = 2;
    crashy.outcome_detail = "SIGSEGV at 0x10";
    crashy.crash_signal = 11;
    crashy.crash_address = 0x10;
    crashy.crash_stack = 5;
    crashy.cleanups.push_back({350, Outcome::Crashed, 3, 3072, {{5, 2, 2048}, {7, 1, 1024}}, 0, 0, {}, 0, 0, {}, {}});
    s.experts.push_back(crashy);

    Expert tls = closed(4, "tls-wrapper", Outcome::Done);
    tls.peak_bytes = 256;
    tls.allocs = 1;
    tls.cleanups.push_back({450, Outcome::Done, 1, 256, {{6, 1, 256}}, 0, 0, {}, 0, 0, {}, {}});
    s.experts.push_back(tls);

    Expert http_open;
    http_open.id = 5;
    http_open.name = "http";
    http_open.state = ExpertState::TerminateRequested;
    http_open.opened_ms = 500;
    http_open.live_blocks = 1;
    http_open.live_bytes = 2048;
    http_open.peak_bytes = 2048;
    http_open.allocs = 1;
    http_open.blocks = {{0x7f00cc000010, 2048, 1, 510}};
    s.experts.push_back(http_open);

    Expert quiet = closed(6, "quiet", Outcome::Done);
    quiet.allocs = 3;
    quiet.frees = 3;
    quiet.peak_bytes = 300;
    quiet.cleanups.push_back({650, Outcome::Done, 0, 0, {}, 0, 0, {}, 0, 0, {}, {}});
    s.experts.push_back(quiet);

    // Tracked in sizes-only mode: the close knows totals but no stacks.
    Expert sizes_only = closed(7, "sizes-only", Outcome::Done);
    sizes_only.allocs = 5;
    sizes_only.peak_bytes = 500;
    sizes_only.cleanups.push_back({750, Outcome::Done, 5, 500, {}, 0, 0, {}, 0, 0, {}, {}});
    s.experts.push_back(sizes_only);

    Expert timeout = closed(8, "slowpoke", Outcome::Timeout);
    timeout.outcome_detail = "deadline of 5 s passed";
    timeout.allocs = 1;
    timeout.peak_bytes = 64;
    timeout.cleanups.push_back({850, Outcome::Timeout, 1, 64, {{4, 1, 64}}, 0, 0, {}, 0, 0, {}, {}});
    s.experts.push_back(timeout);
    return s;
}

} // namespace nm::test
