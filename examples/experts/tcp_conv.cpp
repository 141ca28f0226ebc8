// tcp_conv.cpp - sample expert "tcp-conv": tracks TCP conversations in a hash table. It has a
// leak on purpose: a conversation that ends (FIN from both sides, or RST) is unlinked from the table
// and forgotten, never freed, so every closed conversation's block, allocated in
// conv_table_insert, is still held when Run returns TRUE: the leak report points there.
// Each reset conversation is reported as an event (ExpertSubmitEvent, severity warning), and the
// totals as an informational one, as Network Monitor's Event Viewer would list them.
#include <netmon.h>

#include <stdio.h>
#include <string.h>

#include "packet.h"

typedef struct CONVERSATION {
    DWORD addr_lo, addr_hi; // the two ends, ordered so both directions find the same entry
    WORD port_lo, port_hi;
    DWORD frames;
    __int64 bytes;
    BYTE fin_from_lo, fin_from_hi;
    struct CONVERSATION *next;
} CONVERSATION;

typedef struct {
    CONVERSATION **buckets;
    DWORD n_buckets;
    DWORD open, opened, closed, reset;
} CONV_TABLE;

static DWORD conv_hash(const CONV_TABLE *t, DWORD a, DWORD b, WORD pa, WORD pb) {
    DWORD h = a * 2654435761u ^ b * 2246822519u ^ ((DWORD)pa << 16 | pb) * 3266489917u;
    return (h ^ (h >> 15)) % t->n_buckets;
}

static void conv_key(const PACKET *p, DWORD *a, DWORD *b, WORD *pa, WORD *pb, int *from_lo) {
    *from_lo = p->src < p->dst || (p->src == p->dst && p->sport <= p->dport);
    *a = *from_lo ? p->src : p->dst;
    *b = *from_lo ? p->dst : p->src;
    *pa = *from_lo ? p->sport : p->dport;
    *pb = *from_lo ? p->dport : p->sport;
}

static CONVERSATION *conv_table_find(CONV_TABLE *t, DWORD a, DWORD b, WORD pa, WORD pb) {
    for (CONVERSATION *c = t->buckets[conv_hash(t, a, b, pa, pb)]; c; c = c->next)
        if (c->addr_lo == a && c->addr_hi == b && c->port_lo == pa && c->port_hi == pb) return c;
    return NULL;
}

// noinline: the leak report's top frame should be this function even in an optimized build.
__attribute__((noinline)) static CONVERSATION *conv_table_insert(HEXPERTKEY hKey, CONV_TABLE *t, DWORD a, DWORD b,
                                                                 WORD pa, WORD pb, DWORD *pError) {
    CONVERSATION *c = (CONVERSATION *)ExpertAllocMemory(hKey, sizeof(CONVERSATION), pError);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->addr_lo = a;
    c->addr_hi = b;
    c->port_lo = pa;
    c->port_hi = pb;
    DWORD h = conv_hash(t, a, b, pa, pb);
    c->next = t->buckets[h];
    t->buckets[h] = c;
    t->open++;
    t->opened++;
    return c;
}

// The bug: the conversation is unlinked but its memory is never given back.
static void conv_table_forget(CONV_TABLE *t, CONVERSATION *gone) {
    CONVERSATION **link = &t->buckets[conv_hash(t, gone->addr_lo, gone->addr_hi, gone->port_lo, gone->port_hi)];
    while (*link && *link != gone) link = &(*link)->next;
    if (*link) *link = gone->next;
    t->open--;
}

static void set_ip_column(NMCOLUMNINFO *c, const char *name, DWORD host_order) {
    BYTE b[4] = {BYTE(host_order >> 24), BYTE(host_order >> 16), BYTE(host_order >> 8), BYTE(host_order)};
    c->szColumnName = (LPSTR)name;
    c->VariantData.Type = NMCOLUMNTYPE_IPADDR;
    memcpy(&c->VariantData.Value.IPAddrVal, b, 4); // network order, as in the frame
}

