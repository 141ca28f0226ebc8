// make_capture.cpp - writes the demo's sample capture: a deterministic pcap of a few thousand
// Ethernet frames (TCP/HTTP conversations with SYN and FIN or RST, DNS queries and answers, NTP,
// syslog, ARP, IPv6, and a few truncated or malformed frames).
//
// Usage: nm_make_capture OUT.pcap. Same bytes on every run and machine: a fixed-seed splitmix64
// drives every choice, and nothing depends on the clock or on std:: distributions (whose output
// differs between standard libraries).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<uint8_t>;

struct Rng {
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    uint32_t below(uint32_t n) { return uint32_t(next() % n); }
};

void put16(Bytes &b, uint16_t v) { b.push_back(uint8_t(v >> 8)); b.push_back(uint8_t(v)); }
void put32(Bytes &b, uint32_t v) { put16(b, uint16_t(v >> 16)); put16(b, uint16_t(v)); }
void set16(Bytes &b, size_t at, uint16_t v) { b[at] = uint8_t(v >> 8); b[at + 1] = uint8_t(v); }

uint16_t checksum(const uint8_t *p, size_t n, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += uint32_t(p[n - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(~sum);
}

uint32_t ip(int a, int b, int c, int d) { return uint32_t(a) << 24 | uint32_t(b) << 16 | uint32_t(c) << 8 | uint32_t(d); }

void ethernet(Bytes &f, uint32_t src_ip, uint32_t dst_ip, uint16_t ethertype) {
    const uint8_t dst[6] = {0x02, 0x00, uint8_t(dst_ip >> 24), uint8_t(dst_ip >> 16), uint8_t(dst_ip >> 8), uint8_t(dst_ip)};
    const uint8_t src[6] = {0x02, 0x00, uint8_t(src_ip >> 24), uint8_t(src_ip >> 16), uint8_t(src_ip >> 8), uint8_t(src_ip)};
    f.insert(f.end(), dst, dst + 6);
    f.insert(f.end(), src, src + 6);
    put16(f, ethertype);
}

uint16_t g_ip_id = 1;

// Ethernet + IPv4 + transport header + payload, with real IP and TCP/UDP checksums.
Bytes ipv4_frame(uint32_t src, uint32_t dst, uint8_t proto, const Bytes &transport, const Bytes &payload) {
    Bytes f;
    ethernet(f, src, dst, 0x0800);
    size_t iph = f.size();
    uint16_t total = uint16_t(20 + transport.size() + payload.size());
    f.push_back(0x45); f.push_back(0);
    put16(f, total); put16(f, g_ip_id++); put16(f, 0x4000);
    f.push_back(64); f.push_back(proto); put16(f, 0);
    put32(f, src); put32(f, dst);
    set16(f, iph + 10, checksum(f.data() + iph, 20));
    size_t th = f.size();
    f.insert(f.end(), transport.begin(), transport.end());
    f.insert(f.end(), payload.begin(), payload.end());
    uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + uint32_t(f.size() - th);
    size_t sum_at = th + (proto == 6 ? 16 : 6);
    set16(f, sum_at, checksum(f.data() + th, f.size() - th, pseudo));
    return f;
}

Bytes tcp(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
          const Bytes &payload) {
    Bytes t;
    put16(t, sport); put16(t, dport); put32(t, seq); put32(t, ack);
    t.push_back(5 << 4); t.push_back(flags); put16(t, 65535); put16(t, 0); put16(t, 0);
    return ipv4_frame(src, dst, 6, t, payload);
}

Bytes udp(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, const Bytes &payload) {
    Bytes u;
    put16(u, sport); put16(u, dport); put16(u, uint16_t(8 + payload.size())); put16(u, 0);
    return ipv4_frame(src, dst, 17, u, payload);
}

Bytes text(const std::string &s) { return Bytes(s.begin(), s.end()); }

const char *const kHosts[] = {"www.example.com", "nmleak.test", "www.kernel.org", "debian.org", "netmon.example",
                              "mirror.local", "api.example.net", "cdn.example.org"};
const char *const kPaths[] = {"/", "/index.html", "/images/logo.png", "/api/v1/items", "/download/netmon.zip"};

// One conversation or exchange: its frames, emitted one at a time.
struct Session {
    std::vector<Bytes> frames;
    size_t next = 0;
};

Session http_session(Rng &rng, int n, bool rst, bool left_open) {
    Session s;
    uint32_t client = ip(10, 0, 0, 2 + int(rng.below(40)));
    uint32_t server = rng.below(2) ? ip(192, 168, 1, 10) : ip(192, 168, 1, 20);
    uint16_t cport = uint16_t(40000 + n);
    uint32_t cs = uint32_t(rng.next()), ss = uint32_t(rng.next());
    const char *method = n == 137 ? "BREW" : (rng.below(5) == 0 ? "POST" : "GET"); // RFC 2324, once
    std::string req = std::string(method) + " " + kPaths[rng.below(5)] + " HTTP/1.1\r\nHost: " + kHosts[rng.below(8)] +
                      "\r\nUser-Agent: nmleak-sample/1.0\r\nAccept: */*\r\n\r\n";
    auto add = [&](bool from_client, uint8_t flags, const Bytes &payload) {
        if (from_client) {
            s.frames.push_back(tcp(client, server, cport, 80, cs, ss, flags, payload));
            cs += uint32_t(payload.size()) + ((flags & 0x03) ? 1 : 0);
        } else {
            s.frames.push_back(tcp(server, client, 80, cport, ss, cs, flags, payload));
            ss += uint32_t(payload.size()) + ((flags & 0x03) ? 1 : 0);
        }
    };
    add(true, 0x02, {});          // SYN
    add(false, 0x12, {});         // SYN-ACK
    add(true, 0x10, {});          // ACK
    add(true, 0x18, text(req));   // request
    add(false, 0x10, {});
    uint32_t body = 200 + rng.below(3000);
    std::string head = "HTTP/1.1 200 OK\r\nServer: sample\r\nContent-Length: " + std::to_string(body) + "\r\n\r\n";
    Bytes resp = text(head);
    for (uint32_t i = 0; i < body; ++i) resp.push_back(uint8_t('a' + (i * 7 + uint32_t(n)) % 26));
    for (size_t at = 0; at < resp.size(); at += 1400) {
        size_t len = resp.size() - at < 1400 ? resp.size() - at : 1400;
        add(false, 0x18, Bytes(resp.begin() + long(at), resp.begin() + long(at + len)));
        add(true, 0x10, {});
    }
    if (left_open) return s;       // never closed: still open when the capture ends
    if (rst) { add(true, 0x14, {}); return s; } // RST|ACK
    add(true, 0x11, {});          // FIN|ACK
    add(false, 0x10, {});
    add(false, 0x11, {});
    add(true, 0x10, {});
    return s;
}

void dns_name(Bytes &b, const std::string &name) {
    size_t start = 0;
    while (start < name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        b.push_back(uint8_t(dot - start));
        b.insert(b.end(), name.begin() + long(start), name.begin() + long(dot));
        start = dot + 1;
    }
    b.push_back(0);
}

Session dns_session(Rng &rng, int n) {
    Session s;
    uint32_t client = ip(10, 0, 0, 2 + int(rng.below(40))), server = ip(8, 8, 8, 8);
    uint16_t id = uint16_t(0x1000 + n), cport = uint16_t(50000 + rng.below(10000));
    std::string name = kHosts[rng.below(8)];
    Bytes q;
    put16(q, id); put16(q, 0x0100); put16(q, 1); put16(q, 0); put16(q, 0); put16(q, 0);
    dns_name(q, name);
    put16(q, 1); put16(q, 1);
    s.frames.push_back(udp(client, server, cport, 53, q));
    Bytes a = q;
    set16(a, 2, 0x8180);
    set16(a, 6, 1);
    put16(a, 0xc00c); put16(a, 1); put16(a, 1); put32(a, 300); put16(a, 4);
    put32(a, ip(93, 184, int(rng.below(256)), int(rng.below(256))));
    s.frames.push_back(udp(server, client, 53, cport, a));
    return s;
}

Session single_frame(Rng &rng, int kind) {
    Session s;
    uint32_t host = ip(10, 0, 0, 2 + int(rng.below(40)));
    if (kind == 0) { // NTP client request
        Bytes p(48, 0);
        p[0] = 0x23;
        s.frames.push_back(udp(host, ip(192, 168, 1, 1), 123, 123, p));
    } else if (kind == 1) { // syslog
        s.frames.push_back(udp(host, ip(192, 168, 1, 5), 514, 514, text("<13>sample: link up on eth0")));
    } else if (kind == 2) { // ARP who-has
        Bytes f;
        ethernet(f, host, 0xffffffff, 0x0806);
        put16(f, 1); put16(f, 0x0800); f.push_back(6); f.push_back(4); put16(f, 1);
        f.insert(f.end(), {0x02, 0x00}); put32(f, host); put32(f, host);
        f.insert(f.end(), 6, 0); put32(f, ip(192, 168, 1, 1));
        s.frames.push_back(f);
    } else { // IPv6 neighbour solicitation-sized frame (not parsed by the samples)
        Bytes f;
        ethernet(f, host, ip(51, 0, 0, 1), 0x86DD);
        put32(f, 0x60000000); put16(f, 32); f.push_back(58); f.push_back(255);
        f.insert(f.end(), 32 + 32, 0x11);
        s.frames.push_back(f);
    }
    return s;
}

// The malformed frames, one per kind in turn. Each carries its on-the-wire length separately.
struct Frame {
    Bytes bytes;
    uint32_t wire_len;
};

Frame malformed(Rng &rng, int kind) {
    uint32_t a = ip(10, 0, 0, 2 + int(rng.below(40))), b = ip(192, 168, 1, 10);
    Bytes f = tcp(a, b, uint16_t(30000 + rng.below(1000)), 80, 1, 1, 0x10, text("short"));
    uint32_t wire = uint32_t(f.size());
    switch (kind % 4) {
    case 0: f.resize(20); break;            // truncated inside the IPv4 header (snap length)
    case 1: f[14] = 0x42; break;            // IPv4 header length 8 bytes (< 20): malformed
    case 2: f[14 + 20 + 12] = 0x20; break;  // TCP data offset 8 bytes (< 20)
    case 3: set16(f, 16, 1500); break;      // IPv4 total length far beyond the frame
    }
    return {f, kind % 4 == 0 ? wire : uint32_t(f.size())};
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT.pcap\n", argv[0]);
        return 2;
    }
    Rng rng{0x6E6D6C65616B2024ull};
    // The plan: what sessions start, in order.
    std::vector<int> plan; // 0 http, 1 dns, 2.. single frames
    for (int i = 0; i < 200; ++i) plan.push_back(0);
    for (int i = 0; i < 250; ++i) plan.push_back(1);
    for (int i = 0; i < 60; ++i) plan.push_back(2);  // NTP
    for (int i = 0; i < 40; ++i) plan.push_back(3);  // syslog
    for (int i = 0; i < 40; ++i) plan.push_back(4);  // ARP
    for (int i = 0; i < 10; ++i) plan.push_back(5);  // IPv6
    for (size_t i = plan.size(); i > 1; --i) std::swap(plan[i - 1], plan[rng.below(uint32_t(i))]);

    std::vector<Frame> out;
    std::vector<Session> active;
    size_t planned = 0;
    int http_n = 0, dns_n = 0, malformed_n = 0;
    while (planned < plan.size() || !active.empty()) {
        while (active.size() < 8 && planned < plan.size()) {
            int kind = plan[planned++];
            if (kind == 0) {
                int n = http_n++;
                active.push_back(http_session(rng, n, n % 10 == 3, n % 13 == 5 || n >= 197));
            } else if (kind == 1) {
                active.push_back(dns_session(rng, dns_n++));
            } else {
                active.push_back(single_frame(rng, kind - 2));
            }
        }
        size_t pick = rng.below(uint32_t(active.size()));
        Session &s = active[pick];
        out.push_back({s.frames[s.next], uint32_t(s.frames[s.next].size())});
        if (++s.next == s.frames.size()) active.erase(active.begin() + long(pick));
        if (out.size() % 250 == 249) out.push_back(malformed(rng, malformed_n++));
    }

    std::FILE *fp = std::fopen(argv[1], "wb");
    if (!fp) {
        std::perror(argv[1]);
        return 1;
    }
    Bytes head;
    auto le32 = [](Bytes &b, uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i))); };
    auto le16 = [](Bytes &b, uint16_t v) { b.push_back(uint8_t(v)); b.push_back(uint8_t(v >> 8)); };
    le32(head, 0xa1b2c3d4); le16(head, 2); le16(head, 4); le32(head, 0); le32(head, 0); le32(head, 65535); le32(head, 1);
    uint64_t t_us = 1700000000ull * 1000000;
    for (const Frame &f : out) {
        t_us += 50 + rng.below(4000);
        le32(head, uint32_t(t_us / 1000000)); le32(head, uint32_t(t_us % 1000000));
        le32(head, uint32_t(f.bytes.size())); le32(head, f.wire_len);
        head.insert(head.end(), f.bytes.begin(), f.bytes.end());
    }
    bool ok = std::fwrite(head.data(), 1, head.size(), fp) == head.size();
    ok = std::fclose(fp) == 0 && ok;
    if (!ok) {
        std::perror(argv[1]);
        return 1;
    }
    std::printf("%s: %zu frames\n", argv[1], out.size());
    return 0;
}
