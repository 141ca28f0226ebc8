// reach.cpp - the reachability pass: interval index, flood, roots, and stopping the other threads.
//
// Nothing here allocates, takes a lock or calls into the dynamic loader once threads are stopped:
// a stopped thread may hold any lock (malloc's, the loader's, the tracker's). Everything the
// stopped window needs is allocated before it, and /proc files are read with raw system calls.
#include "track/reach.hpp"

#include <nmleak/tracker.hpp>

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "track/open_table.hpp"

namespace nm::track::reach {
namespace {

using Range = std::pair<uintptr_t, uintptr_t>;

uint64_t now_us() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000u + uint64_t(ts.tv_nsec) / 1000u;
}

pid_t sys_gettid() noexcept { return pid_t(syscall(SYS_gettid)); }

thread_local bool t_internal = false;
thread_local const Entry *t_entry = nullptr; // innermost public entry point on this thread
constexpr size_t kMaxInternal = 64;
std::atomic<pid_t> g_internal[kMaxInternal]; // tids of nmleak's own threads (slots reused when 0)

bool is_internal(pid_t tid) noexcept {
    for (auto &t : g_internal)
        if (t.load(std::memory_order_relaxed) == tid) return true;
    return false;
}

// ---- reading memory --------------------------------------------------------------------------

// Reads [addr, addr + len) of this process with process_vm_readv, which fails instead of faulting
// on an unmapped or unreadable page, in pieces through `buf`. fn(words, count, base) is called for
// each piece read. Pages that cannot be read are skipped one by one.
struct SafeReader {
    uintptr_t *buf = nullptr;
    size_t cap = 0; // bytes
    pid_t pid = 0;
    bool works = true;

    template <class Fn> void read(uintptr_t addr, size_t len, Fn &&fn) noexcept {
        uintptr_t a = (addr + 7) & ~uintptr_t{7};
        const uintptr_t end = (addr + len) & ~uintptr_t{7};
        while (a < end) {
            size_t want = std::min<size_t>(end - a, cap);
            iovec local{buf, want}, remote{reinterpret_cast<void *>(a), want};
            ssize_t got = works ? process_vm_readv(pid, &local, 1, &remote, 1, 0) : -1;
            if (got < 0 && (errno == ENOSYS || errno == EPERM)) works = false;
            if (got > 0) {
                fn(buf, size_t(got) / 8, a);
                a += uintptr_t(got);
                continue;
            }
            // The page at `a` is not readable: skip to the next page.
            a = (a | 4095) + 1;
        }
    }
};

// ---- the interval index ----------------------------------------------------------------------

// Blocks sorted by address, and a hash from each 4 KiB page a block overlaps to the first block
// overlapping it. A word is looked up with a range check, one probe, and a binary search over the
// few blocks that can start in that page.
class Index {
public:
    static constexpr unsigned kPageShift = 12;

    void build(const std::vector<BlockRef> &blocks) {
        const size_t n = blocks.size();
        order_.resize(n);
        for (size_t i = 0; i < n; ++i) order_[i] = uint32_t(i);
        std::sort(order_.begin(), order_.end(),
                  [&](uint32_t a, uint32_t b) { return blocks[a].address < blocks[b].address; });
        starts_.resize(n);
        ends_.resize(n);
        // Each page is entered once, for the first (lowest) block overlapping it.
        size_t pages = 0;
        bool have = false;
        uintptr_t last = 0;
        for (size_t i = 0; i < n; ++i) {
            const BlockRef &b = blocks[order_[i]];
            starts_[i] = b.address;
            ends_[i] = b.address + std::max<uint64_t>(b.size, 1);
            const uintptr_t p0 = starts_[i] >> kPageShift, p1 = (ends_[i] - 1) >> kPageShift;
            const uintptr_t from = have && p0 <= last ? last + 1 : p0;
            if (p1 >= from) {
                pages += p1 - from + 1;
                last = p1;
                have = true;
            }
        }
        lo_ = n ? starts_.front() : 0;
        hi_ = 0;
        for (size_t i = 0; i < n; ++i) hi_ = std::max(hi_, ends_[i]);
        pages_.clear();
        if (!pages_.reserve(pages)) throw std::bad_alloc();
        have = false;
        for (size_t i = 0; i < n; ++i) {
            const uintptr_t p0 = starts_[i] >> kPageShift, p1 = (ends_[i] - 1) >> kPageShift;
            const uintptr_t from = have && p0 <= last ? last + 1 : p0;
            if (p1 < from) continue;
            for (uintptr_t p = from; p <= p1; ++p) insert(p, uint32_t(i));
            last = p1;
            have = true;
        }
    }

    size_t size() const { return starts_.size(); }
    uint32_t original(size_t sorted) const { return order_[sorted]; }
    uintptr_t start(size_t i) const { return starts_[i]; }
    uintptr_t end(size_t i) const { return ends_[i]; }