static void set_number_column(NMCOLUMNINFO *c, const char *name, NMCOLUMNTYPE type, DWORD v) {
    c->szColumnName = (LPSTR)name;
    c->VariantData.Type = type;
    if (type == NMCOLUMNTYPE_UINT16) c->VariantData.Value.Uint16Val = WORD(v);
    else if (type == NMCOLUMNTYPE_FRAME) c->VariantData.Value.FrameVal = v;
    else c->VariantData.Value.Uint32Val = v;
}

// An NMEVENTDATA with room for six columns after it.
struct CONV_EVENT {
    alignas(NMEVENTDATA) BYTE bytes[sizeof(NMEVENTDATA) + 6 * sizeof(NMCOLUMNINFO)];
    NMEVENTDATA &head() { return *reinterpret_cast<NMEVENTDATA *>(bytes); }
};

static DWORD report_reset(HEXPERTKEY hKey, const CONVERSATION *c, DWORD frame_number) {
    CONV_EVENT ev;
    char description[96];
    memset(&ev, 0, sizeof ev);
    snprintf(description, sizeof description, "TCP conversation reset after %u frames", c->frames);
    ev.head().Version = 0;
    ev.head().EventIdent = 1;
    ev.head().Flags = EVENT_FLAG_EXPERT;
    ev.head().Severity = NMEVENT_SEVERITY_WARNING;
    ev.head().szSourceName = (LPSTR) "tcp-conv";
    ev.head().szEventName = (LPSTR) "Connection reset";
    ev.head().szDescription = description;
    ev.head().NumColumns = 6;
    set_ip_column(&ev.head().Column[0], "Address A", c->addr_lo);
    set_number_column(&ev.head().Column[1], "Port A", NMCOLUMNTYPE_UINT16, c->port_lo);
    set_ip_column(&ev.head().Column[2], "Address B", c->addr_hi);
    set_number_column(&ev.head().Column[3], "Port B", NMCOLUMNTYPE_UINT16, c->port_hi);
    set_number_column(&ev.head().Column[4], "Frames", NMCOLUMNTYPE_UINT32, c->frames);
    set_number_column(&ev.head().Column[5], "Reset in frame", NMCOLUMNTYPE_FRAME, frame_number);
    return ExpertSubmitEvent(hKey, &ev.head());
}

static DWORD report_totals(HEXPERTKEY hKey, const CONV_TABLE *t) {
    CONV_EVENT ev;
    memset(&ev, 0, sizeof ev);
    ev.head().EventIdent = 2;
    ev.head().Flags = EVENT_FLAG_EXPERT;
    ev.head().Severity = NMEVENT_SEVERITY_INFORMATIONAL;
    ev.head().szSourceName = (LPSTR) "tcp-conv";
    ev.head().szEventName = (LPSTR) "Conversations";
    ev.head().szDescription = (LPSTR) "TCP conversations in the capture";
    ev.head().Justification = (JTYPE) "A conversation starts with a SYN and ends with a FIN from each side, or a reset.";
    ev.head().NumColumns = 4;
    set_number_column(&ev.head().Column[0], "Opened", NMCOLUMNTYPE_UINT32, t->opened);
    set_number_column(&ev.head().Column[1], "Closed", NMCOLUMNTYPE_UINT32, t->closed);
    set_number_column(&ev.head().Column[2], "Reset", NMCOLUMNTYPE_UINT32, t->reset);
    set_number_column(&ev.head().Column[3], "Still open", NMCOLUMNTYPE_UINT32, t->open);
    return ExpertSubmitEvent(hKey, &ev.head());
}

