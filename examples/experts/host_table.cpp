// host_table.cpp - sample expert "host-table": frames and bytes sent per IPv4 host, in an array it
// grows with ExpertReallocMemory as hosts turn up. Clean: the table is freed before Run returns.
#include <netmon.h>

#include <stdio.h>
#include <string.h>

#include "packet.h"

typedef struct {
    DWORD addr;
    DWORD frames;
    __int64 bytes;
} HOST;

typedef struct {
    HOST *hosts; // ExpertAllocMemory'd, grown by doubling with ExpertReallocMemory
    DWORD count, capacity;
    DWORD grows;
} HOST_TABLE;

// Returns the host's entry, growing the table when it is full; NULL with *pError on failure.
static HOST *host_table_find_or_add(HEXPERTKEY hKey, HOST_TABLE *t, DWORD addr, DWORD *pError) {
    for (DWORD i = 0; i < t->count; ++i)
        if (t->hosts[i].addr == addr) return &t->hosts[i];
    if (t->count == t->capacity) {
        DWORD capacity = t->capacity ? t->capacity * 2 : 4;
        // On failure Realloc leaves the old block untouched and still ours.
        HOST *grown = (HOST *)ExpertReallocMemory(hKey, t->hosts, capacity * sizeof(HOST), pError);
        if (!grown) return NULL;
        t->hosts = grown;
        t->capacity = capacity;
        t->grows++;
    }
    HOST *h = &t->hosts[t->count++];
    memset(h, 0, sizeof *h);
    h->addr = addr;
    return h;
}

static void format_addr(char *out, size_t cap, DWORD a) {
    snprintf(out, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

extern "C" BOOL WINAPI Register(PEXPERTENUMINFO pExpertEnumInfo) {
    strncpy(pExpertEnumInfo->szName, "host-table", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szVendor, "nmleak samples", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szDescription, "Top talkers, in a table grown with ExpertReallocMemory (clean)",
            EXPERTSTRINGLENGTH - 1);
    pExpertEnumInfo->Version = 0; // must be 0
    return TRUE;
}

extern "C" BOOL WINAPI Run(HEXPERTKEY hExpertKey, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND) {
    HOST_TABLE table;
    memset(&table, 0, sizeof table);
    DWORD total = frame_count(hExpertKey), seen = 0, rc, err = NMERR_SUCCESS;
    DWORD pos = NM_FRAME_BEFORE_FIRST;
    EXPERTFRAMEDESCRIPTOR desc;
    while ((rc = next_frame(hExpertKey, &pos, &desc)) == NMERR_SUCCESS) {
        PACKET pkt;
        if (parse_packet(desc.pFrame, &pkt) && pkt.ipv4) {
            HOST *h = host_table_find_or_add(hExpertKey, &table, pkt.src, &err);
            if (!h) {
                rc = err;
                break;
            }
            h->frames++;
            h->bytes += desc.pFrame->FrameLength;
        }
        if (progress(hExpertKey, ++seen, total, "counting hosts") == NMERR_EXPERT_TERMINATE) {
            rc = NMERR_EXPERT_TERMINATE;
            break;
        }
    }
    if (rc == NMERR_NO_MORE_FRAMES && table.count) {
        DWORD top = 0;
        for (DWORD i = 1; i < table.count; ++i)
            if (table.hosts[i].bytes > table.hosts[top].bytes) top = i;
        char addr[16], text[160];
        format_addr(addr, sizeof addr, table.hosts[top].addr);
        snprintf(text, sizeof text, "%u hosts (table grown %u times to %zu bytes); top talker %s: %lld bytes",
                 table.count, table.grows, (size_t)ExpertMemorySize(hExpertKey, table.hosts), addr,
                 (long long)table.hosts[top].bytes);
        ExpertIndicateStatus(hExpertKey, EXPERTSTATUS_DONE, table.count, text, 100);
    }
    ExpertFreeMemory(hExpertKey, table.hosts); // NULL (no IPv4 at all) is fine
    return rc == NMERR_NO_MORE_FRAMES;
}
