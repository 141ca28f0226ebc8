// events.cpp - ExpertSubmitEvent: reading, checking and rendering an expert's event, and the
// per-key store snapshots read.
#include "track/events.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "netmon.h"
#include "track/tracker.hpp"

namespace nm::track {
namespace {

// 1: process_vm_readv works on this process; 0: untested; -1: unavailable (seccomp, old kernel),
// the event is then read directly (a wild pointer then crashes the calling expert thread, which
// the runner contains).
std::atomic<int> g_vm_read{0};

// Copies n bytes from the expert's address p without ever faulting. False if any byte is
// unreadable.
bool safe_read(const void *p, void *out, size_t n) noexcept {
    if (n == 0) return true;
    if (!p) return false;
    if (g_vm_read.load(std::memory_order_relaxed) >= 0) {
        iovec local{out, n};
        iovec remote{const_cast<void *>(p), n};
        ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        if (got == ssize_t(n)) {
            g_vm_read.store(1, std::memory_order_relaxed);
            return true;
        }
        if (got >= 0 || errno == EFAULT) return false;
        if (errno != ENOSYS && errno != EPERM) return false;
        g_vm_read.store(-1, std::memory_order_relaxed);
    }
    std::memcpy(out, p, n);
    return true;
}

enum class StrResult { Ok, Unreadable, TooLong };

// A NUL-terminated string of at most NM_EVENT_MAX_STRING bytes at p (NULL: empty), read page by
// page so a string that ends just before an unmapped page is still read.
StrResult safe_string(const char *p, std::string *out) {
    out->clear();
    if (!p) return StrResult::Ok;
    static const size_t page = size_t(sysconf(_SC_PAGESIZE));
    char buf[4096];
    uintptr_t at = reinterpret_cast<uintptr_t>(p);
    while (out->size() <= NM_EVENT_MAX_STRING) {
        size_t room = page - (at % page);
        size_t want = std::min({room, sizeof buf, size_t(NM_EVENT_MAX_STRING + 1 - out->size())});
        if (!safe_read(reinterpret_cast<const void *>(at), buf, want)) return StrResult::Unreadable;
        if (const void *nul = std::memchr(buf, 0, want)) {
            out->append(buf, static_cast<const char *>(nul) - buf);
            *out = to_utf8(*out);
            return StrResult::Ok;
        }
        out->append(buf, want);
        at += want;
    }
    return StrResult::TooLong;
}

bool read_string(const char *p, std::string *out) { return safe_string(p, out) == StrResult::Ok; }

// SYSTEMTIME as a UTC calendar time -> ms since the Unix epoch. All zero: 0 (none given).
bool system_time_ms(const SYSTEMTIME &t, uint64_t *out) {
    if (!t.wYear && !t.wMonth && !t.wDay && !t.wHour && !t.wMinute && !t.wSecond && !t.wMilliseconds &&
        !t.wDayOfWeek) {
        *out = 0;
        return true;
    }
    static const int kDays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (t.wYear < 1601 || t.wYear > 30827 || t.wMonth < 1 || t.wMonth > 12 || t.wDay < 1 ||
        t.wDay > kDays[t.wMonth - 1] || t.wHour > 23 || t.wMinute > 59 || t.wSecond > 59 || t.wMilliseconds > 999 ||
        t.wDayOfWeek > 6)
        return false;
    bool leap = (t.wYear % 4 == 0 && t.wYear % 100 != 0) || t.wYear % 400 == 0;
    if (t.wMonth == 2 && t.wDay == 29 && !leap) return false;
    tm c{};
    c.tm_year = t.wYear - 1900;
    c.tm_mon = t.wMonth - 1;
    c.tm_mday = t.wDay;
    c.tm_hour = t.wHour;
    c.tm_min = t.wMinute;
    c.tm_sec = t.wSecond;
    time_t s = timegm(&c);
    *out = s < 0 ? 0 : uint64_t(s) * 1000 + t.wMilliseconds; // the model counts from 1970: earlier is "none"

    return true;
}

std::string hex_bytes(const BYTE *b, size_t n, const char *sep) {
    std::string s;
    char x[4];
    for (size_t i = 0; i < n; ++i) {
        std::snprintf(x, sizeof x, "%02x", b[i]);
        if (i && sep) s += sep;
        s += x;
    }
    return s;
}

// An OLE automation date (days since 1899-12-30, the fraction is the time of day) as
// "YYYY-MM-DD HH:MM:SS.mmm" (UTC).
std::string vartime_text(double days) {
    if (!std::isfinite(days) || days < -657434.0 || days > 2958465.99999999) return "invalid time";
    double ms = std::round(days * 86400000.0) - 25569.0 * 86400000.0; // 1970-01-01 is day 25569
    int64_t total = int64_t(ms);
    int64_t secs = total >= 0 ? total / 1000 : (total - 999) / 1000;
    int milli = int(total - secs * 1000);
    time_t t = time_t(secs);
    tm c{};
    if (!gmtime_r(&t, &c)) return "invalid time";
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", c.tm_year + 1900, c.tm_mon + 1, c.tm_mday,
                  c.tm_hour, c.tm_min, c.tm_sec, milli);
    return buf;
}

} // namespace