static DWORD track_segment(HEXPERTKEY hKey, CONV_TABLE *t, const PACKET *p, DWORD frame_bytes, DWORD frame_number) {
    DWORD a, b, err = NMERR_SUCCESS;
    WORD pa, pb;
    int from_lo;
    conv_key(p, &a, &b, &pa, &pb, &from_lo);
    CONVERSATION *c = conv_table_find(t, a, b, pa, pb);
    if (!c) {
        if (!(p->tcp_flags & TCP_SYN)) return NMERR_SUCCESS; // joined mid-stream: ignore
        c = conv_table_insert(hKey, t, a, b, pa, pb, &err);
        if (!c) return err;
    }
    c->frames++;
    c->bytes += frame_bytes;
    if (p->tcp_flags & TCP_FIN) {
        if (from_lo) c->fin_from_lo = 1;
        else c->fin_from_hi = 1;
    }
    if (p->tcp_flags & TCP_RST) {
        t->reset++;
        t->closed++;
        conv_table_forget(t, c);
        if (report_reset(hKey, c, frame_number) == NMERR_EXPERT_TERMINATE) return NMERR_EXPERT_TERMINATE;
    } else if (c->fin_from_lo && c->fin_from_hi && !(p->tcp_flags & TCP_FIN)) { // the last ACK
        t->closed++;
        conv_table_forget(t, c);
    }
    return NMERR_SUCCESS;
}

static void conv_table_destroy(HEXPERTKEY hKey, CONV_TABLE *t) {
    for (DWORD i = 0; i < t->n_buckets; ++i) {
        CONVERSATION *c = t->buckets[i];
        while (c) {
            CONVERSATION *next = c->next;
            ExpertFreeMemory(hKey, c);
            c = next;
        }
    }
    ExpertFreeMemory(hKey, t->buckets);
    ExpertFreeMemory(hKey, t);
}

extern "C" BOOL WINAPI Register(PEXPERTENUMINFO pExpertEnumInfo) {
    strncpy(pExpertEnumInfo->szName, "tcp-conv", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szVendor, "nmleak samples", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertEnumInfo->szDescription, "TCP conversations (leaks every closed conversation)",
            EXPERTSTRINGLENGTH - 1);
    pExpertEnumInfo->Version = 0; // must be 0
    return TRUE;
}

extern "C" BOOL WINAPI Run(HEXPERTKEY hExpertKey, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND) {
    DWORD err = NMERR_SUCCESS;
    CONV_TABLE *t = (CONV_TABLE *)ExpertAllocMemory(hExpertKey, sizeof(CONV_TABLE), &err);
    if (!t) return FALSE;
    memset(t, 0, sizeof *t);
    t->n_buckets = 251;
    t->buckets = (CONVERSATION **)ExpertAllocMemory(hExpertKey, t->n_buckets * sizeof(CONVERSATION *), &err);
    if (!t->buckets) {
        ExpertFreeMemory(hExpertKey, t);
        return FALSE;
    }
    memset(t->buckets, 0, t->n_buckets * sizeof(CONVERSATION *));

    DWORD total = frame_count(hExpertKey), seen = 0, rc;
    DWORD pos = NM_FRAME_BEFORE_FIRST;
    EXPERTFRAMEDESCRIPTOR desc;
    while ((rc = next_frame(hExpertKey, &pos, &desc)) == NMERR_SUCCESS) {
        PACKET pkt;
        if (parse_packet(desc.pFrame, &pkt) && pkt.tcp && !pkt.malformed) {
            rc = track_segment(hExpertKey, t, &pkt, desc.pFrame->FrameLength, desc.FrameNumber);
            if (rc != NMERR_SUCCESS) break;
        }
        if (progress(hExpertKey, ++seen, total, "tracking conversations") == NMERR_EXPERT_TERMINATE) {
            rc = NMERR_EXPERT_TERMINATE;
            break;
        }
    }
    char text[160];
    snprintf(text, sizeof text, "%u conversations: %u closed (%u reset), %u still open", t->opened, t->closed,
             t->reset, t->open);
    ExpertIndicateStatus(hExpertKey, EXPERTSTATUS_DONE, t->opened, text, 100);
    if (rc == NMERR_NO_MORE_FRAMES) report_totals(hExpertKey, t);
    conv_table_destroy(hExpertKey, t); // frees what is still in the table: the forgotten ones leak
    return rc == NMERR_NO_MORE_FRAMES;
}
