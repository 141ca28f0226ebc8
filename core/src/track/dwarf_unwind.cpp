// dwarf_unwind.cpp - the cached .eh_frame unwinder (x86-64): rule cache, FDE search, CFA program.
#include "track/dwarf_unwind.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cstring>

namespace nm::track {
namespace {

// DWARF register numbers on x86-64.
constexpr unsigned kRegRbp = 6, kRegRsp = 7, kRegRa = 16;

// A rule, packed in one word so a reader never sees half of one:
//   bit 0      the frame can be unwound (0: stop here)
//   bit 1      CFA is rbp + offset (else rsp + offset)
//   bit 2      rbp was saved at CFA + fp_off (else it is unchanged)
//   bit 3      no unwind data: use the frame pointer chain
//   bits 8-31  CFA offset (0 .. 16 MiB)
//   bits 32-47 fp_off (signed)
//   bits 48-63 ra_off (signed)
struct Rule {
    bool ok = false, cfa_fp = false, fp_saved = false, use_fp_chain = false;
    uint32_t cfa_off = 0;
    int32_t fp_off = 0, ra_off = -8;
};

uint64_t pack(const Rule &r) noexcept {
    return uint64_t(r.ok) | uint64_t(r.cfa_fp) << 1 | uint64_t(r.fp_saved) << 2 | uint64_t(r.use_fp_chain) << 3 |
           uint64_t(r.cfa_off & 0xffffff) << 8 | uint64_t(uint16_t(int16_t(r.fp_off))) << 32 |
           uint64_t(uint16_t(int16_t(r.ra_off))) << 48;
}

// Direct-mapped cache: the tag is the address, written last; a reader checks the tag on both sides
// of reading the rule, so a torn entry is a miss. Two writers racing on one slot can still pair a
// tag with the other's rule: the rule carries no tag bits, so the slot index (a hash of the
// address) decides, and both writers wrote rules for addresses of the same slot - a rare wrong
// frame, never a wild read, since every read the walk makes is checked against the stack bounds.
constexpr size_t kCacheSlots = 1u << 14;
struct Slot {
    std::atomic<uint64_t> tag{0};
    std::atomic<uint64_t> rule{0};
};
Slot g_cache[kCacheSlots];

size_t slot_of(uintptr_t pc) noexcept { return (pc * 0x9E3779B97F4A7C15ull) >> (64 - 14); }

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

Rule compute_rule(uintptr_t pc) noexcept {
    Rule rule;
    dl_find_object fo;
    if (_dl_find_object(reinterpret_cast<void *>(pc), &fo) != 0) {
        rule.ok = true;
        rule.use_fp_chain = true; // not in any object (generated code): trust its frame pointer
        return rule;
    }
    const uint8_t *fde = find_fde(pc, static_cast<const uint8_t *>(fo.dlfo_eh_frame));
    if (!fde) {
        rule.ok = true;
        rule.use_fp_chain = true;
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
    rule.ok = true;
    rule.cfa_fp = s.cfa_reg == kRegRbp;
    rule.cfa_off = uint32_t(s.cfa_off);
    rule.fp_saved = s.fp == State::Offset;
    rule.fp_off = int32_t(s.fp_off);
    rule.ra_off = int32_t(s.ra_off);
    return rule;
}

// The packed rule for pc (see pack()): from the cache, or computed and cached.
uint64_t rule_word(uintptr_t pc) noexcept {
    Slot &slot = g_cache[slot_of(pc)];
    if (slot.tag.load(std::memory_order_acquire) == pc) {
        const uint64_t w = slot.rule.load(std::memory_order_acquire);
        if (slot.tag.load(std::memory_order_acquire) == pc) return w;
    }
    const uint64_t w = pack(compute_rule(pc));
    slot.tag.store(0, std::memory_order_relaxed);
    slot.rule.store(w, std::memory_order_release);
    slot.tag.store(pc, std::memory_order_release);
    return w;
}

// The fields of a packed rule, read where they are used (no unpacking into a struct per frame).
constexpr uint64_t kOk = 1, kCfaFp = 2, kFpSaved = 4, kFpChain = 8;
inline uintptr_t cfa_off(uint64_t w) noexcept { return uintptr_t(w >> 8) & 0xffffff; }
inline intptr_t fp_off(uint64_t w) noexcept { return int16_t(uint16_t(w >> 32)); }
inline intptr_t ra_off(uint64_t w) noexcept { return int16_t(uint16_t(w >> 48)); }

} // namespace

Walk unwind_dwarf(UnwindRegs r, StackBounds b, uintptr_t *out, size_t max) noexcept {
    uint32_t n = 0;
    uint64_t h = kStackHashSeed;
    // A readable word lies in the thread's stack, lo <= a and a + 8 <= hi: one unsigned compare
    // for both ends (x86-64 reads unaligned words; a misaligned saved slot only means a wrong
    // rule, whose walk stays inside the stack). Unknown bounds (hi < lo + 8) allow no read.
    if (b.hi < b.lo + 8) return Walk{0, stack_hash_finish(h, 0)};
    const uintptr_t lo = b.lo, span = b.hi - 8 - b.lo;
    auto readable = [lo, span](uintptr_t a) noexcept { return a - lo <= span; };
    auto word = [](uintptr_t a) noexcept { return *reinterpret_cast<const uintptr_t *>(a); };
    while (n < max && r.pc >= 4096) {
        out[n++] = r.pc;
        h = stack_hash_step(h, r.pc);
        // A return address points after the call: look up the call instruction itself.
        const uint64_t w = rule_word(r.pc - 1);
        if (!(w & kOk)) break;
        uintptr_t cfa, ra, fp;
        if (w & kFpChain) {
            if (!readable(r.fp) || !readable(r.fp + 8) || r.fp < r.sp) break;
            cfa = r.fp + 16;
            ra = word(r.fp + 8);
            fp = word(r.fp);
        } else {
            cfa = ((w & kCfaFp) ? r.fp : r.sp) + cfa_off(w);
            const uintptr_t ra_at = cfa + uintptr_t(ra_off(w));
            if (!readable(ra_at)) break;
            ra = word(ra_at);
            fp = r.fp;
            if (w & kFpSaved) {
                const uintptr_t fp_at = cfa + uintptr_t(fp_off(w));
                if (!readable(fp_at)) break;
                fp = word(fp_at);
            }
        }
        if (cfa <= r.sp) break; // the stack must unwind toward its base
        r.sp = cfa;
        r.fp = fp;
        r.pc = ra;
    }
    return Walk{n, stack_hash_finish(h, n)};
}

void unwind_cache_flush() noexcept {
    for (Slot &s : g_cache) s.tag.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
}

} // namespace nm::track