std::string to_utf8(const std::string &s) {
    auto valid = [&] {
        for (size_t i = 0; i < s.size();) {
            unsigned char c = static_cast<unsigned char>(s[i]);
            size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
            if (!n || i + n > s.size() || (n == 2 && c < 0xC2) || (n == 4 && c > 0xF4)) return false;
            for (size_t k = 1; k < n; ++k)
                if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
            if (n == 3) {
                unsigned char d = static_cast<unsigned char>(s[i + 1]);
                if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d >= 0xA0)) return false; // overlong, surrogate
            }
            if (n == 4) {
                unsigned char d = static_cast<unsigned char>(s[i + 1]);
                if ((c == 0xF0 && d < 0x90) || (c == 0xF4 && d >= 0x90)) return false;
            }
            i += n;
        }
        return true;
    };
    if (valid()) return s;
    std::string out;
    out.reserve(s.size() * 2);
    for (unsigned char c : s) {
        if (c < 0x80) {
            out += char(c);
        } else {
            out += char(0xC0 | (c >> 6));
            out += char(0x80 | (c & 0x3F));
        }
    }
    return out;
}

std::string render_column_value(uint32_t type, const void *value) {
    const auto &v = *static_cast<const decltype(NMCOLUMNVARIANT::Value) *>(value);
    char buf[64];
    switch (type) {
    case NMCOLUMNTYPE_UINT8: return std::to_string(unsigned(v.Uint8Val));
    case NMCOLUMNTYPE_SINT8: return std::to_string(int(static_cast<signed char>(v.Sint8Val)));
    case NMCOLUMNTYPE_UINT16: return std::to_string(unsigned(v.Uint16Val));
    case NMCOLUMNTYPE_SINT16: return std::to_string(int(v.Sint16Val));
    case NMCOLUMNTYPE_UINT32: return std::to_string(v.Uint32Val);
    case NMCOLUMNTYPE_SINT32: return std::to_string(v.Sint32Val);
    case NMCOLUMNTYPE_FLOAT64: std::snprintf(buf, sizeof buf, "%.17g", v.Float64Val); return buf;
    case NMCOLUMNTYPE_FRAME: return std::to_string(v.FrameVal);
    case NMCOLUMNTYPE_YESNO: return v.YesNoVal ? "Yes" : "No";
    case NMCOLUMNTYPE_ONOFF: return v.OnOffVal ? "On" : "Off";
    case NMCOLUMNTYPE_TRUEFALSE: return v.TrueFalseVal ? "True" : "False";
    case NMCOLUMNTYPE_MACADDR: return hex_bytes(v.MACAddrVal, MAC_ADDRESS_SIZE, ":");
    case NMCOLUMNTYPE_IPXADDR:
        return hex_bytes(v.IPXAddrVal.Subnet, 4, nullptr) + "." + hex_bytes(v.IPXAddrVal.Address, 6, nullptr);
    case NMCOLUMNTYPE_IPADDR: {
        BYTE b[4];
        std::memcpy(b, &v.IPAddrVal, 4); // the bytes in memory order: network order
        std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
        return buf;
    }
    case NMCOLUMNTYPE_VARTIME: return vartime_text(v.VarTimeVal);
    default: return {};
    }
}

