// make_gui_snapshot.cpp - writes snapshots for the GUI tests and benchmark with libnmapi itself.
//
//   make_gui_snapshot OUT.nmsnap                       keys in every state, leaks, forced cleanups, misuse
//   make_gui_snapshot OUT.nmsnap --phase 2             the same run, later: more memory (for the diff)
//   make_gui_snapshot OUT.nmsnap --blocks N --stacks M N live blocks from M distinct stacks (benchmark);
//                                                      with --live SECONDS it stays up instead of writing
//   make_gui_snapshot - --live SECONDS                   a live target: keys grow, close and reopen for
//                                                      SECONDS, then it exits (prints "ready PID" first);
//                                                      "proto_dist" stays open until terminated
//
// Allocations come from known noinline functions so tests can look for them in the stacks.
#include <netmon.h>
#include <nmhost.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <unistd.h>
#include <vector>

#define NOINLINE __attribute__((noinline))
// Keeps a call from becoming a tail call, so each level stays a frame of its own.
#define KEEP_FRAME() asm volatile("" ::: "memory")

extern "C" {

NOINLINE void *http_parse_headers(HEXPERTKEY key, size_t n) {
    void *p = ExpertAllocMemory(key, n, nullptr);
    KEEP_FRAME();
    return p;
}

NOINLINE void *http_read_body(HEXPERTKEY key, size_t n) {
    void *p = ExpertAllocMemory(key, n, nullptr);
    KEEP_FRAME();
    return p;
}

NOINLINE void *dns_cache_insert(HEXPERTKEY key, size_t n) {
    void *p = ExpertAllocMemory(key, n, nullptr);
    KEEP_FRAME();
    return p;
}

NOINLINE void *tcp_track_segment(HEXPERTKEY key, size_t n) {
    void *p = ExpertAllocMemory(key, n, nullptr);
    KEEP_FRAME();
    return p;
}

NOINLINE void *proto_count(HEXPERTKEY key, size_t n) {
    void *p = ExpertAllocMemory(key, n, nullptr);
    KEEP_FRAME();
    return p;
}

// Events as an expert submits them (ExpertSubmitEvent), for the Events view.
struct EventBuf {
    alignas(NMEVENTDATA) BYTE bytes[sizeof(NMEVENTDATA) + 4 * sizeof(NMCOLUMNINFO)] = {};
    NMEVENTDATA *ev() { return reinterpret_cast<NMEVENTDATA *>(bytes); }
};

void submit_reset(HEXPERTKEY key, DWORD frame, WORD port) {
    EventBuf b;
    static char text[64];
    std::snprintf(text, sizeof text, "TCP conversation reset after %u frames", frame / 3);
    NMEVENTDATA *e = b.ev();
    e->EventIdent = 1;
    e->Flags = EVENT_FLAG_EXPERT;
    e->Severity = NMEVENT_SEVERITY_WARNING;
    e->szSourceName = const_cast<LPSTR>("tcp-conv");
    e->szEventName = const_cast<LPSTR>("Connection reset");
    e->szDescription = text;
    e->NumColumns = 3;
    const BYTE ip[4] = {10, 0, 0, BYTE(2 + frame % 7)};
    e->Column[0].szColumnName = const_cast<LPSTR>("Address B");
    e->Column[0].VariantData.Type = NMCOLUMNTYPE_IPADDR;
    std::memcpy(&e->Column[0].VariantData.Value.IPAddrVal, ip, 4);
    e->Column[1].szColumnName = const_cast<LPSTR>("Port B");
    e->Column[1].VariantData.Type = NMCOLUMNTYPE_UINT16;
    e->Column[1].VariantData.Value.Uint16Val = port;
    e->Column[2].szColumnName = const_cast<LPSTR>("Reset in frame");
    e->Column[2].VariantData.Type = NMCOLUMNTYPE_FRAME;
    e->Column[2].VariantData.Value.FrameVal = frame;
    ExpertSubmitEvent(key, e);
}

void submit_summary(HEXPERTKEY key, DWORD opened, DWORD reset) {
    EventBuf b;
    NMEVENTDATA *e = b.ev();
    e->EventIdent = 2;
    e->Severity = NMEVENT_SEVERITY_INFORMATIONAL;
    e->szSourceName = const_cast<LPSTR>("tcp-conv");
    e->szEventName = const_cast<LPSTR>("Conversations");
    e->szDescription = const_cast<LPSTR>("TCP conversations in the capture");
    e->Justification = const_cast<JTYPE>("A conversation starts with a SYN and ends with a FIN from each side, or a reset.");
    e->NumColumns = 2;
    e->Column[0].szColumnName = const_cast<LPSTR>("Opened");
    e->Column[0].VariantData.Type = NMCOLUMNTYPE_UINT32;
    e->Column[0].VariantData.Value.Uint32Val = opened;
    e->Column[1].szColumnName = const_cast<LPSTR>("Reset");
    e->Column[1].VariantData.Type = NMCOLUMNTYPE_UINT32;
    e->Column[1].VariantData.Value.Uint32Val = reset;
    ExpertSubmitEvent(key, e);
}

// The benchmark's stacks: a path of `depth` calls through bench_a / bench_b chosen by the bits of
// `path`, so every path is a distinct stack.
NOINLINE void *bench_leaf(HEXPERTKEY key, size_t n) {
    void *p = ExpertAllocMemory(key, n, nullptr);
    KEEP_FRAME();
    return p;
}
NOINLINE void *bench_b(HEXPERTKEY key, size_t n, unsigned path, int depth);
NOINLINE void *bench_a(HEXPERTKEY key, size_t n, unsigned path, int depth) {
    void *p = depth == 0 ? bench_leaf(key, n) : (path & 1) ? bench_b(key, n, path >> 1, depth - 1) : bench_a(key, n, path >> 1, depth - 1);
    KEEP_FRAME();
    return p;
}
NOINLINE void *bench_b(HEXPERTKEY key, size_t n, unsigned path, int depth) {
    void *p = depth == 0 ? bench_leaf(key, n) : (path & 1) ? bench_b(key, n, path >> 1, depth - 1) : bench_a(key, n, path >> 1, depth - 1);
    KEEP_FRAME();
    return p;
}

} // extern "C"

