// probe_expert.cpp - a test expert whose behaviour (return, throw, crash, hang...) the test picks.
//
// The behaviour is the NUL-terminated text in the EXPERTCONFIG the test passes to the runner
// ("segv", "leak:5", ...). Without a config the runner calls Configure, which hands Run the
// config "configured" (the runner keeps it and hands Run a copy). Allocating functions have names the tests look for in cleanup stacks.
#include <netmon.h>

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

extern "C" {
// The last frame count "frames" saw (the tests read it through dlsym).
__attribute__((visibility("default"))) DWORD probe_last_frames_seen = 0;
// The write end of the pipe "blocked_read" waits on; -1 until the probe made it.
__attribute__((visibility("default"))) std::atomic<int> probe_block_fd{-1};
// "thread_crash_after": the thread the probe started (join it), and the word that lets it crash.
__attribute__((visibility("default"))) pthread_t probe_thread{};
__attribute__((visibility("default"))) std::atomic<int> probe_thread_go{0};
}

namespace {

// Read through volatiles, so the compiler neither sees the bad address coming nor folds the crash.
volatile uintptr_t g_wild_address = 0x10;
volatile int g_zero = 0;

// Blocks the probe keeps until it ends; freed only by the "clean"/"honour" paths.
struct Held {
    void *blocks[64];
    int n = 0;
};

__attribute__((noinline)) void probe_hold_blocks(HEXPERTKEY key, Held &held, int n, SIZE_T size) {
    for (int i = 0; i < n && held.n < 64; ++i) {
        void *p = ExpertAllocMemory(key, size, nullptr);
        if (p) held.blocks[held.n++] = p;
    }
}

__attribute__((noinline)) void probe_leak_blocks(HEXPERTKEY key, int n, SIZE_T size) {
    for (int i = 0; i < n; ++i) {
        void *p = ExpertAllocMemory(key, size, nullptr);
        if (p) std::memset(p, 0xab, size);
    }
}

void release(HEXPERTKEY key, Held &held) {
    for (int i = 0; i < held.n; ++i) ExpertFreeMemory(key, held.blocks[i]);
    held.n = 0;
}

__attribute__((noinline)) void probe_crash_segv() { *reinterpret_cast<volatile int *>(g_wild_address) = 1; }

__attribute__((noinline)) void probe_crash_bus() {
    // A mapping past the end of an empty file: touching it is SIGBUS.
    int fd = memfd_create("probe-bus", 0);
    void *m = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
    (void)*static_cast<volatile char *>(m);
}

__attribute__((noinline)) int probe_crash_fpe() { return 100 / g_zero; }

__attribute__((noinline)) int probe_recurse(int depth) {
    volatile char pad[512];
    pad[0] = char(depth);
    if (depth < 0) return 0; // never: the stack runs out first
    return probe_recurse(depth + 1) + pad[0];
}

// Spins in its own code forever: only an interrupt stops it.
__attribute__((noinline)) void probe_spin_forever() {
    volatile uint64_t x = 1;
    for (;;) x = x * 6364136223846793005ull + 1442695040888963407ull;
}

__attribute__((noinline)) void probe_sleep_forever() {
    for (;;) usleep(1000);
}

// Blocks in read(2) on a pipe: libc code that is not a plain sleep, so an interrupt never finds a
// safe point there. The test lets it go by writing to probe_block_fd.
__attribute__((noinline)) BOOL probe_block_in_read() {
    int fds[2];
    if (pipe(fds) != 0) return FALSE;
    probe_block_fd.store(fds[1]);
    char c;
    ssize_t n = read(fds[0], &c, 1); // SA_RESTART: the runner's interrupts do not end it early
    close(fds[0]);
    return n == 1;
}

// Calls the API in a tight loop, ignoring every error: most interrupts land inside libnmapi.
__attribute__((noinline)) void probe_api_forever(HEXPERTKEY key) {
    for (;;) {
        void *p = ExpertAllocMemory(key, 32, nullptr);
        ExpertFreeMemory(key, p);
        ExpertIndicateStatus(key, EXPERTSTATUS_RUNNING, 0, "spinning in the API", 1);
    }
}

// A thread of the expert's own: waits for the test's word, then crashes (it never returns 1).
__attribute__((noinline)) void *probe_thread_crash_later(void *) {
    while (!probe_thread_go.load()) usleep(1000);
    probe_crash_segv();
    return reinterpret_cast<void *>(1);
}

// Waits until the run is told to terminate (a thread of the expert failed).
BOOL wait_for_terminate(HEXPERTKEY key) {
    while (ExpertIndicateStatus(key, EXPERTSTATUS_RUNNING, 0, "waiting", 10) != NMERR_EXPERT_TERMINATE) usleep(500);
    return FALSE;
}

__attribute__((noinline)) void probe_thread_crash_now() { probe_crash_segv(); }

// Reads the capture forward, then backward; returns whether everything was consistent.
BOOL read_all_frames(HEXPERTKEY key) {
    EXPERTFRAMEDESCRIPTOR d{};
    DWORD pos = 0xFFFFFFFFu, seen = 0;
    while (ExpertGetFrame(key, GET_FRAME_NEXT_FORWARD, 0, pos, nullptr, &d) == NMERR_SUCCESS) {
        if (d.FrameNumber != seen || !d.pFrame || d.pFrame->nBytesAvail > d.pFrame->FrameLength) return FALSE;
        pos = d.FrameNumber;
        ++seen;
    }
    DWORD back = 0;
    pos = seen;
    while (ExpertGetFrame(key, GET_FRAME_NEXT_BACKWARD, 0, pos, nullptr, &d) == NMERR_SUCCESS) {
        pos = d.FrameNumber;
        ++back;
    }
    ExpertIndicateStatus(key, EXPERTSTATUS_DONE, seen, "frames read", 100);
    return seen > 0 && back == seen && pos == 0;
}

// Works through the frames slowly and stops as soon as any call says terminate.
BOOL honour_terminate(HEXPERTKEY key, Held &held) {
    EXPERTFRAMEDESCRIPTOR d{};
    DWORD pos = 0xFFFFFFFFu;
    for (;;) {
        DWORD rc = ExpertGetFrame(key, GET_FRAME_NEXT_FORWARD, 0, pos, nullptr, &d);
        if (rc == NMERR_NO_MORE_FRAMES) pos = 0xFFFFFFFFu; // go round again until told to stop
        else if (rc != NMERR_SUCCESS) break;
        else pos = d.FrameNumber;
        if (ExpertIndicateStatus(key, EXPERTSTATUS_RUNNING, 0, "reading slowly", 10) == NMERR_EXPERT_TERMINATE) break;
        usleep(500);
    }
    release(key, held);
    return FALSE;
}

} // namespace

