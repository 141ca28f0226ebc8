// proto_dist.cpp - sample expert "proto-dist": frames and bytes per protocol. Clean: every block it
// allocates is freed before Run returns.
#include <netmon.h>

#include <stdio.h>
#include <string.h>

#include "packet.h"

enum { P_TCP, P_UDP, P_HTTP, P_DNS, P_NTP, P_SYSLOG, P_OTHER_IP, P_ARP, P_IPV6, P_OTHER_ETH, P_MALFORMED, P_COUNT };
static const char *const kNames[P_COUNT] = {"TCP", "UDP", "HTTP", "DNS", "NTP", "syslog", "other IPv4",
                                            "ARP", "IPv6", "other", "malformed"};

typedef struct {
    DWORD frames[P_COUNT];
    __int64 bytes[P_COUNT];
} DISTRIBUTION;

static void count(DISTRIBUTION *dist, int proto, DWORD bytes) {
    dist->frames[proto]++;
    dist->bytes[proto] += bytes;
}

static void classify(DISTRIBUTION *dist, const FRAME *f) {
    PACKET pkt;
    if (!parse_packet(f, &pkt) || pkt.malformed) {
        count(dist, P_MALFORMED, f->FrameLength);
        return;
    }
    switch (pkt.ethertype) {
    case ETHERTYPE_ARP: count(dist, P_ARP, f->FrameLength); return;
    case ETHERTYPE_IPV6: count(dist, P_IPV6, f->FrameLength); return;
    case ETHERTYPE_IPV4: break;
    default: count(dist, P_OTHER_ETH, f->FrameLength); return;
    }
    if (pkt.tcp) {
        count(dist, P_TCP, f->FrameLength);
        if ((pkt.sport == 80 || pkt.dport == 80) && pkt.payload_len) count(dist, P_HTTP, pkt.payload_len);
    } else if (pkt.udp) {
        count(dist, P_UDP, f->FrameLength);
        if (pkt.sport == 53 || pkt.dport == 53) count(dist, P_DNS, f->FrameLength);
        else if (pkt.dport == 123) count(dist, P_NTP, f->FrameLength);
        else if (pkt.dport == 514) count(dist, P_SYSLOG, f->FrameLength);
    } else {
        count(dist, P_OTHER_IP, f->FrameLength);
    }
}

// "TCP 2411 (87%), UDP 600 (..)..." for the status line reports and the GUI show.
static char *summarize(HEXPERTKEY hKey, const DISTRIBUTION *dist, DWORD total) {
    DWORD err = 0;
    SIZE_T cap = 512;
    char *text = (char *)ExpertAllocMemory(hKey, cap, &err);
    if (!text) return NULL;
    size_t used = 0;
    text[0] = '\0';
    for (int p = 0; p < P_COUNT && used < cap; ++p) {
        if (!dist->frames[p]) continue;
        int n = snprintf(text + used, cap - used, "%s%s %u (%u%%)", used ? ", " : "", kNames[p], dist->frames[p],
                         total ? (unsigned)(dist->frames[p] * 100ull / total) : 0u);
        if (n < 0) break;
        used += (size_t)n;
    }
    return text;
}

extern "C" BOOL WINAPI Register(PEXPERTENUMINFO pExpertEnumInfo) {
    strncpy(pExpertEnumInfo->szName, "proto-dist", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szVendor, "nmleak samples", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szDescription, "Frames and bytes per protocol (a clean expert)",
            EXPERTSTRINGLENGTH - 1);
    pExpertEnumInfo->Version = 0; // must be 0
    return TRUE;
}

extern "C" BOOL WINAPI Run(HEXPERTKEY hExpertKey, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND) {
    DWORD err = NMERR_SUCCESS;
    DISTRIBUTION *dist = (DISTRIBUTION *)ExpertAllocMemory(hExpertKey, sizeof(DISTRIBUTION), &err);
    if (!dist) return FALSE;
    memset(dist, 0, sizeof *dist);

    DWORD total = frame_count(hExpertKey), seen = 0, rc;
    DWORD pos = NM_FRAME_BEFORE_FIRST;
    EXPERTFRAMEDESCRIPTOR desc;
    while ((rc = next_frame(hExpertKey, &pos, &desc)) == NMERR_SUCCESS) {
        classify(dist, desc.pFrame);
        if (progress(hExpertKey, ++seen, total, "counting protocols") == NMERR_EXPERT_TERMINATE) {
            rc = NMERR_EXPERT_TERMINATE;
            break;
        }
    }
    if (rc == NMERR_NO_MORE_FRAMES) {
        char *text = summarize(hExpertKey, dist, seen);
        ExpertIndicateStatus(hExpertKey, EXPERTSTATUS_DONE, seen, text, 100);
        ExpertFreeMemory(hExpertKey, text);
    }
    ExpertFreeMemory(hExpertKey, dist);
    return rc == NMERR_NO_MORE_FRAMES;
}