namespace {

void pause_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

int write(const char *path) {
    const DWORD rc = NmWriteReport(path, "snapshot");
    if (rc != NMERR_SUCCESS) {
        std::fprintf(stderr, "make_gui_snapshot: NmWriteReport(%s) failed: %u\n", path, unsigned(rc));
        return 1;
    }
    return 0;
}

int sample(const char *path, int phase) {
    // A clean run: everything freed, closed done (no leak).
    HEXPERTKEY clean = NmOpenExpertKey("clean_expert");
    for (int i = 0; i < 20; ++i) ExpertFreeMemory(clean, proto_count(clean, 64));
    ExpertIndicateStatus(clean, EXPERTSTATUS_DONE, 0, "finished", 99);
    NmCloseExpertKey(clean, NM_OUTCOME_DONE, nullptr);

    // Still running: live blocks from two sites, a status with percent, one double free.
    HEXPERTKEY http = NmOpenExpertKey("http_parser");
    std::vector<void *> kept;
    for (int round = 0; round < 6 * phase; ++round) {
        for (int i = 0; i < 40; ++i) kept.push_back(http_parse_headers(http, 256 + size_t(i) * 16));
        for (int i = 0; i < 6; ++i) kept.push_back(http_read_body(http, 8192));
        pause_ms(15);
    }
    for (size_t i = 0; i < kept.size(); i += 3) ExpertFreeMemory(http, kept[i]);
    ExpertFreeMemory(http, kept[0]); // double free: a misuse event
    ExpertIndicateStatus(http, EXPERTSTATUS_RUNNING, 2, "parsing frame 1200 of 3000", 40);

    // Closed done while still holding blocks: leaks.
    HEXPERTKEY dns = NmOpenExpertKey("dns_cache");
    for (int i = 0; i < 120; ++i) {
        void *p = dns_cache_insert(dns, 48 + size_t(i % 7) * 32);
        if (i % 4 == 0) ExpertFreeMemory(dns, p);
        if (i % 30 == 0) pause_ms(10);
    }
    int on_stack = 0;
    ExpertFreeMemory(dns, &on_stack); // a pointer that was never a block
    void *foreign = http_parse_headers(http, 32);
    ExpertFreeMemory(dns, foreign); // another key's block
    NmCloseExpertKey(dns, NM_OUTCOME_DONE, nullptr);

    // Forced cleanups: terminated, crashed, timed out.
    HEXPERTKEY tcp = NmOpenExpertKey("tcp_conv");
    for (int i = 0; i < 300; ++i) tcp_track_segment(tcp, 1500);
    for (DWORD i = 0; i < 3; ++i) submit_reset(tcp, 40 + 17 * i, 1031 + i);
    submit_summary(tcp, 200, 19);
    pause_ms(20);
    NmRequestExpertTerminate(tcp);
    NmCloseExpertKey(tcp, NM_OUTCOME_TERMINATED, nullptr);

    HEXPERTKEY crash = NmOpenExpertKey("header_crash");
    for (int i = 0; i < 50; ++i) http_parse_headers(crash, 512);
    pause_ms(10);
    NmCloseExpertKey(crash, NM_OUTCOME_CRASHED, nullptr);

    HEXPERTKEY slow = NmOpenExpertKey("stubborn_slow");
    for (int i = 0; i < 80; ++i) proto_count(slow, 2048);
    pause_ms(10);
    NmCloseExpertKey(slow, NM_OUTCOME_TIMEOUT, nullptr);

    // Open with terminate requested.
    HEXPERTKEY proto = NmOpenExpertKey("proto_dist");
    for (int i = 0; i < 64 * phase; ++i) proto_count(proto, 128);
    ExpertIndicateStatus(proto, EXPERTSTATUS_RUNNING, 0, "counting protocols", 75);
    NmRequestExpertTerminate(proto);

    return write(path);
}

// A target for the live tests: three keys that keep allocating; every second one of them is closed
// with the next outcome in turn (leaks or forced cleanups) and reopened. A fourth stops allocating
// once asked to terminate (its status calls fail then) and is never closed.
int live(double seconds) {
    const char *names[] = {"http_parser", "dns_cache", "tcp_conv"};
    const DWORD outcomes[] = {NM_OUTCOME_DONE, NM_OUTCOME_TERMINATED, NM_OUTCOME_CRASHED, NM_OUTCOME_TIMEOUT};
    HEXPERTKEY keys[3];
    for (int i = 0; i < 3; ++i) keys[i] = NmOpenExpertKey(names[i]);
    // One key that is never closed (the live tests terminate it).
    HEXPERTKEY steady = NmOpenExpertKey("proto_dist");
    std::printf("ready %d\n", int(getpid()));
    std::fflush(stdout);
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(long(seconds * 1000));
    int tick = 0, closes = 0;
    while (std::chrono::steady_clock::now() < end) {
        http_parse_headers(keys[0], 256 + size_t(tick % 16) * 32);
        if (tick % 3 == 0) http_read_body(keys[0], 4096);
        void *d = dns_cache_insert(keys[1], 96);
        if (tick % 2) ExpertFreeMemory(keys[1], d);
        tcp_track_segment(keys[2], 1500);
        if (ExpertIndicateStatus(steady, EXPERTSTATUS_RUNNING, 0, "counting", tick % 100) == NMERR_SUCCESS)
            proto_count(steady, 64);
        ExpertIndicateStatus(keys[0], EXPERTSTATUS_RUNNING, 0, "parsing", tick % 100);
        if (++tick % 20 == 0) {
            const int k = closes % 3;
            NmCloseExpertKey(keys[k], outcomes[closes % 4], nullptr);
            keys[k] = NmOpenExpertKey(names[k]);
            ++closes;
        }
        pause_ms(50);
    }
    return 0;
}

int bench(const char *path, long blocks, long stacks, int keys, double hold_s) {
    int depth = 0;
    while ((1L << depth) < stacks) ++depth;
    std::vector<HEXPERTKEY> k;
    for (int i = 0; i < keys; ++i) k.push_back(NmOpenExpertKey(("bench_expert_" + std::to_string(i)).c_str()));
    for (long i = 0; i < blocks; ++i) {
        const unsigned path = unsigned(i % stacks);
        bench_a(k[size_t(path % unsigned(keys))], 16 + size_t((i * 7919) % 480), path, depth);
    }
    if (hold_s > 0) {
        // A live benchmark target: stay up for the GUI to connect or attach.
        std::printf("ready %d\n", int(getpid()));
        std::fflush(stdout);
        pause_ms(int(hold_s * 1000));
        return 0;
    }
    return write(path);
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: make_gui_snapshot OUT.nmsnap [--phase N] [--blocks N --stacks M [--keys K]]\n");
        return 2;
    }
    int phase = 1, keys = 4;
    double live_s = 0;
    long blocks = 0, stacks = 10000;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--phase")) phase = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--blocks")) blocks = std::atol(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--stacks")) stacks = std::atol(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--keys")) keys = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--live")) live_s = std::atof(argv[i + 1]);
    }
    if (blocks > 0) return bench(argv[1], blocks, std::max(1L, stacks), std::max(1, keys), live_s);
    if (live_s > 0) return live(live_s);
    return sample(argv[1], std::max(1, phase));
}
