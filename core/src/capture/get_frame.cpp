// get_frame.cpp - ExpertGetFrame and the key -> capture table behind it (NmSetExpertCapture).
//
// Frame numbering and positions (documented in nmhost.h): frames are 0..N-1; the position of a
// step is the RequestedFrameNumber passed in, not a hidden per-key cursor, so every call is O(1)
// and several threads may read one key. NEXT_FORWARD from NM_FRAME_BEFORE_FIRST gives frame 0;
// NEXT_BACKWARD from N gives frame N-1.
#include <netmon.h>
#include <nmhost.h>

#include <nmleak/tracker.hpp>

#include "capture/capture.hpp"

#include <atomic>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace nm::capture {
namespace {

struct Entry {
    std::shared_ptr<const Capture> capture;
    std::unique_ptr<std::atomic<uint64_t>[]> seen; // one bit per frame handed out
    std::atomic<uint32_t> frames_read{0};          // distinct frames handed out

    void note(uint32_t number) noexcept {
        std::atomic<uint64_t> &word = seen[number >> 6];
        uint64_t bit = uint64_t{1} << (number & 63);
        // The plain load first: re-reading a frame (the common case in a backward scan or a
        // second pass) then costs no read-modify-write on a line other readers share.
        if (!(word.load(std::memory_order_relaxed) & bit) && !(word.fetch_or(bit, std::memory_order_relaxed) & bit))
            frames_read.fetch_add(1, std::memory_order_relaxed);
    }
};

// Readers (ExpertGetFrame) take the lock shared and never write the expert's memory while they
// hold it: a crash on a bad descriptor pointer unwinds the expert's thread, and it must not leave
// the table locked behind it.
struct Table {
    std::shared_mutex mu;
    std::unordered_map<uintptr_t, std::unique_ptr<Entry>> by_key;
};
// Never destroyed: a detached expert thread may still call ExpertGetFrame while the process exits.
Table &table() {
    static Table *t = new Table;
    return *t;
}

bool key_is_open(void *key) {
    uint32_t st = nm::key_check(key);
    return st == NMERR_SUCCESS || st == NMERR_EXPERT_TERMINATE;
}

void copy_text(char *dst, size_t cap, const std::string &s) {
    if (!dst || !cap) return;
    size_t n = s.size() < cap - 1 ? s.size() : cap - 1;
    std::memcpy(dst, s.data(), n);
    dst[n] = '\0';
}

// Where a step from `pos` lands, or the error. count == 0 also covers a key without a capture.
uint32_t resolve(uint32_t direction, uint32_t pos, uint32_t count, uint32_t *out) {
    switch (direction) {
    case GET_SPECIFIED_FRAME:
        if (pos >= count) return NMERR_FRAME_NOT_FOUND;
        *out = pos;
        return NMERR_SUCCESS;
    case GET_FRAME_NEXT_FORWARD:
        if (pos == NM_FRAME_BEFORE_FIRST) {
            if (count == 0) return NMERR_NO_MORE_FRAMES;
            *out = 0;
            return NMERR_SUCCESS;
        }
        if (pos >= count) return NMERR_FRAME_NOT_FOUND;
        if (pos + 1 == count) return NMERR_NO_MORE_FRAMES;
        *out = pos + 1;
        return NMERR_SUCCESS;
    case GET_FRAME_NEXT_BACKWARD:
        if (pos == 0 || pos == NM_FRAME_BEFORE_FIRST) return NMERR_NO_MORE_FRAMES;
        if (pos > count) return NMERR_FRAME_NOT_FOUND;
        *out = pos - 1;
        return NMERR_SUCCESS;
    default:
        return NMERR_INVALID_PARAMETER;
    }
}

} // namespace

void attach(void *key, std::shared_ptr<const Capture> capture) {
    auto entry = std::make_unique<Entry>();
    size_t words = capture ? (size_t(capture->count()) + 63) / 64 : 0;
    entry->seen = std::make_unique<std::atomic<uint64_t>[]>(words ? words : 1); // value-initialized: 0
    entry->capture = std::move(capture);
    Table &t = table();
    std::unique_lock lock(t.mu);
    // A host that closed a key without detaching leaves an entry behind; handles are never
    // reused (they carry a generation), so stale entries are only garbage: drop them here.
    for (auto it = t.by_key.begin(); it != t.by_key.end();)
        it = key_is_open(reinterpret_cast<void *>(it->first)) ? std::next(it) : t.by_key.erase(it);
    t.by_key[reinterpret_cast<uintptr_t>(key)] = std::move(entry);
}