uint32_t read_event(const void *event, EventRecord *out) {
    if (!event) return NMERR_INVALID_PARAMETER;
    NMEVENTDATA head;
    static_assert(sizeof(NMEVENTDATA) == offsetof(NMEVENTDATA, Column), "the columns follow the fixed part");
    if (!safe_read(event, &head, sizeof head)) return NMERR_INVALID_PARAMETER;
    if (head.Version != 0) return NMERR_NOT_SUPPORTED;
    if (head.Severity > NMEVENT_SEVERITY_CRITICAL_ERROR) return NMERR_INVALID_PARAMETER;
    if (head.NumColumns > NM_EVENT_MAX_COLUMNS) return NMERR_INVALID_PARAMETER;
    EventRecord e;
    e.ident = head.EventIdent;
    e.flags = head.Flags;
    e.severity = head.Severity;
    if (!system_time_ms(head.SysTime, &e.event_unix_ms)) return NMERR_INVALID_PARAMETER;
    if (!read_string(head.szSourceName, &e.source) || !read_string(head.szEventName, &e.name) ||
        !read_string(head.szDescription, &e.description) || !read_string(head.szMachine, &e.machine) ||
        !read_string(head.szUrl, &e.url) || !read_string(head.Justification, &e.justification))
        return NMERR_INVALID_PARAMETER;
    if (head.NumColumns) {
        NMCOLUMNINFO cols[NM_EVENT_MAX_COLUMNS];
        const auto *first = reinterpret_cast<const unsigned char *>(event) + offsetof(NMEVENTDATA, Column);
        if (!safe_read(first, cols, head.NumColumns * sizeof(NMCOLUMNINFO))) return NMERR_INVALID_PARAMETER;
        e.columns.reserve(head.NumColumns);
        for (unsigned i = 0; i < head.NumColumns; ++i) {
            const NMCOLUMNINFO &c = cols[i];
            EventColumnRecord col;
            // Read as bytes: an expert may store any value in the enum's storage, and loading an
            // out-of-range enumerator is undefined.
            uint32_t type = 0;
            static_assert(sizeof c.VariantData.Type == sizeof type, "NMCOLUMNTYPE is 32 bits");
            std::memcpy(&type, &c.VariantData.Type, sizeof type);
            if (type > NMCOLUMNTYPE_STRING) return NMERR_INVALID_PARAMETER;
            col.type = type;
            if (!read_string(c.szColumnName, &col.name)) return NMERR_INVALID_PARAMETER;
            if (type == NMCOLUMNTYPE_STRING) {
                if (!read_string(c.VariantData.Value.pStringVal, &col.value)) return NMERR_INVALID_PARAMETER;
            } else {
                col.value = render_column_value(type, &c.VariantData.Value);
            }
            e.columns.push_back(std::move(col));
        }
    }
    *out = std::move(e);
    return NMERR_SUCCESS;
}

EventStore &EventStore::get() noexcept {
    // Never destroyed: experts may submit while the process exits.
    static EventStore *s = new EventStore;
    return *s;
}

void EventStore::add(uint64_t key_id, EventRecord &&event) {
    std::lock_guard<std::mutex> lock(mu_);
    KeyEvents &k = by_key_[key_id];
    if (k.events.size() >= NM_EVENT_MAX_PER_KEY || total_ >= kMaxEventsTotal) {
        ++k.dropped;
        return;
    }
    k.events.push_back(std::move(event));
    ++total_;
}

bool EventStore::read(uint64_t key_id, KeyEvents *out) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_key_.find(key_id);
    if (it == by_key_.end()) return false;
    *out = it->second;
    return true;
}

void EventStore::counts(uint64_t key_id, size_t *kept, uint64_t *dropped) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_key_.find(key_id);
    *kept = it == by_key_.end() ? 0 : it->second.events.size();
    *dropped = it == by_key_.end() ? 0 : it->second.dropped;
}

uint64_t Tracker::open_key_id(void *handle, uint32_t *status) const noexcept {
    KeyHandle kh;
    Key *k = keys_.find(handle, kh);
    *status = NMERR_INVALID_EXPERT_HANDLE;
    if (!k) return 0;
    uint64_t w = k->word.load(std::memory_order_acquire);
    if (word_gen(w) != kh.gen) return 0;
    if (word_state(w) == KeyState::Terminating) *status = NMERR_EXPERT_TERMINATE;
    else if (word_state(w) == KeyState::Open) *status = NMERR_SUCCESS;
    else return 0;
    uint64_t id = k->id.load(std::memory_order_relaxed);
    // open_key() publishes the id before the word (release); a second read of the word catches a
    // close + reopen in between.
    if (k->word.load(std::memory_order_acquire) != w) {
        *status = NMERR_INVALID_EXPERT_HANDLE;
        return 0;
    }
    return id;
}

} // namespace nm::track

extern "C" __attribute__((visibility("default"))) DWORD WINAPI ExpertSubmitEvent(HEXPERTKEY hExpertKey,
                                                                                 PNMEVENTDATA pExpertEvent) {
    nm::track::Tracker &t = nm::track::Tracker::get();
    uint32_t st;
    uint64_t id = t.open_key_id(hExpertKey, &st);
    if (st != NMERR_SUCCESS) return st; // NMERR_EXPERT_TERMINATE or NMERR_INVALID_EXPERT_HANDLE
    nm::track::EventRecord e;
    st = nm::track::read_event(pExpertEvent, &e);
    if (st != NMERR_SUCCESS) return st;
    e.time_ms = t.now_ms();
    nm::track::EventStore::get().add(id, std::move(e));
    return NMERR_SUCCESS;
}
