// events.hpp - the findings experts submit (ExpertSubmitEvent), kept per key: the records, and
// the reading the model layer converts into model::Event.
//
// An event is read from the expert's memory without trusting it (every byte through
// process_vm_readv, so a wild pointer is an error code, never a crash), checked, rendered to
// text (each NMCOLUMNTYPE to its display form) and stored under the key's id. The store is
// bounded: NM_EVENT_MAX_PER_KEY events per key and EventStore::kMaxEventsTotal in all; what does
// not fit is counted per key as dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace nm::track {

struct EventColumnRecord {
    std::string name;
    uint32_t type = 0;  // NMCOLUMNTYPE
    std::string value;  // the display text
};

struct EventRecord {
    uint64_t time_ms = 0;       // when it was submitted, ms since the tracker started
    uint32_t ident = 0, flags = 0, severity = 0;
    std::string source, name, description, machine, url;
    std::string justification;  // JTYPE: the Event Viewer's second window (empty: none)
    uint64_t event_unix_ms = 0; // NMEVENTDATA.SysTime as ms since the epoch (0: none given)
    std::vector<EventColumnRecord> columns;
};

struct KeyEvents {
    std::vector<EventRecord> events; // oldest first
    uint64_t dropped = 0;
};

class EventStore {
public:
    static constexpr size_t kMaxEventsTotal = 1000000;

    static EventStore &get() noexcept;

    // Records one event of the key whose id is key_id (already checked open).
    void add(uint64_t key_id, EventRecord &&event);
    // The events of the key (nullptr: none) copied into *out under the lock.
    bool read(uint64_t key_id, KeyEvents *out) const;
    // Number of events kept and dropped for the key, without copying them.
    void counts(uint64_t key_id, size_t *kept, uint64_t *dropped) const;

private:
    mutable std::mutex mu_;
    std::unordered_map<uint64_t, KeyEvents> by_key_;
    size_t total_ = 0;
};

// Reads and checks an NMEVENTDATA from the expert's memory. NMERR_SUCCESS with *out filled
// (time_ms left 0), or the code the refusal returns (see ExpertSubmitEvent in netmon.h).
uint32_t read_event(const void *event, EventRecord *out);

// The display text of a non-string column value (a pointer to NMCOLUMNVARIANT::Value).
std::string render_column_value(uint32_t type, const void *variant_value);
// Valid UTF-8 as is; otherwise each byte >= 0x80 is taken as Latin-1 (Netmon-era text was in the
// ANSI code page).
std::string to_utf8(const std::string &s);

} // namespace nm::track
