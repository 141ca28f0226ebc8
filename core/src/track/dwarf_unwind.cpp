// dwarf_unwind.cpp - the cached .eh_frame unwinder (x86-64): rule cache, FDE search, CFA program.
#include "track/dwarf_unwind.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cstring>

namespace nm::track {
namespace {

// DWARF register numbers on x86-64.
constexpr unsigned kRegRbp = 6, kRegRsp = 7, kRegRa = 16;

// ---- reading DWARF ----------------------------------------------------------------------------

struct Reader {
    const uint8_t *p, *end;
    bool bad = false;

    bool more() const noexcept { return p < end && !bad; }
    uint8_t u8() noexcept {
        if (p >= end) { bad = true; return 0; }
        return *p++;
    }
    template <class T> T fixed() noexcept {
        if (size_t(end - p) < sizeof(T)) { bad = true; p = end; return 0; }
        T v;
        std::memcpy(&v, p, sizeof v);
        p += sizeof v;
        return v;
    }
    uint64_t uleb() noexcept {
        uint64_t v = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            uint8_t b = u8();
            v |= uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
        bad = true;
        return v;
    }
    int64_t sleb() noexcept {
        int64_t v = 0;
        unsigned shift = 0;
        uint8_t b;
        do {
            b = u8();
            v |= int64_t(b & 0x7f) << shift;
            shift += 7;
        } while ((b & 0x80) && shift < 64);
        if (shift < 64 && (b & 0x40)) v |= -(int64_t(1) << shift);
        return v;
    }
    // A DW_EH_PE encoded pointer. datarel is relative to `data_base`.
    uintptr_t encoded(uint8_t enc, uintptr_t data_base = 0) noexcept {
        if (enc == 0xff) return 0; // omit
        const uintptr_t here = reinterpret_cast<uintptr_t>(p);
        uintptr_t v;
        switch (enc & 0x0f) {
        case 0x00: v = fixed<uint64_t>(); break;
        case 0x01: v = uleb(); break;
        case 0x02: v = fixed<uint16_t>(); break;
        case 0x03: v = fixed<uint32_t>(); break;
        case 0x04: v = fixed<uint64_t>(); break;
        case 0x09: v = uintptr_t(sleb()); break;
        case 0x0a: v = uintptr_t(int64_t(fixed<int16_t>())); break;
        case 0x0b: v = uintptr_t(int64_t(fixed<int32_t>())); break;
        case 0x0c: v = uintptr_t(fixed<int64_t>()); break;
        default: bad = true; return 0;
        }
        switch (enc & 0x70) {
        case 0x00: break;
        case 0x10: v += here; break;
        case 0x30: v += data_base; break;
        default: bad = true; return 0;
        }
        if (enc & 0x80) { bad = true; return 0; } // indirect: not used for code addresses here
        return v;
    }
};

// Register rules the walk needs: CFA, rbp, return address.
struct State {
    unsigned cfa_reg = kRegRsp;
    int64_t cfa_off = 8;
    enum { Same, Offset, Unknown } fp = Same, ra = Offset;
    int64_t fp_off = 0, ra_off = -8;
    bool cfa_expr = false;
};

struct Cie {
    uint64_t code_align = 1;
    int64_t data_align = -8;
    unsigned ra_reg = kRegRa;
    uint8_t fde_enc = 0;
    bool has_z = false, signal = false;
    Reader init{nullptr, nullptr};
};

bool parse_cie(const uint8_t *at, Cie &c) noexcept {
    Reader r{at, at + 4};
    uint64_t len = r.fixed<uint32_t>();
    if (len == 0xffffffff) {
        r.end = at + 12;
        len = r.fixed<uint64_t>();
    }
    if (r.bad || len == 0) return false;
    r.end = r.p + len;
    const uint64_t id = len == 0 ? 1 : r.fixed<uint32_t>();
    if (id != 0) return false;
    const uint8_t version = r.u8();
    if (version != 1 && version != 3) return false;
    const char *aug = reinterpret_cast<const char *>(r.p);
    while (r.more() && *r.p) ++r.p;
    r.u8();
    if (aug[0] == 'e' && aug[1] == 'h') return false;
    c.code_align = r.uleb();
    c.data_align = r.sleb();
    c.ra_reg = version == 1 ? r.u8() : unsigned(r.uleb());
    if (aug[0] == 'z') {
        c.has_z = true;
        const uint64_t alen = r.uleb();
        const uint8_t *aend = r.p + alen;
        for (const char *a = aug + 1; *a && r.more(); ++a) {
            if (*a == 'R') c.fde_enc = r.u8();
            else if (*a == 'L') r.u8();
            else if (*a == 'P') { uint8_t e = r.u8(); r.encoded(uint8_t(e & 0x7f)); }
            else if (*a == 'S') c.signal = true;
            else if (*a == 'B' || *a == 'G') {}
            else break;
        }
        r.p = aend;
    }
    if (r.bad || r.p > r.end) return false;
    c.init = Reader{r.p, r.end};
    return true;
}

// Runs a CFA program until the location passes `target`. False on something the walk cannot use.
bool run_program(Reader r, const Cie &c, uintptr_t loc, uintptr_t target, State &s, const State &initial) noexcept {
    State stack[8];
    unsigned depth = 0;
    while (r.more()) {
        const uint8_t op = r.u8();
        const uint8_t hi = op & 0xc0, lo = op & 0x3f;
        uint64_t reg = 0;
        int64_t off = 0;
        if (hi == 0x40) { // advance_loc
            loc += lo * c.code_align;
            if (loc > target) return true;
            continue;
        }
        if (hi == 0x80) { // offset
            reg = lo;
            off = int64_t(r.uleb()) * c.data_align;
            goto set_offset;
        }
        if (hi == 0xc0) { // restore
            reg = lo;
            goto restore;
        }
        switch (op) {
        case 0x00: break; // nop
        case 0x01: loc = r.encoded(c.fde_enc); if (loc > target) return true; break;
        case 0x02: loc += r.u8() * c.code_align; if (loc > target) return true; break;
        case 0x03: loc += r.fixed<uint16_t>() * c.code_align; if (loc > target) return true; break;
        case 0x04: loc += r.fixed<uint32_t>() * c.code_align; if (loc > target) return true; break;
        case 0x05: reg = r.uleb(); off = int64_t(r.uleb()) * c.data_align; goto set_offset;
        case 0x06: reg = r.uleb(); goto restore;
        case 0x07: // undefined
            reg = r.uleb();
            if (reg == kRegRbp) s.fp = State::Unknown;
            if (reg == c.ra_reg) s.ra = State::Unknown;
            break;
        case 0x08: // same_value
            reg = r.uleb();
            if (reg == kRegRbp) s.fp = State::Same;
            break;
        case 0x09: // register
            reg = r.uleb();
            r.uleb();
            if (reg == kRegRbp) s.fp = State::Unknown;
            if (reg == c.ra_reg) s.ra = State::Unknown;
            break;
        case 0x0a: if (depth < 8) stack[depth++] = s; else return false; break;
        case 0x0b: if (depth) s = stack[--depth]; else return false; break;
        case 0x0c: s.cfa_reg = unsigned(r.uleb()); s.cfa_off = int64_t(r.uleb()); s.cfa_expr = false; break;
        case 0x0d: s.cfa_reg = unsigned(r.uleb()); break;
        case 0x0e: s.cfa_off = int64_t(r.uleb()); break;
        case 0x0f: { uint64_t n = r.uleb(); r.p += n; s.cfa_expr = true; break; }
        case 0x10: // expression
        case 0x16: { // val_expression
            reg = r.uleb();
            uint64_t n = r.uleb();
            r.p += n;
            if (reg == kRegRbp) s.fp = State::Unknown;
            if (reg == c.ra_reg) s.ra = State::Unknown;
            break;
        }
        case 0x11: reg = r.uleb(); off = r.sleb() * c.data_align; goto set_offset;
        case 0x12: s.cfa_reg = unsigned(r.uleb()); s.cfa_off = r.sleb() * c.data_align; s.cfa_expr = false; break;
        case 0x13: s.cfa_off = r.sleb() * c.data_align; break;
        case 0x14: case 0x15: // val_offset(_sf): the register's value is CFA + n, not a saved slot
            reg = r.uleb();
            if (op == 0x14) r.uleb(); else r.sleb();
            if (reg == kRegRbp || reg == c.ra_reg) return false;
            break;
        case 0x2e: r.uleb(); break; // GNU_args_size
        case 0x2f: reg = r.uleb(); off = -int64_t(r.uleb()) * c.data_align; goto set_offset;
        default: return false;
        }
        continue;
    set_offset:
        if (reg == kRegRbp) { s.fp = State::Offset; s.fp_off = off; }
        else if (reg == c.ra_reg) { s.ra = State::Offset; s.ra_off = off; }
        continue;
    restore:
        if (reg == kRegRbp) { s.fp = initial.fp; s.fp_off = initial.fp_off; }
        else if (reg == c.ra_reg) { s.ra = initial.ra; s.ra_off = initial.ra_off; }
    }
    return !r.bad;
}

// The FDE covering pc, found through the object's .eh_frame_hdr binary search table.
const uint8_t *find_fde(uintptr_t pc, const uint8_t *hdr) noexcept {
    if (!hdr || hdr[0] != 1) return nullptr;
    const uint8_t ptr_enc = hdr[1], count_enc = hdr[2], table_enc = hdr[3];
    Reader r{hdr + 4, hdr + 4 + 64};
    r.encoded(ptr_enc, reinterpret_cast<uintptr_t>(hdr));
    const uint64_t count = r.encoded(count_enc, reinterpret_cast<uintptr_t>(hdr));
    if (r.bad || table_enc != 0x3b || count == 0) return nullptr; // datarel sdata4: what ld writes
    const int32_t *table = reinterpret_cast<const int32_t *>(r.p);
    const intptr_t rel = intptr_t(pc - reinterpret_cast<uintptr_t>(hdr));
    size_t lo = 0, hi = size_t(count);
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (table[2 * mid] <= rel) lo = mid;
        else hi = mid;
    }
    if (table[2 * lo] > rel) return nullptr;
    return hdr + table[2 * lo + 1];
}

UnwindRule compute_rule(uintptr_t pc) noexcept {
    using Kind = UnwindRule::Kind;
    UnwindRule rule;
    dl_find_object fo;
    if (_dl_find_object(reinterpret_cast<void *>(pc), &fo) != 0) {
        rule.kind = Kind::FpChain; // not in any object (generated code): trust its frame pointer
        return rule;
    }
    const uint8_t *fde = find_fde(pc, static_cast<const uint8_t *>(fo.dlfo_eh_frame));
    if (!fde) {
        rule.kind = Kind::FpChain;
        return rule;
    }
    Reader r{fde, fde + 4};
    uint64_t len = r.fixed<uint32_t>();
    if (len == 0xffffffff) {
        r.end = fde + 12;
        len = r.fixed<uint64_t>();
    }
    if (r.bad || len == 0) return rule;
    r.end = r.p + len;
    const uint8_t *id_at = r.p;
    const uint32_t cie_off = r.fixed<uint32_t>();
    if (cie_off == 0) return rule; // a CIE, not an FDE
    Cie cie;
    if (!parse_cie(id_at - cie_off, cie) || cie.signal) return rule;
    const uintptr_t begin = r.encoded(cie.fde_enc);
    const uintptr_t range = r.encoded(uint8_t(cie.fde_enc & 0x0f));
    if (r.bad || pc < begin || pc >= begin + range) return rule;
    if (cie.has_z) {
        const uint64_t alen = r.uleb();
        r.p += alen;
    }
    State s;
    if (!run_program(cie.init, cie, 0, ~uintptr_t{0}, s, s)) return rule;
    const State initial = s;
    if (!run_program(r, cie, begin, pc, s, initial)) return rule;
    if (s.cfa_expr || (s.cfa_reg != kRegRsp && s.cfa_reg != kRegRbp) || s.cfa_off < 0 || s.cfa_off > 0xffffff)
        return rule;
    if (s.ra != State::Offset || s.fp == State::Unknown) return rule;
    if (s.ra_off < -32768 || s.ra_off > 32767 || s.fp_off < -32768 || s.fp_off > 32767) return rule;
    rule.kind = Kind::Cfa;
    rule.cfa_fp = s.cfa_reg == kRegRbp;
    rule.cfa_off = uint32_t(s.cfa_off);
    rule.fp_saved = s.fp == State::Offset;
    rule.fp_off = int32_t(s.fp_off);
    rule.ra_off = int32_t(s.ra_off);
    return rule;
}

// ---- the rule cache -------------------------------------------------------------------------
//
// A slot: bits 32-63 the tag (ra >> kUnwindSlotBits: user-space addresses are below 2^47, so it
// fits; an empty slot, 0, matches no code address), bits 0-31 the rule:
//   bit 0        CFA is rbp + offset (else rsp + offset)
//   bit 1        rbp was saved at CFA - bits 18-31
//   bit 2        special: bits 3-4 say which (0 stop, 1 frame pointer chain, 2 second table)
//   bits 3-17    CFA offset (a multiple of 8, 8 .. 256 KiB - 8); the return address is at CFA - 8
//   bits 18-31   how far below the CFA rbp was saved (a multiple of 8, 16 .. 16 KiB - 8; with an
//                rsp-based CFA, at most its offset: the slot is at or above rsp)
// Writers store whole slots; two racing on one slot leave one of their entries, each consistent.
constexpr size_t kSlots = size_t{1} << kUnwindSlotBits;
constexpr uintptr_t kSlotMask = kSlots - 1;
constexpr uint32_t kCfaFp = 1, kFpSaved = 2, kSpecial = 4;
constexpr uint32_t kCfaOffMask = 0x3fff8;
constexpr unsigned kFpDeltaShift = 18;
constexpr uint32_t kStop = kSpecial | 0u << 3, kFpChain = kSpecial | 1u << 3, kSecond = kSpecial | 2u << 3;
constexpr uintptr_t kUserLimit = uintptr_t{1} << 47;
// CFA = rbp + 16, rbp saved at CFA - 16: a function built with frame pointers, past its prologue.
constexpr uint32_t kFpFrame = kCfaFp | kFpSaved | 16u | 16u << kFpDeltaShift;

std::atomic<uint64_t> g_slots[kSlots];

// The second table: rules the slot cannot hold, in full. The tag is the address, written last; a
// reader checks it on both sides of reading the rule, so a torn entry is a miss (and the rule is
// computed again). These rules are rare: a small table.
constexpr size_t kSecondSlots = 1024;
struct Second {
    std::atomic<uint64_t> tag{0};
    std::atomic<uint64_t> kind{0}; // Kind, cfa_fp, fp_saved, cfa_off (bits 8-31)
    std::atomic<uint64_t> offs{0}; // fp_off (low 32 bits), ra_off (high 32 bits)
};
Second g_second[kSecondSlots];

size_t second_of(uintptr_t ra) noexcept { return (ra * 0x9E3779B97F4A7C15ull) >> (64 - 10); }

// The slot's rule bits for `rule`, or kSecond if it does not fit.
uint32_t compact(const UnwindRule &rule) noexcept {
    using Kind = UnwindRule::Kind;
    if (rule.kind == Kind::Stop) return kStop;
    if (rule.kind == Kind::FpChain) return kFpChain;
    if (rule.ra_off != -8 || (rule.cfa_off & 7) || rule.cfa_off < 8 || rule.cfa_off > kCfaOffMask) return kSecond;
    uint32_t w = (rule.cfa_fp ? kCfaFp : 0) | rule.cfa_off;
    if (rule.fp_saved) {
        const int32_t delta = -rule.fp_off;
        if ((delta & 7) || delta < 16 || delta >= (1 << (32 - kFpDeltaShift))) return kSecond;
        // Off an rsp-based CFA, the saved rbp must lie at or above rsp (the walk does not check).
        if (!rule.cfa_fp && uint32_t(delta) > rule.cfa_off) return kSecond;
        w |= kFpSaved | uint32_t(delta) << kFpDeltaShift;
    }
    return w;
}

void second_store(uintptr_t ra, const UnwindRule &rule) noexcept {
    Second &e = g_second[second_of(ra)];
    e.tag.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    e.kind.store(uint64_t(rule.kind) | uint64_t(rule.cfa_fp) << 2 | uint64_t(rule.fp_saved) << 3 |
                     uint64_t(rule.cfa_off) << 8,
                 std::memory_order_relaxed);
    e.offs.store(uint64_t(uint32_t(rule.fp_off)) | uint64_t(uint32_t(rule.ra_off)) << 32, std::memory_order_relaxed);
    e.tag.store(ra, std::memory_order_release);
}

bool second_load(uintptr_t ra, UnwindRule &rule) noexcept {
    Second &e = g_second[second_of(ra)];
    if (e.tag.load(std::memory_order_acquire) != ra) return false;
    const uint64_t k = e.kind.load(std::memory_order_relaxed), o = e.offs.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (e.tag.load(std::memory_order_relaxed) != ra) return false;
    rule.kind = UnwindRule::Kind(k & 3);
    rule.cfa_fp = (k >> 2) & 1;
    rule.fp_saved = (k >> 3) & 1;
    rule.cfa_off = uint32_t(k >> 8);
    rule.fp_off = int32_t(uint32_t(o));
    rule.ra_off = int32_t(uint32_t(o >> 32));
    return true;
}

// The slot entry for `ra`, stored for the next walk (return addresses outside user space are
// garbage: stop, uncached).
uint64_t store(uintptr_t ra, const UnwindRule &rule) noexcept {
    if (ra >= kUserLimit) return kStop;
    const uint32_t bits = compact(rule);
    if (bits == kSecond) second_store(ra, rule);
    const uint64_t e = uint64_t(ra >> kUnwindSlotBits) << 32 | bits;
    g_slots[ra & kSlotMask].store(e, std::memory_order_release);
    return e;
}

// A miss: the rule of the call before return address `ra`, computed and cached.
__attribute__((noinline)) uint64_t fill(uintptr_t ra) noexcept {
    if (ra >= kUserLimit) return kStop;
    return store(ra, compute_rule(ra - 1));
}

// One frame by a rule the fast path does not take (special slot bits): the caller's registers,
// pc = 0 to stop. Registers go in and out by value, so the walk keeps its own in registers.
__attribute__((noinline)) UnwindRegs step_special(uint32_t bits, UnwindRegs r, uintptr_t lo, uintptr_t top) noexcept {
    auto word = [](uintptr_t a) noexcept { return *reinterpret_cast<const uintptr_t *>(a); };
    UnwindRegs out;
    if (bits == kFpChain) {
        if (r.fp < r.sp || r.fp < lo || r.fp > top - 8 || (r.fp & 7)) return out;
        out.pc = word(r.fp + 8);
        out.sp = r.fp + 16;
        out.fp = word(r.fp);
        return out;
    }
    if (bits != kSecond) return out;
    UnwindRule rule;
    if (!second_load(r.pc, rule)) { // taken by another address, raced with a writer, or flushed
        rule = compute_rule(r.pc - 1);
        if (compact(rule) == kSecond) second_store(r.pc, rule);
    }
    if (rule.kind == UnwindRule::Kind::FpChain) return step_special(kFpChain, r, lo, top);
    if (rule.kind != UnwindRule::Kind::Cfa) return out;
    const uintptr_t cfa = (rule.cfa_fp ? r.fp : r.sp) + rule.cfa_off;
    const uintptr_t ra_at = cfa + uintptr_t(intptr_t(rule.ra_off));
    if (cfa <= r.sp || ra_at < r.sp || ra_at > top) return out;
    out.fp = r.fp;
    if (rule.fp_saved) {
        const uintptr_t fp_at = cfa + uintptr_t(intptr_t(rule.fp_off));
        if (fp_at < r.sp || fp_at > top) return out;
        out.fp = word(fp_at);
    }
    out.pc = word(ra_at);
    out.sp = cfa;
    return out;
}

} // namespace

