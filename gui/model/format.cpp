// format.cpp - sizes, counts, times and frame names as the views print them (format.hpp).
#include "format.hpp"

#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace nm::gui::fmt {

std::string bytes(uint64_t n) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024) return std::to_string(n) + " B";
    double v = double(n);
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    if (v >= 100) std::snprintf(buf, sizeof buf, "%.0f %s", v, units[u]);
    else if (v >= 10) std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    else std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
    return buf;
}

std::string delta_bytes(int64_t n) {
    if (n == 0) return "0 B";
    const uint64_t mag = n < 0 ? uint64_t(0) - uint64_t(n) : uint64_t(n);
    return (n < 0 ? "-" : "+") + bytes(mag);
}

std::string count(uint64_t n) {
    std::string digits = std::to_string(n);
    std::string out;
    const size_t lead = digits.size() % 3;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && i >= lead && (i - lead) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string duration_ms(uint64_t ms) {
    char buf[48];
    if (ms < 1000) std::snprintf(buf, sizeof buf, "%" PRIu64 " ms", ms);
    else if (ms < 60'000) std::snprintf(buf, sizeof buf, "%.1f s", double(ms) / 1000.0);
    else if (ms < 3'600'000) std::snprintf(buf, sizeof buf, "%" PRIu64 " m %02" PRIu64 " s", ms / 60'000, ms / 1000 % 60);
    else std::snprintf(buf, sizeof buf, "%" PRIu64 " h %02" PRIu64 " m", ms / 3'600'000, ms / 60'000 % 60);
    return buf;
}

std::string at_ms(uint64_t ms) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "+%" PRIu64 ".%03" PRIu64 " s", ms / 1000, ms % 1000);
    return buf;
}

std::string wall_clock(uint64_t start_unix_ms, uint64_t ms) {
    if (start_unix_ms == 0) return at_ms(ms);
    const uint64_t t = start_unix_ms + ms;
    const time_t secs = time_t(t / 1000);
    struct tm tm{};
    localtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, int(t % 1000));
    return buf;
}

std::string address(uint64_t a) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, a);
    return buf;
}

std::string percent(double fraction) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%.1f %%", fraction * 100.0);
    return buf;
}

std::string module_name(const std::string &path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string frame_function(const model::Frame &f) {
    if (!f.function.empty()) return f.function;
    if (!f.module.empty()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "+0x%" PRIx64, f.module_offset);
        return module_name(f.module) + buf;
    }
    return address(f.address);
}

std::string frame_location(const model::Frame &f, bool full_path) {
    if (f.file.empty()) return {};
    std::string file = full_path ? f.file : module_name(f.file);
    if (f.line) file += ":" + std::to_string(f.line);
    return file;
}

std::string short_function(const std::string &fn, size_t max) {
    // Argument lists become "(...)" ("()" when empty); "(anonymous namespace)" stays (it is part of
    // the name, not arguments); GCC's " [clone .constprop.0]" suffixes go.
    std::string in = fn;
    if (const size_t clone = in.find(" [clone "); clone != std::string::npos) in.erase(clone);
    static const std::string anon = "(anonymous namespace)";
    std::string out;
    out.reserve(in.size());
    int depth = 0;
    bool had_args = false;
    for (size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (depth == 0 && c == '(' && in.compare(i, anon.size(), anon) == 0) {
            out += anon;
            i += anon.size() - 1;
            continue;
        }
        if (c == '(') {
            if (depth++ == 0) had_args = false;
            continue;
        }
        if (c == ')') {
            if (depth > 0 && --depth == 0) out += had_args ? "(...)" : "()";
            continue;
        }
        if (depth == 0) out += c;
        else had_args = true;
    }
    if (out.size() <= max) return out;
    return "..." + out.substr(out.size() - (max - 3));
}

std::string state_text(const model::Expert &e) {
    switch (e.state) {
    case model::ExpertState::Running: return "running";
    case model::ExpertState::TerminateRequested: return "terminating";
    case model::ExpertState::Closed: return model::to_string(e.outcome);
    }
    return "?";
}

std::string state_text(const model::Expert &e, bool process_ended) {
    if (process_ended && e.state != model::ExpertState::Closed) return "unknown (process ended)";
    return state_text(e);
}

const char *misuse_text(model::MisuseKind k) {
    switch (k) {
    case model::MisuseKind::DoubleFree: return "double free";
    case model::MisuseKind::UnknownPointer: return "unknown pointer";
    case model::MisuseKind::InteriorPointer: return "interior pointer";
    case model::MisuseKind::ForeignKey: return "foreign key";
    case model::MisuseKind::CorruptHeader: return "corrupt header";
    case model::MisuseKind::MismatchedFree: return "mismatched free";
    }
    return "?";
}

const char *outcome_text(model::Outcome o) {
    switch (o) {
    case model::Outcome::Done: return "leak reclaim (done)";
    case model::Outcome::Failed: return "forced: failed";
    case model::Outcome::Terminated: return "forced: terminated";
    case model::Outcome::Crashed: return "forced: crashed";
    case model::Outcome::Timeout: return "forced: timeout";
    }
    return "?";
}

const char *severity_text(uint32_t severity) {
    switch (severity) {
    case 0: return "informational";
    case 1: return "warning";
    case 2: return "strong warning";
    case 3: return "error";
    case 4: return "severe error";
    case 5: return "critical error";
    default: return "?";
    }
}

} // namespace nm::gui::fmt