uint32_t detach(void *key) {
    std::unique_ptr<Entry> gone;
    Table &t = table();
    {
        std::unique_lock lock(t.mu);
        auto it = t.by_key.find(reinterpret_cast<uintptr_t>(key));
        if (it == t.by_key.end()) return 0;
        gone = std::move(it->second);
        t.by_key.erase(it);
    }
    return gone->frames_read.load(std::memory_order_relaxed); // the capture is released out of the lock
}

const Capture *capture_of(void *key, std::shared_ptr<const Capture> *keep) {
    Table &t = table();
    std::shared_lock lock(t.mu);
    auto it = t.by_key.find(reinterpret_cast<uintptr_t>(key));
    if (it == t.by_key.end() || !it->second->capture) return nullptr;
    *keep = it->second->capture;
    return keep->get();
}

uint32_t frames_read(void *key) {
    Table &t = table();
    std::shared_lock lock(t.mu);
    auto it = t.by_key.find(reinterpret_cast<uintptr_t>(key));
    return it == t.by_key.end() ? 0 : it->second->frames_read.load(std::memory_order_relaxed);
}

} // namespace nm::capture

extern "C" DWORD WINAPI ExpertGetFrame(HEXPERTKEY hExpertKey, DWORD Direction, DWORD RequestFlags,
                                       DWORD RequestedFrameNumber, HFILTER hFilter,
                                       LPEXPERTFRAMEDESCRIPTOR pEFrameDescriptor) {
    uint32_t st = nm::key_check(hExpertKey); // never dereferences the key
    if (st != NMERR_SUCCESS) return st;      // NMERR_EXPERT_TERMINATE or NMERR_INVALID_EXPERT_HANDLE
    if (!pEFrameDescriptor || hFilter) return NMERR_INVALID_PARAMETER;
    if (Direction > GET_FRAME_NEXT_BACKWARD) return NMERR_INVALID_PARAMETER;
    if (RequestFlags & ~DWORD(FLAGS_DEFER_TO_UI_FILTER | FLAGS_ATTACH_PROPERTIES)) return NMERR_INVALID_PARAMETER;
    if (RequestFlags & FLAGS_ATTACH_PROPERTIES) return NMERR_NOT_SUPPORTED; // no protocol parsers
    // FLAGS_DEFER_TO_UI_FILTER: there is no UI filter, every frame passes it.

    const FRAME *frame = nullptr;
    uint32_t number = 0;
    {
        auto &t = nm::capture::table();
        std::shared_lock lock(t.mu);
        auto it = t.by_key.find(reinterpret_cast<uintptr_t>(hExpertKey));
        const nm::capture::Capture *cap = it == t.by_key.end() ? nullptr : it->second->capture.get();
        st = nm::capture::resolve(Direction, RequestedFrameNumber, cap ? cap->count() : 0, &number);
        if (st != NMERR_SUCCESS) return st;
        frame = cap->frame(number);
        it->second->note(number);
    }
    // Written after the lock is released (see Table). hFrame is opaque: the frame's address (no
    // function takes a frame handle on Linux). No parsers: no recognize data, no properties.
    pEFrameDescriptor->FrameNumber = number;
    pEFrameDescriptor->hFrame = const_cast<FRAME *>(frame);
    pEFrameDescriptor->pFrame = const_cast<LPFRAME>(frame);
    pEFrameDescriptor->lpRecognizeDataTable = nullptr;
    pEFrameDescriptor->lpPropertyTable = nullptr;
    return NMERR_SUCCESS;
}

extern "C" DWORD WINAPI NmExpertGetLinkType(HEXPERTKEY hExpertKey, LPDWORD pLinkType) {
    uint32_t st = nm::key_check(hExpertKey);
    if (st != NMERR_SUCCESS) return st;
    if (!pLinkType) return NMERR_INVALID_PARAMETER;
    std::shared_ptr<const nm::capture::Capture> keep;
    const nm::capture::Capture *cap = nm::capture::capture_of(hExpertKey, &keep);
    if (!cap) return NMERR_FRAME_NOT_FOUND;
    *pLinkType = cap->link_type();
    return NMERR_SUCCESS;
}

extern "C" DWORD WINAPI NmSetExpertCapture(HEXPERTKEY hExpertKey, const char *szCaptureFile, char *szError,
                                           SIZE_T cbError) {
    if (!nm::capture::key_is_open(hExpertKey)) {
        nm::capture::copy_text(szError, cbError, "not an open expert key");
        return NMERR_INVALID_EXPERT_HANDLE;
    }
    if (!szCaptureFile) {
        nm::capture::detach(hExpertKey);
        return NMERR_SUCCESS;
    }
    std::string error;
    auto cap = nm::capture::open_shared(szCaptureFile, &error);
    if (!cap) {
        nm::capture::copy_text(szError, cbError, error);
        return NMERR_INVALID_PARAMETER;
    }
    nm::capture::attach(hExpertKey, std::move(cap));
    return NMERR_SUCCESS;
}