    // The sorted index of the block holding address w, or -1.
    inline long find(uintptr_t w) const noexcept {
        if (w < lo_ || w >= hi_) return -1;
        const PageEntry *e = pages_.find((w >> kPageShift) + 1);
        if (!e) return -1;
        const size_t first = e->first;
        const size_t n = starts_.size();
        // At most 256 16-aligned blocks start in one page, plus the one running into it.
        size_t bound = std::min(n, first + 258);
        if (bound < n && starts_[bound] <= w) bound = n;
        const uintptr_t *s = starts_.data();
        const uintptr_t *ub = std::upper_bound(s + first, s + bound, w);
        if (ub == s + first) return -1;
        const size_t j = size_t(ub - s) - 1;
        return w < ends_[j] ? long(j) : -1;
    }

private:
    struct PageEntry {
        uint64_t page; // page + 1; 0 = empty
        uint32_t first; // sorted index of the first block overlapping it
    };
    struct PageTraits {
        using Entry = PageEntry;
        using Key = uint64_t;
        static Key key(const Entry &e) noexcept { return e.page; }
        static void set_key(Entry &e, Key k) noexcept { e.page = k; }
        static size_t hash(Key k) noexcept { return fib_spread(k, 32); }
        static constexpr uint32_t kMinCapacity = 16;
    };

    // Sized for every page beforehand: never grows here.
    void insert(uintptr_t page, uint32_t idx) {
        bool inserted = false;
        PageEntry *e = pages_.insert(page + 1, &inserted);
        if (!e) throw std::bad_alloc();
        if (inserted) e->first = idx;
    }

    std::vector<uint32_t> order_;
    std::vector<uintptr_t> starts_, ends_;
    OpenTable<PageTraits> pages_;
    uintptr_t lo_ = 0, hi_ = 0;
};

// ---- the flood -------------------------------------------------------------------------------

class Flood {
public:
    Flood(const Index &index, SafeReader &reader) : index_(index), reader_(reader) {
        state_.assign(index.size(), kUnknown);
        work_.resize(index.size());
    }

    bool direct = true; // blocks may be read in place (every other thread is stopped)
    uint64_t heap_bytes = 0, root_bytes = 0;

    void root(uintptr_t addr, size_t len) {
        root_bytes += len;
        reader_.read(addr, len, [&](const uintptr_t *w, size_t n, uintptr_t) {
            for (size_t i = 0; i < n; ++i) reach(w[i]);
        });
    }
    void root_words(const uintptr_t *w, size_t n) {
        root_bytes += n * 8;
        for (size_t i = 0; i < n; ++i) reach(w[i]);
    }

    // Everything reachable from what root() marked.
    void drain_reachable() {
        while (top_) {
            const uint32_t j = work_[--top_];
            scan_block(j, [&](uintptr_t w) { reach(w); });
        }
    }

    // Groups the blocks left unmarked into definitely and indirectly lost.
    void classify_lost() {
        const size_t n = index_.size();
        for (size_t i = 0; i < n; ++i) {
            if (state_[i] != kUnknown) continue;
            state_[i] = kDefinitelyLost;
            const uint32_t leader = uint32_t(i);
            work_[top_++] = leader;
            while (top_) {
                const uint32_t j = work_[--top_];
                scan_block(j, [&](uintptr_t w) {
                    const long k = index_.find(w);
                    if (k < 0 || uint32_t(k) == leader) return;
                    uint8_t &s = state_[size_t(k)];
                    if (s == kUnknown) {
                        s = kIndirectlyLost;
                        work_[top_++] = uint32_t(k);
                    } else if (s == kDefinitelyLost) {
                        s = kIndirectlyLost; // an earlier group's head: its group joins this one
                    }
                });
            }
        }
    }

    uint8_t state(size_t sorted) const { return state_[sorted]; }
    void set_state(size_t sorted, uint8_t s) { state_[sorted] = s; }

private:
    inline void reach(uintptr_t w) {
        const long k = index_.find(w);
        if (k < 0) return;
        uint8_t &s = state_[size_t(k)];
        if (s != kUnknown) return;
        s = kReachable;
        work_[top_++] = uint32_t(k);
    }

    template <class Fn>
    __attribute__((no_sanitize("address", "thread"))) void scan_block(uint32_t j, Fn &&fn) {
        const uintptr_t a = index_.start(j);
        const uintptr_t len = index_.end(j) - a;
        if (len < 8) return;
        heap_bytes += len;
        if (direct && (a & 7) == 0) {
            const uintptr_t *p = reinterpret_cast<const uintptr_t *>(a);
            const size_t n = len / 8;
            for (size_t i = 0; i < n; ++i) fn(p[i]);
            return;
        }
        reader_.read(a, len, [&](const uintptr_t *w, size_t n, uintptr_t) {
            for (size_t i = 0; i < n; ++i) fn(w[i]);
        });
    }

