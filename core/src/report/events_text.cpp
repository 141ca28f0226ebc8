// events_text.cpp - the events experts submitted (ExpertSubmitEvent), for the text report, and
// the severity names the writers share.
#include "report/render.hpp"

namespace nm::report::detail {

const char *severity_name(uint32_t severity) {
    switch (severity) {
    case 0: return "informational";
    case 1: return "warning";
    case 2: return "strong_warning";
    case 3: return "error";
    case 4: return "severe_error";
    case 5: return "critical_error";
    default: return "unknown";
    }
}

void render_events_text(std::string &o, const model::Snapshot &s) {
    uint64_t kept = 0, dropped = 0;
    for (const model::Expert &e : s.experts) {
        kept += e.events.size();
        dropped += e.events_dropped;
    }
    if (kept == 0 && dropped == 0) return;
    o += "\nEvents (" + plural(kept, "event", "events");
    if (dropped) o += ", " + std::to_string(dropped) + " more dropped past the per-key limit";
    o += "):\n";
    for (const model::Expert &e : s.experts) {
        for (const model::Event &ev : e.events) {
            o += "\n" + std::string(severity_name(ev.severity)) + " at +" + std::to_string(ev.time_ms) +
                 " ms by expert " + expert_label(e) + ": ";
            if (!ev.source.empty()) o += "[" + ev.source + "] ";
            o += ev.name.empty() ? std::string("event") : ev.name;
            o += " (id " + std::to_string(ev.ident) + ")";
            if (!ev.description.empty()) o += ": " + ev.description;
            o += "\n";
            if (ev.event_unix_ms) o += "    time: " + utc_time(ev.event_unix_ms) + "\n";
            if (!ev.machine.empty()) o += "    machine: " + ev.machine + "\n";
            for (const model::EventColumn &c : ev.columns) o += "    " + c.name + ": " + c.value + "\n";
            if (!ev.justification_text.empty()) o += "    justification: " + ev.justification_text + "\n";
            if (!ev.url.empty()) o += "    url: " + ev.url + "\n";
        }
        if (e.events_dropped)
            o += "\n" + std::to_string(e.events_dropped) + " more events of expert " + expert_label(e) + " dropped\n";
    }
}

} // namespace nm::report::detail