// Not vectorized: packing pc and sp into one vector register costs more moves than it saves.
__attribute__((optimize("no-tree-slp-vectorize"))) Walk unwind_dwarf(UnwindRegs r, StackBounds b, uintptr_t *out,
                                                                      size_t max) noexcept {
    uint64_t h = kStackHashSeed;
    // A word at a is read only if sp <= a <= top (sp only grows, and starts inside the stack). No
    // stack lies in the lowest 64 KiB (mmap_min_addr): a CFA minus a saved-rbp offset never wraps.
    if (max == 0 || b.lo < (uintptr_t{1} << 16) || b.hi < b.lo + 16 || r.sp < b.lo || r.sp > b.hi)
        return Walk{0, stack_hash_finish(h, 0)};
    const uintptr_t lo = b.lo, hi = b.hi, top = b.hi - 8;
    auto word = [](uintptr_t a) noexcept { return *reinterpret_cast<const uintptr_t *>(a); };
    uintptr_t pc = r.pc, sp = r.sp, fp = r.fp;
    uintptr_t *o = out, *const end = out + max;
    while (pc >= 4096) {
        *o++ = pc;
        h = stack_hash_step(h, pc);
        if (__builtin_expect(o == end, 0)) break; // no rule needed for the last frame kept
        uint64_t e = g_slots[pc & kSlotMask].load(std::memory_order_relaxed);
        // Tag check: bits 32-63 of pc << 17 are pc >> 15.
        if (__builtin_expect(((e ^ (uint64_t(pc) << (32 - kUnwindSlotBits))) >> 32) != 0, 0)) e = fill(pc);
        const uint32_t bits = uint32_t(e);
        if (__builtin_expect(!(bits & (kSpecial | kCfaFp)), 1)) {
            // CFA = rsp + offset (>= 8): the return address at CFA - 8 is at or above sp, and a
            // saved rbp at CFA - delta too (compact() takes only delta <= offset).
            const uintptr_t cfa = sp + (bits & kCfaOffMask);
            if (__builtin_expect(cfa > hi, 0)) break;
            if (bits & kFpSaved) fp = word(cfa - (bits >> kFpDeltaShift));
            pc = word(cfa - 8);
            sp = cfa;
        } else if (bits == kFpFrame) {
            // The frame of code built with frame pointers: {saved rbp, return address} at rbp.
            if (__builtin_expect(fp < sp || fp > top - 8, 0)) break;
            pc = word(fp + 8);
            sp = fp + 16;
            fp = word(fp);
        } else if (!(bits & kSpecial)) {
            // CFA = rbp + offset: rbp may be anything, so both ends are checked.
            const uintptr_t cfa = fp + (bits & kCfaOffMask), ra_at = cfa - 8;
            if (__builtin_expect(ra_at < sp || ra_at > top, 0)) break;
            if (bits & kFpSaved) {
                // At least 16 below the CFA, so below the return address: only the lower end.
                const uintptr_t fp_at = cfa - (bits >> kFpDeltaShift);
                if (__builtin_expect(fp_at < sp, 0)) break;
                fp = word(fp_at);
            }
            pc = word(ra_at);
            sp = cfa;
        } else if (bits == kStop) {
            break; // the outermost frame of most stacks (the thread's start): no call
        } else {
            const UnwindRegs next = step_special(bits, UnwindRegs{pc, sp, fp}, lo, top);
            pc = next.pc;
            sp = next.sp;
            fp = next.fp;
        }
    }
    const uint32_t n = uint32_t(o - out);
    return Walk{n, stack_hash_finish(h, n)};
}

void unwind_cache_flush() noexcept {
    for (auto &s : g_slots) s.store(0, std::memory_order_relaxed);
    for (Second &s : g_second) s.tag.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
}

void unwind_cache_store(uintptr_t ra, const UnwindRule &rule) noexcept { store(ra, rule); }

UnwindCacheTier unwind_cache_tier(uintptr_t ra) noexcept {
    if (ra >= kUserLimit) return UnwindCacheTier::None;
    const uint64_t e = g_slots[ra & kSlotMask].load(std::memory_order_acquire);
    if ((e >> 32) != (ra >> kUnwindSlotBits)) return UnwindCacheTier::None;
    if (uint32_t(e) != kSecond) return UnwindCacheTier::Slot;
    UnwindRule rule;
    return second_load(ra, rule) ? UnwindCacheTier::Second : UnwindCacheTier::None;
}

} // namespace nm::track