    const Index &index_;
    SafeReader &reader_;
    std::vector<uint8_t> state_;
    std::vector<uint32_t> work_;
    size_t top_ = 0;
};

// ---- /proc with raw system calls ---------------------------------------------------------------

struct Mapping {
    uintptr_t start, end;
    bool readable, writable;
};

// Reads a whole small /proc file into buf (NUL-terminated). Raw calls only.
size_t read_proc(const char *path, char *buf, size_t cap) noexcept {
    const int fd = int(syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
    if (fd < 0) return 0;
    size_t n = 0;
    while (n + 1 < cap) {
        const ssize_t r = syscall(SYS_read, fd, buf + n, cap - 1 - n);
        if (r <= 0) break;
        n += size_t(r);
    }
    syscall(SYS_close, fd);
    buf[n] = '\0';
    return n;
}

uintptr_t parse_hex(const char *&p) noexcept {
    uintptr_t v = 0;
    for (;; ++p) {
        const char c = *p;
        if (c >= '0' && c <= '9') v = v * 16 + uintptr_t(c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + uintptr_t(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v = v * 16 + uintptr_t(c - 'A' + 10);
        else return v;
    }
}

size_t parse_maps(const char *text, Mapping *out, size_t cap) noexcept {
    size_t n = 0;
    for (const char *p = text; *p && n < cap;) {
        Mapping m{};
        m.start = parse_hex(p);
        if (*p == '-') ++p;
        m.end = parse_hex(p);
        if (*p == ' ') ++p;
        m.readable = p[0] == 'r';
        m.writable = p[0] && p[1] == 'w';
        out[n++] = m;
        while (*p && *p != '\n') ++p;
        if (*p) ++p;
    }
    return n;
}

const Mapping *mapping_of(const Mapping *maps, size_t n, uintptr_t a) noexcept {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if (maps[mid].end <= a) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && maps[lo].start <= a ? &maps[lo] : nullptr;
}

// ---- stopping threads ----------------------------------------------------------------------------

enum SlotState : int { kFree = 0, kRequested = 1, kStopped = 2, kResumed = 3, kAbandoned = 4, kBlocked = 5, kGone = 6 };

constexpr size_t kFpWords = 64; // 512 bytes of FXSAVE area: the vector registers memcpy uses

struct Slot {
    std::atomic<int> tid{0};
    std::atomic<int> state{kFree};
    uintptr_t sp = 0, tp = 0;
    uintptr_t gregs[32] = {};
    size_t n_gregs = 0;
    uintptr_t fp[kFpWords] = {};
    size_t n_fp = 0;
};

struct StopTable {
    Slot *slots = nullptr;
    size_t cap = 0;
    std::atomic<size_t> used{0};
    std::atomic<uint32_t> release{0}; // futex word
};

std::atomic<StopTable *> g_table{nullptr};
std::atomic<int> g_in_handler{0}; // handlers of our signal that may be reading g_table
struct sigaction g_previous; // the program's handler before ours, chained for signals not ours
std::atomic<bool> g_installed{false};
int g_signal = 0;
pid_t g_pid = 0;

uintptr_t thread_pointer() noexcept {
    uintptr_t tp = 0;
#if defined(__x86_64__)
    asm volatile("mov %%fs:0, %0" : "=r"(tp));
#elif defined(__aarch64__)
    asm volatile("mrs %0, tpidr_el0" : "=r"(tp));
#endif
    return tp;
}

void save_context(Slot &s, const ucontext_t *uc) noexcept {
#if defined(__x86_64__)
    s.n_gregs = std::min<size_t>(NGREG, 32);
    for (size_t i = 0; i < s.n_gregs; ++i) s.gregs[i] = uintptr_t(uc->uc_mcontext.gregs[i]);
    s.sp = uintptr_t(uc->uc_mcontext.gregs[REG_RSP]);
    if (uc->uc_mcontext.fpregs) {
        std::memcpy(s.fp, uc->uc_mcontext.fpregs, sizeof s.fp);
        s.n_fp = kFpWords;
    }
#elif defined(__aarch64__)
    s.n_gregs = 31;
    for (size_t i = 0; i < 31; ++i) s.gregs[i] = uintptr_t(uc->uc_mcontext.regs[i]);
    s.sp = uintptr_t(uc->uc_mcontext.sp);
#else
    (void)uc;
    s.sp = uintptr_t(__builtin_frame_address(0));
#endif
}

void chain(int sig, siginfo_t *si, void *uc) {
    const struct sigaction &p = g_previous;
    if (p.sa_flags & SA_SIGINFO) {
        if (p.sa_sigaction) p.sa_sigaction(sig, si, uc);
    } else if (p.sa_handler == SIG_DFL) {
        // The default action of a real-time signal is to terminate: do what would have happened.
        struct sigaction dfl{};
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, nullptr);
        syscall(SYS_tgkill, getpid(), sys_gettid(), sig);
    } else if (p.sa_handler != SIG_IGN) {
        p.sa_handler(sig);
    }
}

void stop_handler(int sig, siginfo_t *si, void *ucv) {
    const int saved_errno = errno;
    const bool ours = si && si->si_code == SI_TKILL && si->si_pid == g_pid;
    if (!ours) {
        chain(sig, si, ucv);
        errno = saved_errno;
        return;
    }
    g_in_handler.fetch_add(1, std::memory_order_acq_rel);
    StopTable *t = g_table.load(std::memory_order_acquire);
    if (!t) { // a late signal of a pass that is over
        g_in_handler.fetch_sub(1, std::memory_order_release);
        errno = saved_errno;
        return;
    }
    const pid_t me = sys_gettid();
    const size_t used = t->used.load(std::memory_order_acquire);
    for (size_t i = 0; i < used; ++i) {
        Slot &s = t->slots[i];
        if (s.tid.load(std::memory_order_relaxed) != me) continue;
        if (s.state.load(std::memory_order_acquire) != kRequested) break;
        save_context(s, static_cast<const ucontext_t *>(ucv));
        s.tp = thread_pointer();
        int expected = kRequested;
        if (!s.state.compare_exchange_strong(expected, kStopped, std::memory_order_acq_rel)) break; // gave up on us
        while (t->release.load(std::memory_order_acquire) == 0)
            syscall(SYS_futex, &t->release, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
        s.state.store(kResumed, std::memory_order_release);
        break;
    }
    g_in_handler.fetch_sub(1, std::memory_order_release);
    errno = saved_errno;
}

int stop_signal() {
    if (const char *s = std::getenv("NMLEAK_STOP_SIGNAL")) {
        const int v = std::atoi(s);
        if (v >= SIGRTMIN && v <= SIGRTMAX) return v;
    }
    return SIGRTMAX - 5;
}

int signal_number() {
    static const int sig = stop_signal();
    return sig;
}

bool install_handler() {
    g_signal = signal_number();
    g_pid = getpid();
    struct sigaction cur{};
    sigaction(g_signal, nullptr, &cur);
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == stop_handler) return true;
    // Not installed yet, or the program replaced it: ours goes in front of what is there now.
    struct sigaction sa{};
    sa.sa_sigaction = stop_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigfillset(&sa.sa_mask);
    if (sigaction(g_signal, &sa, &g_previous) != 0) return false;
    g_installed.store(true, std::memory_order_release);
    return true;
}

// Is `sig` blocked by thread tid? From /proc/self/task/TID/status, "SigBlk:\t<hex>".
bool signal_blocked(pid_t tid, int sig, char *buf, size_t cap) noexcept {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/status", int(tid));
    if (!read_proc(path, buf, cap)) return false;
    const char *p = std::strstr(buf, "SigBlk:");
    if (!p) return false;
    p += 7;
    while (*p == ' ' || *p == '\t') ++p;
    const uint64_t mask = parse_hex(p);
    return (mask >> (sig - 1)) & 1;
}

// The stack pointer of a thread sitting in a system call, from /proc/self/task/TID/syscall
// ("nr a1 a2 a3 a4 a5 a6 sp pc"); 0 when it is running or the file says nothing.
uintptr_t syscall_sp(pid_t tid, char *buf, size_t cap) noexcept {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", int(tid));
    if (!read_proc(path, buf, cap)) return 0;
    const char *p = buf;
    if (*p == 'r' || *p == '-') return 0; // "running" or "-1 ..."
    int field = 0;
    while (*p && field < 7) {
        while (*p && *p != ' ') ++p;
        while (*p == ' ') ++p;
        ++field;
    }
    if (p[0] == '0' && p[1] == 'x') p += 2;
    return parse_hex(p);
}

struct Dirent64 {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[1];
};

// Lists the thread ids of this process into out (raw getdents64).
size_t list_threads(pid_t *out, size_t cap, char *buf, size_t bufcap) noexcept {
    const int fd = int(syscall(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd < 0) return 0;
    size_t n = 0;
    for (;;) {
        const long r = syscall(SYS_getdents64, fd, buf, bufcap);
        if (r <= 0) break;
        for (long off = 0; off < r;) {
            auto *d = reinterpret_cast<const Dirent64 *>(buf + off);
            off += d->reclen;
            if (d->name[0] < '0' || d->name[0] > '9') continue;
            if (n < cap) out[n++] = pid_t(std::atoi(d->name));
        }
    }
    syscall(SYS_close, fd);
    return n;
}

// ---- roots that need the loader: gathered before threads are stopped --------------------------------

struct ModuleInfo {
    std::vector<Range> *writable;
    std::vector<std::pair<size_t, size_t>> *tls_sizes; // module id -> PT_TLS memsz
    uintptr_t own_base;
};

bool excluded_module(const char *name, uintptr_t base, uintptr_t own_base) {
    if (base == own_base) return true;
    if (!name) return false;
    const char *slash = std::strrchr(name, '/');
    const char *file = slash ? slash + 1 : name;
    return std::strncmp(file, "libnmleak-agent", 15) == 0 || std::strncmp(file, "libmimalloc", 11) == 0 ||
           std::strncmp(file, "libnmapi", 8) == 0;
}

int module_cb(dl_phdr_info *info, size_t, void *data) {
    auto *mi = static_cast<ModuleInfo *>(data);
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_TLS && info->dlpi_tls_modid)
            mi->tls_sizes->push_back({size_t(info->dlpi_tls_modid), size_t(ph.p_memsz)});
    }
    if (excluded_module(info->dlpi_name, info->dlpi_addr, mi->own_base)) return 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W)) continue;
        const uintptr_t a = info->dlpi_addr + ph.p_vaddr;
        mi->writable->push_back({a, a + ph.p_memsz});
    }
    return 0;
}

