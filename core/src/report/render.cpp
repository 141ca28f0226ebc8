// render.cpp - helpers shared by the report writers: names of enums, frame and stack rendering.
#include "report/render.hpp"

#include <csignal>
#include <cstdio>
#include <ctime>

namespace nm::report::detail {

const char *outcome_name(model::Outcome o) {
    switch (o) {
    case model::Outcome::Done: return "done";
    case model::Outcome::Failed: return "failed";
    case model::Outcome::Terminated: return "terminated";
    case model::Outcome::Crashed: return "crashed";
    case model::Outcome::Timeout: return "timeout";
    }
    return "unknown";
}

const char *state_name(model::ExpertState s) {
    switch (s) {
    case model::ExpertState::Running: return "running";
    case model::ExpertState::TerminateRequested: return "terminate_requested";
    case model::ExpertState::Closed: return "closed";
    }
    return "unknown";
}

const char *misuse_name(model::MisuseKind k) {
    switch (k) {
    case model::MisuseKind::DoubleFree: return "double_free";
    case model::MisuseKind::UnknownPointer: return "unknown_pointer";
    case model::MisuseKind::InteriorPointer: return "interior_pointer";
    case model::MisuseKind::ForeignKey: return "foreign_key";
    case model::MisuseKind::CorruptHeader: return "corrupt_header";
    case model::MisuseKind::MismatchedFree: return "mismatched_free";
    }
    return "unknown";
}

const char *misuse_phrase(model::MisuseKind k) {
    switch (k) {
    case model::MisuseKind::DoubleFree: return "double free";
    case model::MisuseKind::UnknownPointer: return "unknown pointer";
    case model::MisuseKind::InteriorPointer: return "interior pointer";
    case model::MisuseKind::ForeignKey: return "block of another key";
    case model::MisuseKind::CorruptHeader: return "corrupted block header";
    case model::MisuseKind::MismatchedFree: return "released by the wrong allocation family";
    }
    return "unknown misuse";
}

const char *kind_name(LeakKind k) { return k == LeakKind::Leaked ? "leaked" : "outstanding"; }

const char *reach_name(model::Reach r) {
    switch (r) {
    case model::Reach::Unknown: return "unknown";
    case model::Reach::Reachable: return "reachable";
    case model::Reach::IndirectlyLost: return "indirectly_lost";
    case model::Reach::DefinitelyLost: return "definitely_lost";
    }
    return "unknown";
}

const char *reach_phrase(model::Reach r) {
    switch (r) {
    case model::Reach::Unknown: return "not classified";
    case model::Reach::Reachable: return "still reachable";
    case model::Reach::IndirectlyLost: return "indirectly lost";
    case model::Reach::DefinitelyLost: return "definitely lost";
    }
    return "not classified";
}

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string padded_hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string plural(uint64_t n, std::string_view one, std::string_view many) {
    std::string s = std::to_string(n);
    s += ' ';
    s += n == 1 ? one : many;
    return s;
}

std::string utc_time(uint64_t unix_ms) {
    std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    if (!gmtime_r(&t, &tm)) return std::to_string(unix_ms) + " ms since the epoch";
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

const model::Stack &stack_at(const model::Snapshot &s, uint32_t id) {
    static const model::Stack kEmpty;
    return id < s.stacks.size() ? s.stacks[id] : kEmpty;
}

const model::Frame &frame_at(const model::Snapshot &s, uint32_t id) {
    static const model::Frame kInvalid{0, "<invalid frame>", "", 0, "", 0};
    return id < s.frames.size() ? s.frames[id] : kInvalid;
}

std::string_view basename(std::string_view path) {
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string frame_line(const model::Frame &f, size_t index) {
    return "#" + std::to_string(index) + " " + frame_text(f);
}

std::string frame_text(const model::Frame &f) {
    // LeakSanitizer's shape: "#N 0xADDR in FUNCTION FILE:LINE (MODULE+0xOFF)"; parts that are
    // unknown are left out, as the sanitizers do.
    // Symbols and paths come from the recorded process (or a crafted snapshot): escaped for the
    // terminal.
    std::string s = padded_hex(f.address);
    if (!f.function.empty()) s += " in " + text::escape(f.function);
    if (!f.file.empty()) {
        s += " " + text::escape(f.file);
        if (f.line) s += ":" + std::to_string(f.line);
    }
    if (!f.module.empty()) s += " (" + text::escape(f.module) + "+" + hex(f.module_offset) + ")";
    else if (f.function.empty() && f.file.empty()) s += " (<unknown module>)";
    return s;
}

std::string frame_label(const model::Frame &f) {
    if (!f.function.empty()) return f.function;
    if (!f.module.empty()) return std::string(basename(f.module)) + "+" + hex(f.module_offset);
    return hex(f.address);
}

std::string expert_label(const model::Expert &e) {
    return (e.name.empty() ? std::string("<unnamed>") : text::escape(e.name)) + " (key " +
           std::to_string(e.id) + ")";
}

void StackPrinter::print(std::string &out, uint32_t stack, std::string_view indent) {
    const model::Stack &st = stack_at(snap_, stack);
    if (st.frames.empty()) {
        out += indent;
        out += stack == 0 || stack < snap_.stacks.size()
                   ? "<no stack recorded: sizes-only mode>\n"
                   : "<invalid stack " + std::to_string(stack) + ">\n";
        return;
    }
    for (size_t i = 0; i < st.frames.size(); ++i) {
        auto [it, fresh] = texts_.try_emplace(st.frames[i]);
        if (fresh) it->second = frame_text(frame_at(snap_, st.frames[i]));
        out += indent;
        out += '#';
        out += std::to_string(i);
        out += ' ';
        out += it->second;
        out += '\n';
    }
}

namespace {
constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;
uint64_t fnv(uint64_t h, std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * kFnvPrime;
    return (h ^ 0xff) * kFnvPrime; // field separator: "ab"+"c" differs from "a"+"bc"
}
} // namespace

std::string frame_identity(const model::Frame &f) {
    // Symbolized frames are compared by name and line, which survive ASLR and rebuilds that do
    // not touch the code; unsymbolized ones by their offset inside the module's file.
    if (f.function.empty() && f.file.empty())
        return std::string(basename(f.module)) + "+" + hex(f.module_offset);
    return f.function + "|" + f.file + ":" + std::to_string(f.line) + "|" +
           std::string(basename(f.module));
}

uint64_t stack_fingerprint(const model::Snapshot &s, uint32_t stack) {
    uint64_t h = kFnvOffset;
    for (uint32_t id : stack_at(s, stack).frames) h = fnv(h, frame_identity(frame_at(s, id)));
    return h;
}

} // namespace nm::report::detail
