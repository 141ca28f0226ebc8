/* packet.h - bounds-checked Ethernet/IPv4/TCP/UDP header parsing shared by the sample experts.
 *
 * Everything is read from the FRAME's captured bytes (nBytesAvail), never past them: captures
 * hold truncated and malformed frames on purpose. (examples/experts/header_crash.cpp is the one
 * expert that skips these checks, and crashes for it.) */
#ifndef NM_EXAMPLES_PACKET_H
#define NM_EXAMPLES_PACKET_H

#include <netmon.h>

#include <string.h>

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP  0x0806
#define ETHERTYPE_IPV6 0x86DD
#define IPPROTO_NUM_TCP 6
#define IPPROTO_NUM_UDP 17

/* The position before the first frame, for the first GET_FRAME_NEXT_FORWARD (nmhost.h has it too). */
#ifndef NM_FRAME_BEFORE_FIRST
#define NM_FRAME_BEFORE_FIRST 0xFFFFFFFFu
#endif

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

typedef struct {
    WORD  ethertype;
    int   ipv4;        /* an IPv4 header was found and is well-formed */
    BYTE  ip_proto;
    DWORD src, dst;    /* IPv4 addresses, host byte order */
    int   tcp, udp;    /* a whole TCP / UDP header follows the IPv4 header */
    WORD  sport, dport;
    BYTE  tcp_flags;
    const BYTE *payload;
    DWORD payload_len; /* captured payload bytes */
    int   malformed;   /* something claimed more bytes than there are, or a bad length field */
} PACKET;

static inline WORD rd16(const BYTE *p) { return (WORD)((p[0] << 8) | p[1]); }
static inline DWORD rd32(const BYTE *p) { return ((DWORD)p[0] << 24) | ((DWORD)p[1] << 16) | ((DWORD)p[2] << 8) | p[3]; }

/* Fills *pkt from an Ethernet frame. Returns 0 when not even the Ethernet header was captured. */
static inline int parse_packet(const FRAME *f, PACKET *pkt) {
    const BYTE *b = f->MacFrame;
    DWORD n = f->nBytesAvail;
    memset(pkt, 0, sizeof *pkt);
    if (n < 14) { pkt->malformed = 1; return 0; }
    pkt->ethertype = rd16(b + 12);
    if (pkt->ethertype != ETHERTYPE_IPV4) return 1;
    b += 14;
    n -= 14;
    if (n < 20) { pkt->malformed = 1; return 1; }
    DWORD ihl = (DWORD)(b[0] & 0x0f) * 4;
    DWORD total = rd16(b + 2);
    if ((b[0] >> 4) != 4 || ihl < 20 || ihl > n || total < ihl) { pkt->malformed = 1; return 1; }
    pkt->ipv4 = 1;
    pkt->ip_proto = b[9];
    pkt->src = rd32(b + 12);
    pkt->dst = rd32(b + 16);
    if (total > n) pkt->malformed = 1; /* truncated capture: parse what is there */
    else n = total;
    b += ihl;
    n -= ihl;
    if (pkt->ip_proto == IPPROTO_NUM_TCP && n >= 20) {
        DWORD off = (DWORD)(b[12] >> 4) * 4;
        if (off < 20 || off > n) { pkt->malformed = 1; return 1; }
        pkt->tcp = 1;
        pkt->sport = rd16(b);
        pkt->dport = rd16(b + 2);
        pkt->tcp_flags = b[13];
        pkt->payload = b + off;
        pkt->payload_len = n - off;
    } else if (pkt->ip_proto == IPPROTO_NUM_UDP && n >= 8) {
        pkt->udp = 1;
        pkt->sport = rd16(b);
        pkt->dport = rd16(b + 2);
        pkt->payload = b + 8;
        pkt->payload_len = n - 8;
    } else if (pkt->ip_proto == IPPROTO_NUM_TCP || pkt->ip_proto == IPPROTO_NUM_UDP) {
        pkt->malformed = 1;
    }
    return 1;
}

/* The next frame after *pos (NM_FRAME_BEFORE_FIRST before the first): NMERR_SUCCESS,
 * NMERR_NO_MORE_FRAMES at the end, NMERR_EXPERT_TERMINATE when the host wants the expert to stop. */
static inline DWORD next_frame(HEXPERTKEY key, DWORD *pos, EXPERTFRAMEDESCRIPTOR *d) {
    DWORD rc = ExpertGetFrame(key, GET_FRAME_NEXT_FORWARD, 0, *pos, NULL, d);
    if (rc == NMERR_SUCCESS) *pos = d->FrameNumber;
    return rc;
}

/* How many frames the capture holds, by binary search with GET_SPECIFIED_FRAME (there is no count
 * call in the API): O(log N) calls. 0 when there are none (or the host says terminate). */
static inline DWORD frame_count(HEXPERTKEY key) {
    EXPERTFRAMEDESCRIPTOR d;
    DWORD lo = 0, hi = 1; /* frames [0, lo) exist; frame hi - 1 is still to be probed */
    while (hi < 0x80000000u && ExpertGetFrame(key, GET_SPECIFIED_FRAME, 0, hi - 1, NULL, &d) == NMERR_SUCCESS) {
        lo = hi;
        hi *= 2;
    }
    while (lo + 1 < hi) { /* frame lo - 1 exists (or lo == 0), frame hi - 1 does not */
        DWORD mid = lo + (hi - lo) / 2;
        if (ExpertGetFrame(key, GET_SPECIFIED_FRAME, 0, mid - 1, NULL, &d) == NMERR_SUCCESS) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* Reports progress every 256 frames; returns what ExpertIndicateStatus said (terminate...). */
static inline DWORD progress(HEXPERTKEY key, DWORD frame, DWORD total_hint, const char *text) {
    if (frame % 256 != 0) return NMERR_SUCCESS;
    LONG pct = total_hint ? (LONG)((frame * 100ull) / total_hint) : 0;
    return ExpertIndicateStatus(key, EXPERTSTATUS_RUNNING, frame, text, pct > 99 ? 99 : pct);
}

#endif /* NM_EXAMPLES_PACKET_H */
