// events_from_tracker.cpp - the events experts submitted (track/events.hpp) as model::Events.
#include "model/from_tracker.hpp"

#include "track/events.hpp"

namespace nm {

void add_events(std::vector<model::Expert> &experts) {
    track::EventStore &store = track::EventStore::get();
    track::KeyEvents k;
    for (model::Expert &e : experts) {
        if (!store.read(e.id, &k)) continue;
        e.events.clear();
        e.events.reserve(k.events.size());
        for (track::EventRecord &r : k.events) {
            model::Event ev;
            ev.time_ms = r.time_ms;
            ev.ident = r.ident;
            ev.flags = r.flags;
            ev.severity = r.severity;
            ev.justification = r.justification.empty() ? 0 : 1;
            ev.source = std::move(r.source);
            ev.name = std::move(r.name);
            ev.description = std::move(r.description);
            ev.machine = std::move(r.machine);
            ev.url = std::move(r.url);
            ev.event_unix_ms = r.event_unix_ms;
            ev.columns.reserve(r.columns.size());
            for (track::EventColumnRecord &c : r.columns)
                ev.columns.push_back({std::move(c.name), c.type, std::move(c.value)});
            ev.justification_text = std::move(r.justification);
            e.events.push_back(std::move(ev));
        }
        e.events_dropped = k.dropped;
    }
}

} // namespace nm
