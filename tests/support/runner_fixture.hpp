// runner_fixture.hpp - helpers shared by the runner tests: probe configs, runs, snapshot lookups,
// hand-written pcap files and temporary directories.
#pragma once

#include <nmhost.h>
#include <nmleak/capture.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace nmt {

// An EXPERTCONFIG holding `text` (NUL-terminated): the probe expert's behaviour.
class ProbeConfig {
public:
    explicit ProbeConfig(const std::string &text)
        : bytes_(sizeof(EXPERTCONFIG) + text.size() + 1, 0) {
        auto *c = reinterpret_cast<EXPERTCONFIG *>(bytes_.data());
        c->RawConfigLength = DWORD(sizeof(EXPERTCONFIG) + text.size() + 1); // the whole structure
        std::memcpy(c->RawConfigData, text.c_str(), text.size() + 1);
    }
    PEXPERTCONFIG get() { return reinterpret_cast<PEXPERTCONFIG>(bytes_.data()); }

private:
    std::vector<unsigned char> bytes_;
};

struct RunSpec {
    std::string expert = NMT_PROBE_EXPERT;
    std::string behaviour{}; // empty: no config (the probe's Configure runs)
    std::string key_name{}; // empty: the registered name
    std::string capture{}; // empty: none
    DWORD deadline_ms = 0;
    DWORD grace_ms = 0;
};

// Runs one expert to its end with NmRunExpert; the return code goes to *rc when given.
inline NMRUNRESULT run_expert(const RunSpec &spec, DWORD *rc = nullptr) {
    ProbeConfig config(spec.behaviour);
    NMRUNOPTIONS opts{};
    opts.szCaptureFile = spec.capture.empty() ? nullptr : spec.capture.c_str();
    opts.DeadlineMs = spec.deadline_ms;
    opts.GraceMs = spec.grace_ms;
    opts.pConfig = spec.behaviour.empty() ? nullptr : config.get();
    opts.szKeyName = spec.key_name.empty() ? nullptr : spec.key_name.c_str();
    NMRUNRESULT r{};
    DWORD code = NmRunExpert(spec.expert.c_str(), &opts, &r);
    if (rc) *rc = code;
    return r;
}

// The latest key with this name in a fresh snapshot (closed keys included).
inline const nm::model::Expert *find_expert(const nm::model::Snapshot &snap, const std::string &name) {
    const nm::model::Expert *best = nullptr;
    for (const auto &e : snap.experts)
        if (e.name == name && (!best || e.id > best->id)) best = &e;
    return best;
}

// The function names of a snapshot stack, innermost first.
inline std::vector<std::string> stack_functions(const nm::model::Snapshot &snap, uint32_t stack) {
    std::vector<std::string> out;
    if (stack >= snap.stacks.size()) return out;
    for (uint32_t f : snap.stacks[stack].frames)
        if (f < snap.frames.size()) out.push_back(snap.frames[f].function);
    return out;
}

inline bool names_function(const std::vector<std::string> &functions, const std::string &want) {
    for (const auto &f : functions)
        if (f.find(want) != std::string::npos) return true;
    return false;
}

inline std::string joined(const std::vector<std::string> &v) {
    std::string s;
    for (const auto &x : v) s += (s.empty() ? "" : " <- ") + x;
    return s;
}

// A temporary directory removed with the object.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "nmt-runner-XXXXXX").string();
        path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
    }
    ~TempDir() {
        std::error_code ec;
        if (!path_.empty()) std::filesystem::remove_all(path_, ec);
    }
    std::string file(const std::string &name) const { return path_ + "/" + name; }
    const std::string &path() const { return path_; }

private:
    std::string path_;
};

inline void write_file(const std::string &path, const std::string &bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

// One pcap record for write_pcap.
struct PcapRecord {
    uint32_t sec, frac; // frac: microseconds (or nanoseconds for a nanosecond file)
    std::string bytes;  // captured bytes
    uint32_t wire_len;  // length on the wire (>= bytes.size())
};

inline void put_le32(std::string &s, uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(char(v >> (8 * i)));
}

// A classic pcap file (Ethernet link type), microsecond or nanosecond timestamps.
inline std::string pcap_bytes(const std::vector<PcapRecord> &records, bool nanoseconds = false) {
    std::string s;
    put_le32(s, nanoseconds ? 0xa1b23c4du : 0xa1b2c3d4u);
    s += std::string("\x02\x00\x04\x00", 4);
    put_le32(s, 0);
    put_le32(s, 0);
    put_le32(s, 65535);
    put_le32(s, 1);
    for (const auto &r : records) {
        put_le32(s, r.sec);
        put_le32(s, r.frac);
        put_le32(s, uint32_t(r.bytes.size()));
        put_le32(s, r.wire_len);
        s += r.bytes;
    }
    return s;
}

// Resident set size of this process in bytes (/proc/self/statm).
inline uint64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

} // namespace nmt
