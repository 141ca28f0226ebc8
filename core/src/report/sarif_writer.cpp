// sarif_writer.cpp - SARIF 2.1.0: one result per leaking stack, for code-scanning tools.
//
// The allocating frame (the stack's innermost) is the result's location; the whole stack,
// outermost first, is its codeFlow, so viewers show the call path that led to the allocation.
// Suppressed leaks are left out; their totals are in the run's properties. Each event an expert
// submitted (ExpertSubmitEvent) is a result too, of rule NMLEAK2001, its level from the event's
// severity; the rule is listed only when there are events.
#include <nmleak/report.hpp>

#include "report/json_support.hpp"
#include "report/render.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ostream>

#ifndef NMLEAK_VERSION
#define NMLEAK_VERSION "0.1.0"
#endif

namespace nm::report {
namespace {

using json = nlohmann::ordered_json;

constexpr const char *kRuleLeak = "NMLEAK1001";
constexpr const char *kRuleOutstanding = "NMLEAK1002";
constexpr const char *kRuleEvent = "NMLEAK2001";
constexpr const char *kNoticeResultsCapped = "NMLEAK9001";
constexpr const char *kNoticeFramesCapped = "NMLEAK9002";

// GitHub code scanning rejects a run with more than 25,000 results or a result with more than
// 10,000 thread-flow locations or 1,000 locations, and keeps only the first 1,000 thread-flow
// locations of a result (docs.github.com, "SARIF results exceed limit"). Results are biggest
// first, so the cap drops the smallest leaks; frames beyond the cap are the outermost callers,
// which matter least to where memory was allocated.
constexpr size_t kMaxThreadFlowLocations = 1000;

// RFC 3986: keep unreserved characters and '/', percent-encode every other byte.
std::string percent_encoded(std::string_view path) {
    std::string out;
    for (unsigned char c : path) {
        if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

constexpr const char *kSourceRootId = "SRCROOT";

// "/src/" for "/src" or "/src/"; empty when no root was given.
std::string root_prefix(const std::string &root) {
    if (root.empty()) return {};
    return root.back() == '/' ? root : root + "/";
}

json artifact_for(const std::string &file, const std::string &root) {
    if (!root.empty() && file.size() > root.size() && file.compare(0, root.size(), root) == 0)
        return json{{"uri", percent_encoded(std::string_view(file).substr(root.size()))},
                    {"uriBaseId", kSourceRootId}};
    return json{{"uri", (file.front() == '/' ? "file://" : "") + percent_encoded(file)}};
}

json location_for(const model::Frame &f, const std::string &root) {
    json loc = json::object();
    // A physical location needs a line to be useful (and valid for SARIF2017); without one the
    // module and offset are what identifies the code.
    const bool physical = !f.file.empty() && f.line > 0;
    if (physical)
        loc["physicalLocation"] = json{{"artifactLocation", artifact_for(f.file, root)},
                                       {"region", json{{"startLine", f.line}}}};
    json logical = json::array();
    if (!f.function.empty()) logical.push_back(json{{"name", f.function}, {"kind", "function"}});
    if (!physical || f.function.empty()) {
        std::string where = f.module.empty() ? detail::hex(f.address)
                                             : f.module + "+" + detail::hex(f.module_offset);
        std::string name = f.module.empty() ? where
                                            : std::string(detail::basename(f.module)) + "+" +
                                                  detail::hex(f.module_offset);
        logical.push_back(json{{"name", name}, {"fullyQualifiedName", where}, {"kind", "module"}});
    }
    loc["logicalLocations"] = std::move(logical);
    return loc;
}

json rules(bool with_events) {
    auto rule = [](const char *id, const char *name, const char *brief, const char *full,
                   const char *level) {
        return json{{"id", id},
                    {"name", name},
                    {"shortDescription", json{{"text", brief}}},
                    {"fullDescription", json{{"text", full}}},
                    {"defaultConfiguration", json{{"level", level}}},
                    {"help", json{{"text", full}}}};
    };
    json list = json::array(
        {rule(kRuleLeak, "ExpertMemoryLeak", "Memory an expert still held when its run ended.",
              "An expert's key was closed with outcome 'done' while it still held blocks "
              "allocated with ExpertAllocMemory or ExpertReallocMemory; the host reclaimed them. "
              "Free them with ExpertFreeMemory before Run returns.",
              "error"),
         rule(kRuleOutstanding, "ExpertMemoryOutstanding",
              "Memory still held by an expert whose key is open.",
              "Blocks of an expert key that was still open when the snapshot was taken. They may "
              "yet be freed; at process exit they are leaked.",
              "warning")});
    if (with_events)
        list.push_back(rule(kRuleEvent, "ExpertEvent", "A finding an expert reported.",
                            "An event an expert submitted with ExpertSubmitEvent: its name, description and "
                            "columns are the expert's. The level follows the event's severity "
                            "(informational: note; warning, strong warning: warning; error and worse: error).",
                            "warning"));
    return list;
}

// NMEVENT_SEVERITY_* -> SARIF level.
const char *event_level(uint32_t severity) {
    if (severity == 0) return "note";
    if (severity <= 2) return "warning";
    return "error";
}

json event_result(const model::Expert &e, const model::Event &ev, size_t rule_index) {
    std::string text = ev.name.empty() ? std::string("Event") : ev.name;
    if (!ev.description.empty()) text += ": " + ev.description;
    text += " (expert '" + e.name + "', key " + std::to_string(e.id) + ")";
    json columns = json::object();
    for (const model::EventColumn &c : ev.columns) columns[c.name] = c.value;
    json props{{"expert", e.name},
               {"key", e.id},
               {"eventIdent", ev.ident},
               {"severity", detail::severity_name(ev.severity)},
               {"flags", ev.flags},
               {"source", ev.source},
               {"timeMs", ev.time_ms},
               {"columns", std::move(columns)}};
    if (ev.event_unix_ms) props["eventTime"] = detail::utc_time(ev.event_unix_ms);
    if (!ev.machine.empty()) props["machine"] = ev.machine;
    if (!ev.justification_text.empty()) props["justification"] = ev.justification_text;
    if (!ev.url.empty()) props["url"] = ev.url;
    json r{{"ruleId", kRuleEvent},
           {"ruleIndex", rule_index},
           {"level", event_level(ev.severity)},
           {"message", json{{"text", text}}},
           {"locations", json::array({json{{"logicalLocations",
                                            json::array({json{{"name", e.name}, {"kind", "module"}}})}}})},
           {"properties", std::move(props)}};
    return r;
}

std::string message_for(const model::Snapshot &s, const LeakGroup &g) {
    const model::Expert &e = s.experts[g.expert];
    std::string m = detail::plural(g.bytes, "byte", "bytes") + " in " +
                    detail::plural(g.blocks, "block", "blocks") +
                    (g.kind == LeakKind::Leaked ? " leaked by expert '" : " still held by expert '") +
                    e.name + "' (key " + std::to_string(e.id) + ")";
    if (g.heap && e.kind == model::KeyKind::Expert) {
        m += " on the heap, outside the API";
        if (g.kind == LeakKind::Leaked) m += ", freed at its close (nothing pointed to it)";
        else if (e.state == model::ExpertState::Closed) m += ", left behind at its close";
    }
    if (g.reach != model::Reach::Unknown) m += std::string(", ") + detail::reach_phrase(g.reach);
    const model::Stack &st = detail::stack_at(s, g.stack);
    if (!st.frames.empty()) m += ", allocated in " + detail::frame_label(detail::frame_at(s, st.frames[0]));
    return m + ".";
}

json result_for(const model::Snapshot &s, const LeakGroup &g, const std::string &root,
               size_t *frames_capped) {
    const bool leaked = g.kind == LeakKind::Leaked;
    const model::Expert &e = s.experts[g.expert];
    const model::Stack &st = detail::stack_at(s, g.stack);
    json r;
    r["ruleId"] = leaked ? kRuleLeak : kRuleOutstanding;
    r["ruleIndex"] = leaked ? 0 : 1;
    r["level"] = leaked ? "error" : "warning";
    r["message"] = json{{"text", message_for(s, g)}};
    if (!st.frames.empty()) {
        r["locations"] = json::array({location_for(detail::frame_at(s, st.frames[0]), root)});
        json steps = json::array();
        const size_t shown = std::min(st.frames.size(), kMaxThreadFlowLocations);
        for (size_t i = shown; i-- > 0;) {
            const model::Frame &f = detail::frame_at(s, st.frames[i]);
            json loc = location_for(f, root);
            loc["message"] = json{{"text", "#" + std::to_string(i) + " " + detail::frame_label(f)}};
            steps.push_back(json{{"location", std::move(loc)}, {"nestingLevel", shown - 1 - i}});
        }
        if (shown < st.frames.size()) *frames_capped += 1;
        r["codeFlows"] = json::array(
            {json{{"threadFlows", json::array({json{{"locations", std::move(steps)}}})}}});
    } else {
        // No stack was recorded (sizes-only mode): the expert is all we can point at.
        r["locations"] = json::array({json{{"logicalLocations",
                                            json::array({json{{"name", e.name}, {"kind", "module"}}})}}});
    }
    char fp[24];
    std::snprintf(fp, sizeof fp, "%016llx",
                  static_cast<unsigned long long>(detail::stack_fingerprint(s, g.stack)));
    r["partialFingerprints"] = json{{"nmleakStack/v1", std::string(fp) + ":" + e.name}};
    json props{{"expert", e.name},     {"key", e.id},       {"blocks", g.blocks},
               {"bytes", g.bytes},     {"outstanding", !leaked}};
    if (std::optional<uint64_t> size = g.block_size()) props["blockSize"] = *size;
    if (s.process.heap_tracked) {
        props["origin"] = g.heap ? "heap" : "api";
        props["keyKind"] = model::to_string(e.kind);
        if (g.heap && e.kind == model::KeyKind::Expert && e.state == model::ExpertState::Closed)
            props[leaked ? "reclaimedAtClose" : "leftBehind"] = true; // reclaimed: the opt-in reclaim
    }
    if (g.reach != model::Reach::Unknown) props["reach"] = detail::reach_name(g.reach);
    if (st.frames.size() > kMaxThreadFlowLocations) props["framesOmitted"] = st.frames.size() - kMaxThreadFlowLocations;
    r["properties"] = std::move(props);
    return r;
}

} // namespace

void detail::render_sarif(std::string &out, const LeakReport &r) {
    const model::Snapshot &s = *r.snapshot;
    const std::string root = root_prefix(r.source_root);
    json results = json::array();
    const size_t cap = std::min(r.sarif_max_results, kSarifResultsLimit);
    const size_t kept = std::min(r.leaks.size(), cap);
    size_t frames_capped = 0;
    {
        detail::Ticker ticker(r, "writing SARIF", kept);
        for (size_t i = 0; i < kept; ++i) {
            ticker.tick();
            results.push_back(result_for(s, r.leaks[i], root, &frames_capped));
        }
    }
    uint64_t dropped_bytes = 0;
    for (size_t i = kept; i < r.leaks.size(); ++i) dropped_bytes += r.leaks[i].bytes;
    // Then a result per event, within the same upload limit.
    bool with_events = false;
    size_t events_omitted = 0;
    for (const model::Expert &e : s.experts)
        for (const model::Event &ev : e.events) {
            with_events = true;
            if (results.size() >= kSarifResultsLimit) {
                ++events_omitted;
                continue;
            }
            results.push_back(event_result(e, ev, 2));
        }

    json driver{{"name", "nmleak"},
                {"version", NMLEAK_VERSION},
                {"semanticVersion", NMLEAK_VERSION},
                {"rules", rules(with_events)}};
#ifdef NMLEAK_HOMEPAGE
    driver["informationUri"] = NMLEAK_HOMEPAGE;
#endif
    json run;
    run["tool"] = json{{"driver", std::move(driver)}};
    if (!root.empty())
        run["originalUriBaseIds"] =
            json{{kSourceRootId, json{{"uri", "file://" + percent_encoded(root)}}}};
    json invocation{{"executionSuccessful", true},
                    {"commandLine", s.process.command},
                    {"properties", json{{"pid", s.process.pid}, {"hostname", s.process.hostname}}}};
    json notices = json::array();
    if (kept < r.leaks.size())
        notices.push_back(json{
            {"descriptor", json{{"id", kNoticeResultsCapped}}},
            {"level", "warning"},
            {"message",
             json{{"text", "Only the " + std::to_string(kept) + " biggest of " +
                               std::to_string(r.leaks.size()) +
                               " leaking stacks are results (code-scanning upload limit); the other " +
                               std::to_string(r.leaks.size() - kept) + " hold " +
                               detail::plural(dropped_bytes, "byte", "bytes") +
                               ". The JSON, text and pprof reports list them all."}}},
            {"properties", json{{"resultsOmitted", r.leaks.size() - kept}, {"bytesOmitted", dropped_bytes}}}});
    if (frames_capped > 0)
        notices.push_back(json{
            {"descriptor", json{{"id", kNoticeFramesCapped}}},
            {"level", "note"},
            {"message", json{{"text", std::to_string(frames_capped) + " result stacks are deeper than " +
                                          std::to_string(kMaxThreadFlowLocations) +
                                          " frames; their code flows keep the innermost " +
                                          std::to_string(kMaxThreadFlowLocations) + "."}}}});
    if (events_omitted > 0)
        notices.push_back(json{{"descriptor", json{{"id", kNoticeResultsCapped}}},
                               {"level", "warning"},
                               {"message", json{{"text", std::to_string(events_omitted) +
                                                             " events are not results (code-scanning upload limit); "
                                                             "the JSON and text reports list them all."}}}});
    if (!notices.empty()) invocation["toolExecutionNotifications"] = std::move(notices);
    run["invocations"] = json::array({std::move(invocation)});
    run["results"] = std::move(results);
    run["properties"] =
        json{{"leaked", json{{"stacks", r.leaked.stacks}, {"blocks", r.leaked.blocks}, {"bytes", r.leaked.bytes}}},
             {"outstanding", json{{"stacks", r.outstanding.stacks},
                                  {"blocks", r.outstanding.blocks},
                                  {"bytes", r.outstanding.bytes}}},
             {"suppressed", json{{"stacks", r.suppressed_total.stacks},
                                 {"blocks", r.suppressed_total.blocks},
                                 {"bytes", r.suppressed_total.bytes}}}};
    json doc{{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
             {"version", "2.1.0"},
             {"runs", json::array({std::move(run)})}};
    detail::dump(out, doc);
}

void write_sarif(std::ostream &out, const LeakReport &r) {
    std::string text;
    detail::render_sarif(text, r);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

} // namespace nm::report
