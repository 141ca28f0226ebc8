// header_crash.cpp - sample expert "tcp-flags": a histogram of TCP flag combinations whose header
// lookup trusts the IPv4 header length field. On the capture's first frame with a header length
// below 20 bytes tcp_header_of() finds no TCP header and returns NULL, which count_flags() does
// not check: SIGSEGV at address 0xd (the flags byte of a NULL header). The runner contains the
// crash (outcome "crashed") and reclaims the histogram the expert still held.
#include <netmon.h>

#include <stdio.h>
#include <string.h>

#include "packet.h"

typedef struct {
    DWORD by_flags[256];
    DWORD by_port[1024]; // destination ports below 1024
    DWORD segments;
} FLAG_STATS;

// The TCP header of an IPv4/TCP frame, located by the IPv4 header length. NULL when the length
// field is too small to be a header: the caller is supposed to check.
// noinline: inlined, the compiler would see the NULL and could turn the dereference into a trap
// (SIGILL) instead of the SIGSEGV this sample is about.
__attribute__((noinline)) static const BYTE *tcp_header_of(const FRAME *f) {
    const BYTE *ip = f->MacFrame + 14;
    DWORD ihl = (DWORD)(ip[0] & 0x0f) * 4;
    if (ihl < 20) return NULL;
    return ip + ihl;
}

__attribute__((noinline)) static void count_flags(FLAG_STATS *stats, const FRAME *f) {
    const BYTE *tcp = tcp_header_of(f);
    stats->by_flags[tcp[13]]++; // the bug: tcp may be NULL
    WORD dport = rd16(tcp + 2);
    if (dport < 1024) stats->by_port[dport]++;
    stats->segments++;
}

extern "C" BOOL WINAPI Register(PEXPERTENUMINFO pExpertEnumInfo) {
    strncpy(pExpertEnumInfo->szName, "tcp-flags", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szVendor, "nmleak samples", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szDescription, "TCP flag histogram (crashes on a malformed IPv4 header)",
            EXPERTSTRINGLENGTH - 1);
    pExpertEnumInfo->Version = 0; // must be 0
    return TRUE;
}

extern "C" BOOL WINAPI Run(HEXPERTKEY hExpertKey, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND) {
    DWORD err = NMERR_SUCCESS;
    FLAG_STATS *stats = (FLAG_STATS *)ExpertAllocMemory(hExpertKey, sizeof(FLAG_STATS), &err);
    if (!stats) return FALSE;
    memset(stats, 0, sizeof *stats);
    DWORD total = frame_count(hExpertKey), seen = 0, rc;
    DWORD pos = NM_FRAME_BEFORE_FIRST;
    EXPERTFRAMEDESCRIPTOR desc;
    while ((rc = next_frame(hExpertKey, &pos, &desc)) == NMERR_SUCCESS) {
        const FRAME *f = desc.pFrame;
        // Checks that the frame is long enough for Ethernet + IPv4 + TCP, and that it is TCP...
        if (f->nBytesAvail >= 14 + 20 + 20 && rd16(f->MacFrame + 12) == ETHERTYPE_IPV4 && f->MacFrame[23] == 6)
            count_flags(stats, f); // ...but not the header length
        if (progress(hExpertKey, ++seen, total, "counting TCP flags") == NMERR_EXPERT_TERMINATE) {
            rc = NMERR_EXPERT_TERMINATE;
            break;
        }
    }
    char text[96];
    snprintf(text, sizeof text, "%u segments, %u SYN, %u FIN|ACK", stats->segments, stats->by_flags[TCP_SYN],
             stats->by_flags[TCP_FIN | TCP_ACK]);
    ExpertIndicateStatus(hExpertKey, EXPERTSTATUS_DONE, stats->segments, text, 100);
    ExpertFreeMemory(hExpertKey, stats);
    return rc == NMERR_NO_MORE_FRAMES;
}
