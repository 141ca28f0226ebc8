// stubborn_slow.cpp - sample expert "stubborn-scan": a "deep inspection" that hashes every payload
// many times over and, having reached the end, starts again, forever. It ignores every return code,
// NMERR_EXPERT_TERMINATE included, so it overruns any deadline: the runner asks it to terminate,
// waits the grace period, then interrupts its thread while it runs its own code and unwinds it.
// Outcome "timeout"; the digest blocks it kept are reclaimed by the forced cleanup.
#include <netmon.h>

#include <string.h>
#include <unistd.h>

#include "packet.h"

enum { DIGESTS_PER_BLOCK = 64 };

typedef struct {
    DWORD digest[DIGESTS_PER_BLOCK];
} DIGEST_BLOCK;

// Burns CPU in the expert's own code (the part an interrupt usually lands in).
__attribute__((noinline)) static DWORD deep_hash(const BYTE *p, DWORD n, int rounds) {
    DWORD h = 2166136261u;
    for (int r = 0; r < rounds; ++r)
        for (DWORD i = 0; i < n; ++i) h = (h ^ p[i]) * 16777619u;
    return h;
}

// Keeps one digest block per 64 frames, never freed before the end it never reaches.
__attribute__((noinline)) static DIGEST_BLOCK *keep_digest_block(HEXPERTKEY hKey) {
    DIGEST_BLOCK *block = (DIGEST_BLOCK *)ExpertAllocMemory(hKey, sizeof(DIGEST_BLOCK), NULL);
    if (block) memset(block, 0, sizeof *block); // NULL after terminate: ignored, like everything else
    return block;
}

extern "C" BOOL WINAPI Register(PEXPERTENUMINFO pExpertEnumInfo) {
    strncpy(pExpertEnumInfo->szName, "stubborn-scan", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szVendor, "nmleak samples", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szDescription, "Payload hashing that never stops (ignores terminate)",
            EXPERTSTRINGLENGTH - 1);
    pExpertEnumInfo->Version = 0; // must be 0
    return TRUE;
}

extern "C" BOOL WINAPI Run(HEXPERTKEY hExpertKey, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND) {
    DIGEST_BLOCK *block = NULL;
    DWORD pos = NM_FRAME_BEFORE_FIRST, seen = 0;
    EXPERTFRAMEDESCRIPTOR desc;
    for (;;) {
        if (ExpertGetFrame(hExpertKey, GET_FRAME_NEXT_FORWARD, 0, pos, NULL, &desc) == NMERR_SUCCESS) {
            pos = desc.FrameNumber;
        } else { // the end, or terminate: either way, round again (wrongly)
            pos = NM_FRAME_BEFORE_FIRST;
            usleep(1000);
            continue;
        }
        if (seen % DIGESTS_PER_BLOCK == 0) block = keep_digest_block(hExpertKey);
        DWORD h = deep_hash(desc.pFrame->MacFrame, desc.pFrame->nBytesAvail, 40);
        if (block) block->digest[seen % DIGESTS_PER_BLOCK] = h;
        ++seen;
        ExpertIndicateStatus(hExpertKey, EXPERTSTATUS_RUNNING, seen, "hashing payloads", (LONG)(seen % 100));
    }
    return TRUE; // never reached
}
