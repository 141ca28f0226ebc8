// startup_info.cpp - ExpertGetStartupInfo and the key -> startup information table behind it
// (NmSetExpertStartupInfo; the runner registers each run's).
#include <netmon.h>
#include <nmhost.h>

#include <nmleak/tracker.hpp>

#include "capture/capture.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace {

struct Table {
    std::mutex mu;
    std::unordered_map<uintptr_t, EXPERTSTARTUPINFO> by_key;
};
// Never destroyed: a detached expert thread may still ask while the process exits.
Table &table() {
    static Table *t = new Table;
    return *t;
}

bool key_is_open(void *key) {
    uint32_t st = nm::key_check(key);
    return st == NMERR_SUCCESS || st == NMERR_EXPERT_TERMINATE;
}

} // namespace

extern "C" DWORD WINAPI NmSetExpertStartupInfo(HEXPERTKEY hExpertKey, const EXPERTSTARTUPINFO *pStartupInfo) {
    if (!key_is_open(hExpertKey)) return NMERR_INVALID_EXPERT_HANDLE;
    Table &t = table();
    std::lock_guard<std::mutex> lock(t.mu);
    if (!pStartupInfo) {
        t.by_key.erase(reinterpret_cast<uintptr_t>(hExpertKey));
        return NMERR_SUCCESS;
    }
    // Keys closed without forgetting theirs leave entries behind; handles are never reused (they
    // carry a generation), so those are only garbage: drop them here.
    for (auto it = t.by_key.begin(); it != t.by_key.end();)
        it = key_is_open(reinterpret_cast<void *>(it->first)) ? std::next(it) : t.by_key.erase(it);
    EXPERTSTARTUPINFO copy = *pStartupInfo;
    copy.szCaptureFile[MAX_PATH - 1] = '\0';
    t.by_key[reinterpret_cast<uintptr_t>(hExpertKey)] = copy;
    return NMERR_SUCCESS;
}

extern "C" DWORD WINAPI ExpertGetStartupInfo(HEXPERTKEY hExpertKey, PEXPERTSTARTUPINFO pExpertStartupInfo) {
    uint32_t st = nm::key_check(hExpertKey); // never dereferences the key
    if (st != NMERR_SUCCESS) return st;      // NMERR_EXPERT_TERMINATE or NMERR_INVALID_EXPERT_HANDLE
    if (!pExpertStartupInfo) return NMERR_INVALID_PARAMETER;
    EXPERTSTARTUPINFO info{};
    bool found = false;
    {
        Table &t = table();
        std::lock_guard<std::mutex> lock(t.mu);
        auto it = t.by_key.find(reinterpret_cast<uintptr_t>(hExpertKey));
        if (it != t.by_key.end()) {
            info = it->second;
            found = true;
        }
    }
    if (!found) {
        // A key the host runs itself: what NmSetExpertCapture attached.
        info.dwFrameNumber = INVALID_FRAME_NUMBER;
        std::shared_ptr<const nm::capture::Capture> keep;
        if (const nm::capture::Capture *cap = nm::capture::capture_of(hExpertKey, &keep)) {
            info.hCapture = const_cast<nm::capture::Capture *>(cap);
            size_t n = std::min(cap->path().size(), size_t(MAX_PATH - 1));
            std::memcpy(info.szCaptureFile, cap->path().data(), n);
        }
    }
    // Written out of the lock: a bad pointer crashes the expert's thread, not the table.
    *pExpertStartupInfo = info;
    return NMERR_SUCCESS;
}
