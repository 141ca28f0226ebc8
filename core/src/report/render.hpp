// render.hpp - helpers shared by the report writers: names of enums, frame and stack rendering.
#pragma once

#include <nmleak/model.hpp>
#include <nmleak/report.hpp>
#include <nmleak/text.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace nm::report::detail {

// Stable lower-case names used in JSON, SARIF and the text report. They are part of the JSON
// schema, so they are defined here rather than borrowed from display strings elsewhere.
const char *outcome_name(model::Outcome o);        // "done", "failed", ...
const char *state_name(model::ExpertState s);      // "running", "terminate_requested", "closed"
const char *misuse_name(model::MisuseKind k);      // "double_free", ...
const char *misuse_phrase(model::MisuseKind k);    // "double free", ...
const char *kind_name(LeakKind k);                 // "leaked", "outstanding"
const char *reach_name(model::Reach r);            // "unknown", "reachable", "indirectly_lost", ...
const char *reach_phrase(model::Reach r);          // "still reachable", "definitely lost", ...
const char *severity_name(uint32_t severity);      // NMEVENT_SEVERITY_*: "informational", "warning", ...
// The events experts submitted, for the text report (nothing when there are none).
void render_events_text(std::string &out, const model::Snapshot &s);

std::string hex(uint64_t v);          // 0x1a2b
std::string padded_hex(uint64_t v);   // 0x00007f0012345678, as sanitizers print frames
std::string plural(uint64_t n, std::string_view one, std::string_view many);
std::string utc_time(uint64_t unix_ms); // 2024-05-01 10:00:00 UTC

// Frames and stacks that never index out of range: a dangling id gives an empty stack or a frame
// holding only an error text in `function`.
const model::Stack &stack_at(const model::Snapshot &s, uint32_t id);
const model::Frame &frame_at(const model::Snapshot &s, uint32_t id);

// "#3 0x00007f0000001234 in parse_packet /src/parse.c:42 (/usr/lib/libx.so+0x1234)"
std::string frame_line(const model::Frame &f, size_t index);
// The same line without the "#3 " prefix.
std::string frame_text(const model::Frame &f);
// The shortest name that identifies a frame: the function, else module+offset, else the address.
std::string frame_label(const model::Frame &f);
// The module's file name without its directory.
std::string_view basename(std::string_view path);
// "http (key 3)"
std::string expert_label(const model::Expert &e);

// Writes stacks, innermost first, one frame_line per line, each prefixed by indent; an empty
// stack gets one explanatory line. Each frame's text is formatted once: big reports print the
// same frames thousands of times.
class StackPrinter {
public:
    explicit StackPrinter(const model::Snapshot &s) : snap_(s) {}
    void print(std::string &out, uint32_t stack, std::string_view indent);

private:
    const model::Snapshot &snap_;
    std::unordered_map<uint32_t, std::string> texts_;
};

// A hash of a stack's symbolized frames (not addresses), the same across runs of one build.
uint64_t stack_fingerprint(const model::Snapshot &s, uint32_t stack);
// One frame's identity across snapshots: function|file|line|module, or module+offset if unknown.
std::string frame_identity(const model::Frame &f);

// Reports one stage's progress to LeakReport::progress: at each whole percent and at the end.
class Ticker {
public:
    Ticker(const LeakReport &r, const char *stage, uint64_t total)
        : fn_(r.progress ? &r.progress : nullptr), stage_(stage), total_(total) {
        if (fn_) (*fn_)(stage_, 0, total_);
    }
    ~Ticker() {
        if (fn_) (*fn_)(stage_, total_, total_);
    }
    Ticker(const Ticker &) = delete;
    Ticker &operator=(const Ticker &) = delete;
    void tick() {
        if (!fn_) return;
        ++done_;
        const uint64_t pct = total_ ? done_ * 100 / total_ : 0;
        if (pct != pct_) {
            pct_ = pct;
            (*fn_)(stage_, done_, total_);
        }
    }

private:
    const std::function<void(std::string_view, uint64_t, uint64_t)> *fn_;
    const char *stage_;
    uint64_t total_, done_ = 0, pct_ = 0;
};

// Fills r.budget_checks from r.budgets and r.leaks (build_report calls it).
void check_budgets(LeakReport &r);

// The writers, appending to a string: write_file renders once and writes the file in one go.
void render_text(std::string &out, const LeakReport &r);
void render_json(std::string &out, const LeakReport &r);
void render_sarif(std::string &out, const LeakReport &r);
void render_folded(std::string &out, const LeakReport &r);
bool render_pprof(std::string &out, const LeakReport &r, std::string *error);
void render_html(std::string &out, const LeakReport &r);
// Any report format (not Format::Snapshot); false with *error when it cannot be built.
bool render(std::string &out, const model::Snapshot &snap, Format format, const Options &options,
            std::string *error);

} // namespace nm::report::detail