size_t static_tls_size() {
    using Fn = void (*)(size_t *, size_t *);
    static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info"));
    size_t size = 0, align = 0;
    if (fn) fn(&size, &align);
    return size ? size : 4096;
}

// Static TLS and the thread control block of the thread whose thread pointer is tp; then the
// dynamic TLS blocks its DTV lists (glibc: dtv[-1] is the length, dtv[i] = {block, to_free}).
// sp: where the thread's live stack starts. glibc puts a thread's static TLS just above its stack,
// and the static size it reports includes a surplus: below sp is the dead part of the stack, not
// TLS, so the range never reaches below it.
void scan_tls(Flood &flood, SafeReader &reader, uintptr_t tp, size_t static_size,
              const std::vector<std::pair<size_t, size_t>> &tls_sizes, uintptr_t sp) {
    if (!tp) return;
#if defined(__x86_64__)
    uintptr_t lo = tp > static_size ? tp - static_size : 0;
    const uintptr_t hi = tp + 0x1000;
    if (sp > lo && sp < tp) lo = sp;
    const uintptr_t dtv_at = tp + 8;
#elif defined(__aarch64__)
    uintptr_t lo = tp > 0x1000 ? tp - 0x1000 : 0;
    const uintptr_t hi = tp + 16 + static_size;
    if (sp > lo && sp < hi) lo = sp;
    const uintptr_t dtv_at = tp;
#else
    return;
#endif
    flood.root(lo, hi - lo);
    uintptr_t dtv = 0;
    reader.read(dtv_at, 8, [&](const uintptr_t *w, size_t n, uintptr_t) { if (n) dtv = w[0]; });
    if (!dtv || (dtv & 7)) return;
    uintptr_t len = 0;
    reader.read(dtv - 16, 8, [&](const uintptr_t *w, size_t n, uintptr_t) { if (n) len = w[0]; });
    len = std::min<uintptr_t>(len, 4096);
    for (const auto &[modid, size] : tls_sizes) {
        if (modid == 0 || modid > len || size == 0) continue;
        uintptr_t block = 0;
        reader.read(dtv + 16 * modid, 8, [&](const uintptr_t *w, size_t n, uintptr_t) { if (n) block = w[0]; });
        if (!block || block == ~uintptr_t{0}) continue;
        if (block >= lo && block < hi) continue; // in static TLS, already scanned
        flood.root(block, size);
    }
}

} // namespace

