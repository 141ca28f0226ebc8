// polite_slow.cpp - sample expert "dns-latency": pairs DNS queries with their answers, slowly (an
// expensive analysis, simulated with a 2 ms pause per frame), so it overruns the demo's deadline.
// It honours terminate like a Netmon expert should: every ExpertGetFrame, ExpertAllocMemory and
// ExpertIndicateStatus result is checked for NMERR_EXPERT_TERMINATE, and then it frees what it
// holds and returns. Outcome "terminated", nothing left to reclaim.
#include <netmon.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "packet.h"

typedef struct PENDING_QUERY {
    WORD id;
    DWORD client;
    __int64 sent_us;
    struct PENDING_QUERY *next;
} PENDING_QUERY;

typedef struct {
    PENDING_QUERY *pending;
    DWORD answered;
    __int64 total_latency_us;
} DNS_STATE;

static void free_pending(HEXPERTKEY hKey, DNS_STATE *s) {
    while (s->pending) {
        PENDING_QUERY *next = s->pending->next;
        ExpertFreeMemory(hKey, s->pending); // after terminate: still frees, returns NMERR_EXPERT_TERMINATE
        s->pending = next;
    }
}

// NMERR_SUCCESS, or the error (NMERR_EXPERT_TERMINATE...) that should end the run.
static DWORD analyze_dns(HEXPERTKEY hKey, DNS_STATE *s, const PACKET *p, const FRAME *f) {
    if (!p->udp || (p->dport != 53 && p->sport != 53) || p->payload_len < 12) return NMERR_SUCCESS;
    WORD id = rd16(p->payload);
    int answer = (p->payload[2] & 0x80) != 0;
    if (!answer) {
        DWORD err = NMERR_SUCCESS;
        PENDING_QUERY *q = (PENDING_QUERY *)ExpertAllocMemory(hKey, sizeof(PENDING_QUERY), &err);
        if (!q) return err;
        q->id = id;
        q->client = p->src;
        q->sent_us = f->TimeStamp;
        q->next = s->pending;
        s->pending = q;
        return NMERR_SUCCESS;
    }
    for (PENDING_QUERY **link = &s->pending; *link; link = &(*link)->next) {
        PENDING_QUERY *q = *link;
        if (q->id == id && q->client == p->dst) {
            s->answered++;
            s->total_latency_us += f->TimeStamp - q->sent_us;
            *link = q->next;
            return ExpertFreeMemory(hKey, q) == NMERR_EXPERT_TERMINATE ? NMERR_EXPERT_TERMINATE : NMERR_SUCCESS;
        }
    }
    return NMERR_SUCCESS;
}

extern "C" BOOL WINAPI Register(PEXPERTENUMINFO pExpertEnumInfo) {
    strncpy(pExpertEnumInfo->szName, "dns-latency", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szVendor, "nmleak samples", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szDescription, "DNS answer latency (slow; stops cleanly when asked to terminate)",
            EXPERTSTRINGLENGTH - 1);
    pExpertEnumInfo->Version = 0; // must be 0
    return TRUE;
}

extern "C" BOOL WINAPI Run(HEXPERTKEY hExpertKey, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND) {
    DWORD err = NMERR_SUCCESS;
    DNS_STATE *s = (DNS_STATE *)ExpertAllocMemory(hExpertKey, sizeof(DNS_STATE), &err);
    if (!s) return FALSE;
    memset(s, 0, sizeof *s);
    DWORD total = frame_count(hExpertKey), seen = 0, rc;
    DWORD pos = NM_FRAME_BEFORE_FIRST;
    EXPERTFRAMEDESCRIPTOR desc;
    while ((rc = next_frame(hExpertKey, &pos, &desc)) == NMERR_SUCCESS) {
        usleep(2000); // the "expensive" analysis: about 6 s for the sample capture
        PACKET pkt;
        if (parse_packet(desc.pFrame, &pkt) && (rc = analyze_dns(hExpertKey, s, &pkt, desc.pFrame)) != NMERR_SUCCESS)
            break;
        if ((rc = progress(hExpertKey, ++seen, total, "matching DNS answers")) != NMERR_SUCCESS) break;
    }
    if (rc == NMERR_NO_MORE_FRAMES) {
        char text[96];
        snprintf(text, sizeof text, "%u answers, mean latency %lld us", s->answered,
                 s->answered ? (long long)(s->total_latency_us / s->answered) : 0LL);
        ExpertIndicateStatus(hExpertKey, EXPERTSTATUS_DONE, s->answered, text, 100);
    }
    // Terminated or done: either way everything goes back before returning.
    free_pending(hExpertKey, s);
    ExpertFreeMemory(hExpertKey, s);
    return rc == NMERR_NO_MORE_FRAMES;
}