extern "C" {


__attribute__((visibility("default"))) BOOL WINAPI Register(PEXPERTENUMINFO info) {
    const char *name = std::getenv("NMT_PROBE_NAME"); // a host with no key names (nmleak-demo)
    std::strncpy(info->szName, name && *name ? name : "probe", EXPERTSTRINGLENGTH - 1);
    std::strncpy(info->szVendor, "nmleak tests", EXPERTSTRINGLENGTH - 1);
    std::strncpy(info->szDescription, "does what the test asks", EXPERTSTRINGLENGTH - 1);
    info->Version = 0; // must be 0
    return TRUE;
}

__attribute__((visibility("default"))) BOOL WINAPI Configure(HEXPERTKEY key, PEXPERTCONFIG *ppConfig,
                                                             PEXPERTSTARTUPINFO, DWORD, HWND) {
    // A kept configuration "bad_length" is handed back claiming more bytes than its block has.
    if (*ppConfig && std::strcmp(reinterpret_cast<const char *>((*ppConfig)->RawConfigData), "bad_length") == 0) {
        (*ppConfig)->RawConfigLength = 1u << 20;
        return TRUE;
    }
    if (*ppConfig && std::strcmp(reinterpret_cast<const char *>((*ppConfig)->RawConfigData), "refuse") == 0)
        return FALSE;
    // A host that gives no config (nmleak-demo) can still pick a behaviour through the environment.
    const char *env = std::getenv("NMT_PROBE_BEHAVIOUR");
    const std::string text = env && *env ? env : "configured";
    auto *c = static_cast<PEXPERTCONFIG>(ExpertAllocMemory(key, sizeof(EXPERTCONFIG) + text.size() + 1, nullptr));
    if (!c) return FALSE;
    c->RawConfigLength = DWORD(sizeof(EXPERTCONFIG) + text.size() + 1); // the whole structure
    std::memcpy(c->RawConfigData, text.c_str(), text.size() + 1);
    *ppConfig = c;
    return TRUE;
}

__attribute__((visibility("default"))) BOOL WINAPI Run(HEXPERTKEY key, PEXPERTCONFIG config,
                                                       PEXPERTSTARTUPINFO startup, DWORD, HWND) {
    std::string what = config ? reinterpret_cast<const char *>(config->RawConfigData) : "";
    std::string arg;
    if (size_t colon = what.find(':'); colon != std::string::npos) {
        arg = what.substr(colon + 1);
        what.resize(colon);
    }
    Held held;
    if (what == "configured") return TRUE; // the configuration is the host's: Run only reads it
    if (what == "clean") {
        probe_hold_blocks(key, held, 8, 256);
        release(key, held);
        return TRUE;
    }
    if (what == "leak") {
        probe_leak_blocks(key, arg.empty() ? 5 : std::atoi(arg.c_str()), 48);
        return TRUE;
    }
    if (what == "capture_name") return startup && std::strcmp(startup->szCaptureFile, arg.c_str()) == 0;
    if (what == "frames") {
        BOOL ok = read_all_frames(key);
        EXPERTFRAMEDESCRIPTOR d{};
        DWORD pos = 0xFFFFFFFFu, n = 0;
        while (ExpertGetFrame(key, GET_FRAME_NEXT_FORWARD, 0, pos, nullptr, &d) == NMERR_SUCCESS) pos = d.FrameNumber, ++n;
        probe_last_frames_seen = n;
        return ok;
    }
    probe_hold_blocks(key, held, 4, 100); // every path below leaves these to the forced cleanup
    if (what == "false") return FALSE;
    if (what == "throw") throw std::runtime_error("probe: malformed record");
    if (what == "throw_int") throw 42;
    if (what == "segv") probe_crash_segv();
    if (what == "bus") probe_crash_bus();
    if (what == "fpe") return probe_crash_fpe();
    if (what == "ill") __builtin_trap();
    if (what == "abort") std::abort();
    if (what == "overflow") return probe_recurse(0);
    if (what == "spin") probe_spin_forever();
    if (what == "sleep") probe_sleep_forever();
    if (what == "spin_api") probe_api_forever(key);
    if (what == "honour") return honour_terminate(key, held);
    if (what == "blocked_read") return probe_block_in_read();
    if (what == "pthread_exit") pthread_exit(nullptr);
    if (what == "hostile_status") { // terminal control sequences in everything an expert can say
        ExpertIndicateStatus(key, EXPERTSTATUS_RUNNING, 0, "\x1b]0;owned\x07\r\x1b[2Kstatus", 50);
        throw std::runtime_error("\x1b[2J\x9b" "cleared");
    }
    if (what == "exit") std::exit(std::atoi(arg.c_str()));
    if (what == "_exit") _exit(std::atoi(arg.c_str()));
    if (what == "thread_crash_after") { // a raw pthread that crashes once the run is over
        release(key, held);
        return pthread_create(&probe_thread, nullptr, probe_thread_crash_later, nullptr) == 0;
    }
    if (what == "thread_crash") { // a std::thread that crashes while Run waits
        std::thread([] { probe_thread_crash_now(); }).detach();
        return wait_for_terminate(key);
    }
    if (what == "thread_exit") { // a std::thread that calls exit() while Run waits
        const int status = std::atoi(arg.c_str());
        std::thread([status] { std::exit(status); }).detach();
        return wait_for_terminate(key);
    }
    if (what == "write_frame") { // frames are read-only: this crashes, contained
        EXPERTFRAMEDESCRIPTOR d{};
        if (ExpertGetFrame(key, GET_SPECIFIED_FRAME, 0, 0, nullptr, &d) != NMERR_SUCCESS) return FALSE;
        d.pFrame->MacFrame[0] = 0;
        return TRUE;
    }
    if (what == "bad_descriptor") // ExpertGetFrame writes through a wild pointer: crashes inside libnmapi
        return ExpertGetFrame(key, GET_SPECIFIED_FRAME, 0, 0, nullptr, reinterpret_cast<LPEXPERTFRAMEDESCRIPTOR>(0x18));
    return FALSE; // unknown behaviour
}

} // extern "C"

