// http_throw.cpp - sample expert "http-methods": counts HTTP request methods, and throws a C++
// exception (std::runtime_error) out of Run on a method it does not know (the capture holds one
// "BREW" request). The runner catches it: outcome "failed", the message recorded, and the method
// table and request copies the expert still held reclaimed.
#include <netmon.h>

#include <stdexcept>
#include <stdio.h>
#include <string.h>
#include <string>

#include "packet.h"

static const char *const kMethods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"};
enum { N_METHODS = sizeof kMethods / sizeof kMethods[0] };

typedef struct {
    DWORD count[N_METHODS];
    char *last_request[N_METHODS]; // a copy of the latest request line per method
} METHOD_TABLE;

// Keeps a copy of the request line, replacing the previous one.
static void remember_request(HEXPERTKEY hKey, METHOD_TABLE *t, int m, const BYTE *line, DWORD len) {
    DWORD err = 0;
    char *copy = (char *)ExpertReallocMemory(hKey, t->last_request[m], len + 1, &err);
    if (!copy) return;
    memcpy(copy, line, len);
    copy[len] = '\0';
    t->last_request[m] = copy;
}

static void count_request(HEXPERTKEY hKey, METHOD_TABLE *t, const PACKET *p, DWORD frame) {
    DWORD len = 0;
    while (len < p->payload_len && len < 16 && p->payload[len] != ' ') ++len;
    if (len == 0 || len == p->payload_len || len == 16) return; // not a request line
    for (int m = 0; m < N_METHODS; ++m) {
        if (strlen(kMethods[m]) == len && memcmp(kMethods[m], p->payload, len) == 0) {
            t->count[m]++;
            DWORD eol = 0;
            while (eol < p->payload_len && p->payload[eol] != '\r') ++eol;
            remember_request(hKey, t, m, p->payload, eol);
            return;
        }
    }
    throw std::runtime_error("frame " + std::to_string(frame) + ": unknown HTTP method '" +
                             std::string((const char *)p->payload, len) + "'");
}

extern "C" BOOL WINAPI Register(PEXPERTENUMINFO pExpertEnumInfo) {
    strncpy(pExpertEnumInfo->szName, "http-methods", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szVendor, "nmleak samples", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szDescription, "HTTP request methods (throws on an unknown one)",
            EXPERTSTRINGLENGTH - 1);
    pExpertEnumInfo->Version = 0; // must be 0
    return TRUE;
}

extern "C" BOOL WINAPI Run(HEXPERTKEY hExpertKey, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND) {
    DWORD err = NMERR_SUCCESS;
    METHOD_TABLE *t = (METHOD_TABLE *)ExpertAllocMemory(hExpertKey, sizeof(METHOD_TABLE), &err);
    if (!t) return FALSE;
    memset(t, 0, sizeof *t);
    DWORD total = frame_count(hExpertKey), seen = 0, rc;
    DWORD pos = NM_FRAME_BEFORE_FIRST;
    EXPERTFRAMEDESCRIPTOR desc;
    while ((rc = next_frame(hExpertKey, &pos, &desc)) == NMERR_SUCCESS) {
        PACKET pkt;
        if (parse_packet(desc.pFrame, &pkt) && pkt.tcp && pkt.dport == 80 && pkt.payload_len)
            count_request(hExpertKey, t, &pkt, desc.FrameNumber); // may throw: t is left to the host
        if (progress(hExpertKey, ++seen, total, "counting HTTP methods") == NMERR_EXPERT_TERMINATE) {
            rc = NMERR_EXPERT_TERMINATE;
            break;
        }
    }
    char text[96];
    snprintf(text, sizeof text, "GET %u, POST %u, HEAD %u", t->count[0], t->count[1], t->count[2]);
    ExpertIndicateStatus(hExpertKey, EXPERTSTATUS_DONE, seen, text, 100);
    for (int m = 0; m < N_METHODS; ++m) ExpertFreeMemory(hExpertKey, t->last_request[m]);
    ExpertFreeMemory(hExpertKey, t);
    return rc == NMERR_NO_MORE_FRAMES;
}