void mark_internal_thread() noexcept {
    t_internal = true;
    const pid_t me = sys_gettid();
    for (auto &t : g_internal) {
        pid_t expected = 0;
        if (t.load(std::memory_order_relaxed) == me || t.compare_exchange_strong(expected, me)) break;
    }
    // Such threads block the analyzer's signals; the stop signal is nmleak's own and must reach them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal_number());
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void unmark_internal_thread() noexcept {
    const pid_t me = sys_gettid();
    for (auto &t : g_internal) {
        pid_t expected = me;
        t.compare_exchange_strong(expected, 0);
    }
    t_internal = false;
}

void classify_from(const std::vector<BlockRef> &blocks, std::vector<uint8_t> &out, const std::vector<Range> &roots,
                   Stats *stats) {
    const uint64_t t0 = now_us();
    Index index;
    index.build(blocks);
    std::vector<uintptr_t> buf(1 << 16);
    SafeReader reader{buf.data(), buf.size() * 8, getpid()};
    Flood flood(index, reader);
    for (const Range &r : roots)
        if (r.second > r.first) flood.root(r.first, r.second - r.first);
    flood.drain_reachable();
    flood.classify_lost();
    out.assign(blocks.size(), kUnknown);
    for (size_t i = 0; i < index.size(); ++i) out[index.original(i)] = flood.state(i);
    if (stats) {
        stats->blocks = blocks.size();
        stats->root_bytes = flood.root_bytes;
        stats->heap_bytes = flood.heap_bytes;
        stats->pass_us = now_us() - t0;
    }
}

void classify(const std::vector<BlockRef> &blocks, std::vector<uint8_t> &out, const Options &options,
              const void *caller_frame, Stats *stats, bool (*still_live)(const BlockRef &, void *), void *ctx) {
    // One pass at a time: two passes would each wait for the other to stop.
    static std::mutex pass_mu;
    std::lock_guard<std::mutex> pass_lock(pass_mu);
    Stats local;
    Stats &st = stats ? *stats : local;
    st = Stats{};
    const uint64_t t0 = now_us();
    std::string limits;

    // Everything the stopped window needs, allocated now.
    Index index;
    index.build(blocks);
    std::vector<uintptr_t> buf(1 << 16);
    SafeReader reader{buf.data(), buf.size() * 8, getpid()};
    Flood flood(index, reader);

    std::vector<Range> writable;
    std::vector<std::pair<size_t, size_t>> tls_sizes;
    Dl_info self{};
    dladdr(reinterpret_cast<void *>(&mark_internal_thread), &self);
    ModuleInfo mi{&writable, &tls_sizes, reinterpret_cast<uintptr_t>(self.dli_fbase)};
    if (options.globals || options.tls) dl_iterate_phdr(module_cb, &mi);
    const size_t tls_static = static_tls_size();

    constexpr size_t kMapsText = 4u << 20, kMaxMaps = 1u << 16, kMaxThreads = 1u << 14;
    std::vector<char> text(kMapsText);
    std::vector<Mapping> maps(kMaxMaps);
    std::vector<pid_t> tids(kMaxThreads);
    std::vector<char> scratch(64 * 1024);
    std::vector<Slot> slots(std::min<size_t>(kMaxThreads, 1024));
    StopTable table;
    table.slots = slots.data();
    table.cap = slots.size();

    const pid_t me = sys_gettid();
    // ThreadSanitizer delivers a signal only at its own safe points and reads the handler's
    // siginfo from its own copy: threads cannot be held by signal in such a build, so the pass
    // reads their stacks without stopping them (the limits say so).
#if defined(__SANITIZE_THREAD__)
    constexpr bool kSignalsDeferred = true;
#else
    constexpr bool kSignalsDeferred = false;
#endif
    const bool stopping = options.stop_threads && !kSignalsDeferred && install_handler();
    const uint64_t t_stop = now_us();
    size_t not_stopped = 0, stopped = 0, blocked = 0, timed_out = 0;
    if (stopping) g_table.store(&table, std::memory_order_release);

    // Rounds: threads started by a thread that was not stopped yet show up in the next listing.
    for (int round = 0; stopping && round < 8; ++round) {
        const size_t n = list_threads(tids.data(), tids.size(), scratch.data(), scratch.size());
        size_t fresh = 0;
        for (size_t i = 0; i < n; ++i) {
            const pid_t tid = tids[i];
            if (tid == me) continue;
            bool known = false;
            const size_t used = table.used.load(std::memory_order_relaxed);
            for (size_t j = 0; j < used && !known; ++j) known = slots[j].tid.load(std::memory_order_relaxed) == tid;
            if (known || used >= table.cap) continue;
            Slot &s = slots[used];
            s.tid.store(tid, std::memory_order_relaxed);
            ++fresh;
            if (signal_blocked(tid, g_signal, scratch.data(), scratch.size())) {
                s.state.store(kBlocked, std::memory_order_relaxed);
                table.used.store(used + 1, std::memory_order_release);
                continue;
            }
            s.state.store(kRequested, std::memory_order_relaxed);
            table.used.store(used + 1, std::memory_order_release);
            if (syscall(SYS_tgkill, g_pid, tid, g_signal) != 0) s.state.store(kGone, std::memory_order_relaxed);
        }
        if (!fresh) break;
        const uint64_t deadline = now_us() + uint64_t(options.stop_timeout_ms) * 1000;
        for (;;) {
            bool waiting = false;
            const size_t used = table.used.load(std::memory_order_relaxed);
            for (size_t j = 0; j < used; ++j) waiting |= slots[j].state.load(std::memory_order_acquire) == kRequested;
            if (!waiting) break;
            if (now_us() > deadline) {
                for (size_t j = 0; j < used; ++j) {
                    int expected = kRequested;
                    slots[j].state.compare_exchange_strong(expected, kAbandoned, std::memory_order_acq_rel);
                }
                break;
            }
            sched_yield();
        }
    }
    const size_t used = table.used.load(std::memory_order_acquire);
    for (size_t j = 0; j < used; ++j) {
        const int s = slots[j].state.load(std::memory_order_acquire);
        if (s == kStopped) ++stopped;
        else if (is_internal(slots[j].tid.load(std::memory_order_relaxed))) ++not_stopped; // still running
        else if (s == kBlocked) { ++blocked; ++not_stopped; }
        else if (s == kAbandoned) { ++timed_out; ++not_stopped; }
    }
    if (!options.stop_threads) {
        const size_t n = list_threads(tids.data(), tids.size(), scratch.data(), scratch.size());
        not_stopped = n ? n - 1 : 0;
    }
    flood.direct = options.stop_threads && stopping && not_stopped == 0;

    // A block freed between the caller's listing and the stop is not read (or kept as Unknown).
    std::vector<uint8_t> gone(index.size(), 0);
    if (still_live) {
        for (size_t i = 0; i < index.size(); ++i)
            if (!still_live(blocks[index.original(i)], ctx)) {
                gone[i] = 1;
                flood.set_state(i, kReachable); // never read, never reported as lost
            }
    }

    // Roots.
    const size_t nmaps = parse_maps(text.data(), maps.data(), read_proc("/proc/self/maps", text.data(), text.size()) ? maps.size() : 0);
    if (options.globals)
        for (const Range &r : writable) flood.root(r.first, r.second - r.first);
    auto scan_stack = [&](uintptr_t sp) {
        const Mapping *m = mapping_of(maps.data(), nmaps, sp);
        if (m && m->readable) flood.root(sp, m->end - sp);
    };
    if (!t_internal) {
        if (options.stacks) scan_stack(reinterpret_cast<uintptr_t>(caller_frame));
        if (options.tls)
            scan_tls(flood, reader, thread_pointer(), tls_static, tls_sizes, reinterpret_cast<uintptr_t>(caller_frame));
    }
    for (size_t j = 0; j < used; ++j) {
        Slot &s = slots[j];
        const int state = s.state.load(std::memory_order_acquire);
        if (is_internal(s.tid.load(std::memory_order_relaxed))) continue; // nmleak's own: not roots
        if (state == kStopped) {
            if (options.registers) {
                flood.root_words(s.gregs, s.n_gregs);
                flood.root_words(s.fp, s.n_fp);
            }
            if (options.stacks) scan_stack(s.sp);
            if (options.tls) scan_tls(flood, reader, s.tp, tls_static, tls_sizes, s.sp);
        } else if (state == kBlocked || state == kAbandoned) {
            // Not stopped: no registers; its stack from where the kernel says it is waiting.
            const uintptr_t sp = syscall_sp(s.tid.load(std::memory_order_relaxed), scratch.data(), scratch.size());
            if (options.stacks && sp) scan_stack(sp);
        }
    }
    flood.drain_reachable();
    flood.classify_lost();
    for (size_t i = 0; i < index.size(); ++i)
        if (gone[i]) flood.set_state(i, kUnknown);

    // Let the threads go, and wait until none is still reading the table.
    if (stopping) {
        table.release.store(1, std::memory_order_release);
        syscall(SYS_futex, &table.release, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
        for (size_t j = 0; j < used; ++j)
            while (slots[j].state.load(std::memory_order_acquire) == kStopped) sched_yield();
        g_table.store(nullptr, std::memory_order_seq_cst);
        // A handler that found the table just before this store may still be reading it.
        while (g_in_handler.load(std::memory_order_seq_cst) != 0) sched_yield();
    }
    st.stop_us = stopping ? now_us() - t_stop : 0;

    out.assign(blocks.size(), kUnknown);
    for (size_t i = 0; i < index.size(); ++i) out[index.original(i)] = flood.state(i);
    st.blocks = blocks.size();
    st.root_bytes = flood.root_bytes;
    st.heap_bytes = flood.heap_bytes;
    st.threads = uint32_t(used);
    st.threads_stopped = uint32_t(stopped);
    st.threads_not_stopped = uint32_t(not_stopped);
    st.safe_reads = !flood.direct;
    if (!options.stop_threads) limits += "threads were not stopped; ";
    else if (kSignalsDeferred) limits += "ThreadSanitizer defers signals in this build: threads were not stopped; ";
    else if (!stopping) limits += "the stop signal could not be installed: threads were not stopped; ";
    if (blocked) limits += std::to_string(blocked) + " thread(s) block the stop signal: their registers were not read; ";
    if (timed_out) limits += std::to_string(timed_out) + " thread(s) did not stop in time: their registers were not read; ";
    if (used >= table.cap) limits += "too many threads: some were not stopped; ";
    if (!limits.empty()) limits.resize(limits.size() - 2);
    st.limits = std::move(limits);
    st.pass_us = now_us() - t0;
}

__attribute__((noinline)) void enter(Entry *e) noexcept {
    // First thing, before the compiler needs a callee-saved register of its own: the caller's
    // values (or, for one it already used, the value it pushed in its frame above *e).
#if defined(__x86_64__)
    asm volatile("mov %%rbx, 0(%0)\n\tmov %%rbp, 8(%0)\n\tmov %%r12, 16(%0)\n\t"
                 "mov %%r13, 24(%0)\n\tmov %%r14, 32(%0)\n\tmov %%r15, 40(%0)"
                 : : "r"(e->regs) : "memory");
    for (size_t i = 6; i < 16; ++i) e->regs[i] = 0;
#elif defined(__aarch64__)
    asm volatile("stp x19, x20, [%0, #0]\n\tstp x21, x22, [%0, #16]\n\tstp x23, x24, [%0, #32]\n\t"
                 "stp x25, x26, [%0, #48]\n\tstp x27, x28, [%0, #64]\n\tstr x29, [%0, #80]"
                 : : "r"(e->regs) : "memory");
    for (size_t i = 11; i < 16; ++i) e->regs[i] = 0;
#else
    for (uintptr_t &r : e->regs) r = 0;
#endif
    e->prev = t_entry;
    t_entry = e;
    asm volatile("" : : "r"(e) : "memory");
}

void leave(Entry *e) noexcept {
    if (t_entry == e) t_entry = e->prev;
}

} // namespace nm::track::reach

// nm_reach_classify_here: the caller's callee-saved registers pushed first, then the C++ body with
// the address of what was pushed: the scan of this thread's stack starts exactly there.
extern "C" __attribute__((visibility("hidden"), used)) void
nm_reach_here_body(const std::vector<nm::track::reach::BlockRef> *blocks, std::vector<uint8_t> *out,
                   const nm::track::reach::Options *options, nm::track::reach::Stats *stats,
                   nm::track::reach::StillLive still_live, void *ctx, const uintptr_t *pushed, size_t n_pushed) {
    using namespace nm::track::reach;
    if (const Entry *e = t_entry) {
        // The entry's saved registers start the range scanned; without registers, start after it.
        classify(*blocks, *out, *options, options->registers ? static_cast<const void *>(e) : e + 1, stats,
                 still_live, ctx);
        return;
    }
    classify(*blocks, *out, *options, options->registers ? pushed : pushed + n_pushed, stats, still_live, ctx);
}

#if defined(__x86_64__)
// Entry: rsp = 8 mod 16. Six pushes keep it there; 8 bytes of padding and the two stack arguments
// (pushed, n_pushed) make it 0 mod 16 at the call, as the ABI wants.
asm(R"(
    .text
    .globl nm_reach_classify_here
    .type nm_reach_classify_here, @function
nm_reach_classify_here:
    .cfi_startproc
    push %rbp
    .cfi_adjust_cfa_offset 8
    push %rbx
    .cfi_adjust_cfa_offset 8
    push %r12
    .cfi_adjust_cfa_offset 8
    push %r13
    .cfi_adjust_cfa_offset 8
    push %r14
    .cfi_adjust_cfa_offset 8
    push %r15
    .cfi_adjust_cfa_offset 8
    mov %rsp, %rax
    sub $8, %rsp
    .cfi_adjust_cfa_offset 8
    push $6
    .cfi_adjust_cfa_offset 8
    push %rax
    .cfi_adjust_cfa_offset 8
    call nm_reach_here_body
    add $24, %rsp
    .cfi_adjust_cfa_offset -24
    pop %r15
    .cfi_adjust_cfa_offset -8
    pop %r14
    .cfi_adjust_cfa_offset -8
    pop %r13
    .cfi_adjust_cfa_offset -8
    pop %r12
    .cfi_adjust_cfa_offset -8
    pop %rbx
    .cfi_adjust_cfa_offset -8
    pop %rbp
    .cfi_adjust_cfa_offset -8
    ret
    .cfi_endproc
    .size nm_reach_classify_here, .-nm_reach_classify_here
)");
#elif defined(__aarch64__)
asm(R"(
    .text
    .globl nm_reach_classify_here
    .type nm_reach_classify_here, %function
nm_reach_classify_here:
    .cfi_startproc
    stp x29, x30, [sp, #-96]!
    .cfi_def_cfa_offset 96
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    stp x19, x20, [sp, #16]
    stp x21, x22, [sp, #32]
    stp x23, x24, [sp, #48]
    stp x25, x26, [sp, #64]
    stp x27, x28, [sp, #80]
    mov x29, sp
    add x6, sp, #16
    mov x7, #10
    bl nm_reach_here_body
    ldp x19, x20, [sp, #16]
    ldp x21, x22, [sp, #32]
    ldp x23, x24, [sp, #48]
    ldp x25, x26, [sp, #64]
    ldp x27, x28, [sp, #80]
    ldp x29, x30, [sp], #96
    .cfi_def_cfa_offset 0
    ret
    .cfi_endproc
    .size nm_reach_classify_here, .-nm_reach_classify_here
)");
#else
extern "C" __attribute__((noinline)) void nm_reach_classify_here(
    const std::vector<nm::track::reach::BlockRef> *blocks, std::vector<uint8_t> *out,
    const nm::track::reach::Options *options, nm::track::reach::Stats *stats, nm::track::reach::StillLive still_live,
    void *ctx) {
    uintptr_t here = 0;
    nm_reach_here_body(blocks, out, options, stats, still_live, ctx, &here, 0);
    asm volatile("" : : "r"(&here) : "memory");
}
#endif


namespace nm {
void mark_nmleak_thread() noexcept { track::reach::mark_internal_thread(); }
} // namespace nm
