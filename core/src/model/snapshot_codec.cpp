// snapshot_codec.cpp - the uncompressed payload encoding of one model::Snapshot (format version 2;
// version 1 payloads still decode).
//
// Layout. Every integer is little-endian with no padding or alignment; `str` is a u32 byte length
// followed by that many bytes (UTF-8, no terminator). Lists are a count followed by the elements.
//
//   process   i32 pid | str command | str executable | str hostname
//             u64 start_unix_ms | u64 snapshot_ms | u32 stack_depth
//             v2: u8 heap_tracked | u64 foreign_frees | u8 reach_classified
//   modules   u32 n, then n x { str path | u64 base | u64 size | str build_id }
//   frames    u32 n, then n x { u64 address | str function | str file | u32 line
//                               | str module | u64 module_offset }
//   stacks    u32 n, then n x { u32 depth | depth x u32 frame_index }      (innermost frame first)
//   experts   u32 n, then n x expert:
//     u64 id | str name | u32 state | u32 outcome | u64 opened_ms | u64 closed_ms
//     u32 status | u32 substatus | str status_text | i32 percent
//     u64 live_blocks | u64 live_bytes | u64 peak_bytes | u64 allocs | u64 reallocs | u64 frees
//     u64 misuse_count
//     str outcome_detail | i32 crash_signal | u64 crash_address | u32 crash_stack
//     blocks    u64 n, then n x { u64 address | u64 size | u32 stack | u64 time_ms
//                                 | v2: u8 origin | u8 reach }      (28 bytes each, v2: 30)
//     cleanups  u32 n, then n x { u64 time_ms | u32 outcome | u64 blocks | u64 bytes
//                                 | u32 g, then g x { u32 stack | u64 blocks | u64 bytes }
//                                 | v2: u64 left_blocks | u64 left_bytes
//                                 | v2: u32 g, then g x { u32 stack | u64 blocks | u64 bytes } }
//     misuse    u32 n, then n x { u64 time_ms | u32 kind | str function | u64 address | u32 stack
//                                 | str owner }
//     v2: u32 kind
//     v2: events u32 n, then n x { u64 time_ms | u32 ident | u32 flags | u32 severity
//                                 | u32 justification | str source | str name | str description
//                                 | str machine | str url | u64 event_unix_ms
//                                 | u32 c, then c x { str name | u32 type | str value } }
//     v2: u64 events_dropped
//     v2: n x str justification_text (one per event, in order)
//   tail      v2, optional (older v2 writers stop before it): str reach_note
//   v2: heap  optional, after the tail: u32 0x50414548 ("HEAP"), then one { u64 heap_blocks
//             | u64 heap_bytes | u64 heap_allocs | u64 heap_frees } per expert, in order
//   v2: reclaim optional, after heap, written only when a cleanup reclaimed left-behind blocks or
//             says why it did not: u32 0x4C434552 ("RECL"), then for each cleanup of each expert,
//             in order, { u64 reclaimed_left_blocks | u64 reclaimed_left_bytes
//             | u32 g, then g x { u32 stack | u64 blocks | u64 bytes } | str reclaim_note }
//   end       u32 0x444E4521 ("!END"), and nothing after it
//
// The end marker catches an encoder and decoder that disagree on a field; decode also requires that
// every index points at something that exists, so consumers can index without checking.
#include <nmleak/snapshot_io.hpp>

#include "model/bytes.hpp"
#include "model/payload_source.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace nm::snapshot_io {
namespace {

constexpr uint32_t kEndMarker = 0x444E4521u;
constexpr uint32_t kHeapMarker = 0x50414548u;
constexpr uint32_t kReclaimMarker = 0x4C434552u;
constexpr size_t kBlockBytesV1 = 28;
constexpr size_t kBlockBytes = 30;
// Lists are decoded element by element and grow with what was read; at most this many elements are
// reserved before any of them arrived. Blocks are taken kBlockBatch at a time.
constexpr uint64_t kReserveAhead = 1024;
constexpr size_t kBlockBatch = 4096;

// Makes room for n elements that are still to be read, without trusting n for more than
// kReserveAhead of them.
template <class T> void reserve_ahead(std::vector<T> &v, uint64_t n) {
    v.clear();
    v.reserve(static_cast<size_t>(std::min(n, kReserveAhead)));
}

using bytes::load_le32;
using bytes::load_le64;
using bytes::store_le32;
using bytes::store_le64;
using Reader = bytes::Reader;
using Writer = bytes::Writer;

// The stack groups of a cleanup (its freed stacks, the stacks it left behind): each
// { u32 stack | u64 blocks | u64 bytes }, 20 bytes, after a u32 count.
struct GroupFields {
    const char *count, *list, *stack, *blocks, *bytes;
};
constexpr GroupFields kCleanupGroups = {"cleanup stack count", "cleanup stacks", "cleanup stack",
                                        "cleanup stack blocks", "cleanup stack bytes"};
constexpr GroupFields kLeftGroups = {"left-behind stack count", "left-behind stacks",
                                     "left-behind stack", "left-behind stack blocks",
                                     "left-behind stack bytes"};
constexpr GroupFields kReclaimedGroups = {"reclaimed stack count", "reclaimed stacks", "reclaimed stack",
                                          "reclaimed stack blocks", "reclaimed stack bytes"};

void encode_groups(Writer &w, const std::vector<model::StackGroup> &groups, const GroupFields &f) {
    w.count32(groups.size(), f.list);
    for (const model::StackGroup &g : groups) {
        w.u32(g.stack);
        w.u64(g.blocks);
        w.u64(g.bytes);
    }
}

void decode_groups(Reader &r, std::vector<model::StackGroup> &groups, const GroupFields &f) {
    const uint64_t n = r.count(r.u32(f.count), 20, f.list);
    reserve_ahead(groups, n);
    for (uint64_t k = 0; k < n && r.ok(); ++k) {
        model::StackGroup &g = groups.emplace_back();
        g.stack = r.u32(f.stack);
        g.blocks = r.u64(f.blocks);
        g.bytes = r.u64(f.bytes);
    }
}

void encode_expert(Writer &w, const model::Expert &e) {
    w.u64(e.id);
    w.str(e.name);
    w.u32(static_cast<uint32_t>(e.state));
    w.u32(static_cast<uint32_t>(e.outcome));
    w.u64(e.opened_ms);
    w.u64(e.closed_ms);
    w.u32(e.status.status);
    w.u32(e.status.substatus);
    w.str(e.status.text);
    w.i32(e.status.percent);
    for (uint64_t v : {e.live_blocks, e.live_bytes, e.peak_bytes, e.allocs, e.reallocs, e.frees,
                       e.misuse_count})
        w.u64(v);
    w.str(e.outcome_detail);
    w.i32(e.crash_signal);
    w.u64(e.crash_address);
    w.u32(e.crash_stack);

    w.u64(e.blocks.size());
    // The block list dominates big snapshots: one resize, then plain stores.
    uint8_t *p = w.grow(e.blocks.size() * kBlockBytes);
    for (const model::Block &b : e.blocks) {
        store_le64(p, b.address);
        store_le64(p + 8, b.size);
        store_le32(p + 16, b.stack);
        store_le64(p + 20, b.time_ms);
        p[28] = static_cast<uint8_t>(b.origin);
        p[29] = static_cast<uint8_t>(b.reach);
        p += kBlockBytes;
    }

    w.count32(e.cleanups.size(), "cleanups");
    for (const model::Cleanup &c : e.cleanups) {
        w.u64(c.time_ms);
        w.u32(static_cast<uint32_t>(c.outcome));
        w.u64(c.blocks);
        w.u64(c.bytes);
        encode_groups(w, c.stacks, kCleanupGroups);
        w.u64(c.left_blocks);
        w.u64(c.left_bytes);
        encode_groups(w, c.left_stacks, kLeftGroups);
    }

    w.count32(e.misuse.size(), "misuse events");
    for (const model::Misuse &m : e.misuse) {
        w.u64(m.time_ms);
        w.u32(static_cast<uint32_t>(m.kind));
        w.str(m.function);
        w.u64(m.address);
        w.u32(m.stack);
        w.str(m.owner);
    }

    w.u32(static_cast<uint32_t>(e.kind));
    w.count32(e.events.size(), "events");
    for (const model::Event &ev : e.events) {
        w.u64(ev.time_ms);
        for (uint32_t v : {ev.ident, ev.flags, ev.severity, ev.justification}) w.u32(v);
        for (const std::string *t : {&ev.source, &ev.name, &ev.description, &ev.machine, &ev.url})
            w.str(*t);
        w.u64(ev.event_unix_ms);
        w.count32(ev.columns.size(), "event columns");
        for (const model::EventColumn &c : ev.columns) {
            w.str(c.name);
            w.u32(c.type);
            w.str(c.value);
        }
    }
    w.u64(e.events_dropped);
    for (const model::Event &ev : e.events) w.str(ev.justification_text);
}

bool decode_expert(Reader &r, model::Expert &e, uint32_t version) {
    e.id = r.u64("expert id");
    e.name = r.str("expert name");
    e.state = static_cast<model::ExpertState>(r.u32("expert state"));
    e.outcome = static_cast<model::Outcome>(r.u32("expert outcome"));
    e.opened_ms = r.u64("expert opened_ms");
    e.closed_ms = r.u64("expert closed_ms");
    e.status.status = r.u32("status");
    e.status.substatus = r.u32("substatus");
    e.status.text = r.str("status text");
    e.status.percent = r.i32("status percent");
    e.live_blocks = r.u64("live_blocks");
    e.live_bytes = r.u64("live_bytes");
    e.peak_bytes = r.u64("peak_bytes");
    e.allocs = r.u64("allocs");
    e.reallocs = r.u64("reallocs");
    e.frees = r.u64("frees");
    e.misuse_count = r.u64("misuse_count");
    e.outcome_detail = r.str("outcome detail");
    e.crash_signal = r.i32("crash signal");
    e.crash_address = r.u64("crash address");
    e.crash_stack = r.u32("crash stack");

    const size_t block_bytes = version >= 2 ? kBlockBytes : kBlockBytesV1;
    const uint64_t n_blocks = r.count(r.u64("block count"), block_bytes, "blocks");
    reserve_ahead(e.blocks, n_blocks);
    for (uint64_t done = 0; done < n_blocks;) {
        const size_t batch = static_cast<size_t>(std::min<uint64_t>(n_blocks - done, kBlockBatch));
        const uint8_t *p = r.take(batch * block_bytes, "blocks");
        if (!p) return false;
        for (size_t i = 0; i < batch; ++i, p += block_bytes) {
            model::Block &b = e.blocks.emplace_back();
            b.address = load_le64(p);
            b.size = load_le64(p + 8);
            b.stack = load_le32(p + 16);
            b.time_ms = load_le64(p + 20);
            if (version >= 2) {
                b.origin = static_cast<model::BlockOrigin>(p[28]);
                b.reach = static_cast<model::Reach>(p[29]);
            }
        }
        done += batch;
    }

    const uint64_t n_cleanups = r.count(r.u32("cleanup count"), 32, "cleanups");
    reserve_ahead(e.cleanups, n_cleanups);
    for (uint64_t i = 0; i < n_cleanups; ++i) {
        model::Cleanup &c = e.cleanups.emplace_back();
        c.time_ms = r.u64("cleanup time");
        c.outcome = static_cast<model::Outcome>(r.u32("cleanup outcome"));
        c.blocks = r.u64("cleanup blocks");
        c.bytes = r.u64("cleanup bytes");
        decode_groups(r, c.stacks, kCleanupGroups);
        if (version >= 2) {
            c.left_blocks = r.u64("left-behind blocks");
            c.left_bytes = r.u64("left-behind bytes");
            decode_groups(r, c.left_stacks, kLeftGroups);
        }
        if (!r.ok()) return false;
    }

    const uint64_t n_misuse = r.count(r.u32("misuse count"), 32, "misuse events");
    reserve_ahead(e.misuse, n_misuse);
    for (uint64_t i = 0; i < n_misuse; ++i) {
        model::Misuse &m = e.misuse.emplace_back();
        m.time_ms = r.u64("misuse time");
        m.kind = static_cast<model::MisuseKind>(r.u32("misuse kind"));
        m.function = r.str("misuse function");
        m.address = r.u64("misuse address");
        m.stack = r.u32("misuse stack");
        m.owner = r.str("misuse owner");
        if (!r.ok()) return false;
    }
    if (version < 2) return r.ok();

    e.kind = static_cast<model::KeyKind>(r.u32("key kind"));
    const uint64_t n_events = r.count(r.u32("event count"), 52, "events");
    reserve_ahead(e.events, n_events);
    for (uint64_t i = 0; i < n_events; ++i) {
        model::Event &ev = e.events.emplace_back();
        ev.time_ms = r.u64("event time");
        ev.ident = r.u32("event ident");
        ev.flags = r.u32("event flags");
        ev.severity = r.u32("event severity");
        ev.justification = r.u32("event justification");
        ev.source = r.str("event source");
        ev.name = r.str("event name");
        ev.description = r.str("event description");
        ev.machine = r.str("event machine");
        ev.url = r.str("event url");
        ev.event_unix_ms = r.u64("event system time");
        const uint64_t n_columns = r.count(r.u32("event column count"), 12, "event columns");
        reserve_ahead(ev.columns, n_columns);
        for (uint64_t k = 0; k < n_columns && r.ok(); ++k) {
            model::EventColumn &c = ev.columns.emplace_back();
            c.name = r.str("event column name");
            c.type = r.u32("event column type");
            c.value = r.str("event column value");
        }
        if (!r.ok()) return false;
    }
    e.events_dropped = r.u64("events dropped");
    for (model::Event &ev : e.events) {
        ev.justification_text = r.str("event justification text");
        if (!r.ok()) return false;
    }
    return r.ok();
}

// Checks that every index and enum of a decoded snapshot is usable as is.
bool validate(const model::Snapshot &s, std::string *error) {
    auto bad = [&](const std::string &why) {
        if (error) *error = "corrupted payload: " + why;
        return false;
    };
    const size_t n_frames = s.frames.size(), n_stacks = s.stacks.size();
    for (size_t i = 0; i < n_stacks; ++i)
        for (uint32_t f : s.stacks[i].frames)
            if (f >= n_frames)
                return bad("stack " + std::to_string(i) + " refers to frame " + std::to_string(f) +
                           " of " + std::to_string(n_frames));
    // Stack 0 means "not captured" and is valid even in a snapshot that holds no stacks at all.
    auto stack_ok = [&](uint32_t id) { return id == 0 || id < n_stacks; };
    for (const model::Expert &e : s.experts) {
        const std::string who = "expert " + std::to_string(e.id) + " ";
        if (static_cast<uint32_t>(e.state) > static_cast<uint32_t>(model::ExpertState::Closed))
            return bad(who + "has unknown state " + std::to_string(static_cast<uint32_t>(e.state)));
        if (static_cast<uint32_t>(e.outcome) > static_cast<uint32_t>(model::Outcome::Timeout))
            return bad(who + "has unknown outcome " +
                       std::to_string(static_cast<uint32_t>(e.outcome)));
        if (static_cast<uint32_t>(e.kind) > static_cast<uint32_t>(model::KeyKind::Module))
            return bad(who + "has unknown kind " + std::to_string(static_cast<uint32_t>(e.kind)));
        if (!stack_ok(e.crash_stack))
            return bad(who + "crash stack " + std::to_string(e.crash_stack) + " does not exist");
        for (const model::Block &b : e.blocks) {
            if (!stack_ok(b.stack))
                return bad(who + "block stack " + std::to_string(b.stack) + " does not exist");
            if (static_cast<uint32_t>(b.origin) > static_cast<uint32_t>(model::BlockOrigin::Heap) ||
                static_cast<uint32_t>(b.reach) > static_cast<uint32_t>(model::Reach::DefinitelyLost))
                return bad(who + "block has an unknown origin or reachability class");
        }
        for (const model::Cleanup &c : e.cleanups) {
            if (static_cast<uint32_t>(c.outcome) > static_cast<uint32_t>(model::Outcome::Timeout))
                return bad(who + "cleanup has unknown outcome");
            for (const auto *groups : {&c.stacks, &c.left_stacks, &c.reclaimed_left_stacks}) {
                const char *what = groups == &c.stacks        ? "cleanup"
                                   : groups == &c.left_stacks ? "left-behind"
                                                              : "reclaimed";
                for (const model::StackGroup &g : *groups)
                    if (!stack_ok(g.stack))
                        return bad(who + what + " stack " + std::to_string(g.stack) + " does not exist");
            }
        }
        for (const model::Misuse &m : e.misuse) {
            if (static_cast<uint32_t>(m.kind) > static_cast<uint32_t>(model::MisuseKind::MismatchedFree))
                return bad(who + "misuse event has unknown kind");
            if (!stack_ok(m.stack))
                return bad(who + "misuse stack " + std::to_string(m.stack) + " does not exist");
        }
    }
    return true;
}

} // namespace

void encode_payload(const model::Snapshot &snap, std::vector<uint8_t> *out) {
    size_t blocks = 0;
    for (const model::Expert &e : snap.experts) blocks += e.blocks.size();
    out->reserve(out->size() + blocks * kBlockBytes + snap.frames.size() * 96 +
                 snap.stacks.size() * 48 + 4096);

    Writer w(out, "snapshot");
    const model::Process &p = snap.process;
    w.i32(p.pid);
    w.str(p.command);
    w.str(p.executable);
    w.str(p.hostname);
    w.u64(p.start_unix_ms);
    w.u64(p.snapshot_ms);
    w.u32(p.stack_depth);
    w.u8(p.heap_tracked ? 1 : 0);
    w.u64(p.foreign_frees);
    w.u8(p.reach_classified ? 1 : 0);

    w.count32(snap.modules.size(), "modules");
    for (const model::Module &m : snap.modules) {
        w.str(m.path);
        w.u64(m.base);
        w.u64(m.size);
        w.str(m.build_id);
    }
    w.count32(snap.frames.size(), "frames");
    for (const model::Frame &f : snap.frames) {
        w.u64(f.address);
        w.str(f.function);
        w.str(f.file);
        w.u32(f.line);
        w.str(f.module);
        w.u64(f.module_offset);
    }
    w.count32(snap.stacks.size(), "stacks");
    for (const model::Stack &s : snap.stacks) {
        w.count32(s.frames.size(), "frames in one stack");
        uint8_t *q = w.grow(s.frames.size() * 4);
        for (uint32_t f : s.frames) {
            store_le32(q, f);
            q += 4;
        }
    }
    w.count32(snap.experts.size(), "experts");
    for (const model::Expert &e : snap.experts) encode_expert(w, e);
    w.str(p.reach_note);
    w.u32(kHeapMarker);
    for (const model::Expert &e : snap.experts)
        for (uint64_t v : {e.heap_blocks, e.heap_bytes, e.heap_allocs, e.heap_frees}) w.u64(v);
    bool reclaim = false;
    for (const model::Expert &e : snap.experts)
        for (const model::Cleanup &c : e.cleanups)
            reclaim = reclaim || c.reclaimed_left_blocks || c.reclaimed_left_bytes ||
                      !c.reclaimed_left_stacks.empty() || !c.reclaim_note.empty();
    if (reclaim) {
        w.u32(kReclaimMarker);
        for (const model::Expert &e : snap.experts)
            for (const model::Cleanup &c : e.cleanups) {
                w.u64(c.reclaimed_left_blocks);
                w.u64(c.reclaimed_left_bytes);
                encode_groups(w, c.reclaimed_left_stacks, kReclaimedGroups);
                w.str(c.reclaim_note);
            }
    }
    w.u32(kEndMarker);
}

namespace {

bool decode_all(Reader &r, model::Snapshot *out, std::string *error, uint32_t version) {
    if (version < kOldestFormatVersion || version > kFormatVersion) {
        if (error) *error = "unsupported snapshot payload version " + std::to_string(version);
        return false;
    }
    model::Snapshot s;
    s.version = kFormatVersion;
    model::Process &p = s.process;
    p.pid = r.i32("pid");
    p.command = r.str("command");
    p.executable = r.str("executable");
    p.hostname = r.str("hostname");
    p.start_unix_ms = r.u64("start_unix_ms");
    p.snapshot_ms = r.u64("snapshot_ms");
    p.stack_depth = r.u32("stack_depth");
    if (version >= 2) {
        p.heap_tracked = r.u8("heap_tracked") != 0;
        p.foreign_frees = r.u64("foreign_frees");
        p.reach_classified = r.u8("reach_classified") != 0;
    }

    const uint64_t n_modules = r.count(r.u32("module count"), 24, "modules");
    reserve_ahead(s.modules, n_modules);
    for (uint64_t i = 0; i < n_modules; ++i) {
        model::Module &m = s.modules.emplace_back();
        m.path = r.str("module path");
        m.base = r.u64("module base");
        m.size = r.u64("module size");
        m.build_id = r.str("module build id");
        if (!r.ok()) break;
    }
    const uint64_t n_frames = r.count(r.u32("frame count"), 32, "frames");
    reserve_ahead(s.frames, n_frames);
    for (uint64_t i = 0; i < n_frames && r.ok(); ++i) {
        model::Frame &f = s.frames.emplace_back();
        f.address = r.u64("frame address");
        f.function = r.str("frame function");
        f.file = r.str("frame file");
        f.line = r.u32("frame line");
        f.module = r.str("frame module");
        f.module_offset = r.u64("frame module offset");
        if (!r.ok()) break;
    }
    const uint64_t n_stacks = r.count(r.u32("stack count"), 4, "stacks");
    reserve_ahead(s.stacks, n_stacks);
    for (uint64_t i = 0; i < n_stacks && r.ok(); ++i) {
        model::Stack &st = s.stacks.emplace_back();
        const uint64_t depth = r.count(r.u32("stack depth"), 4, "frames in one stack");
        reserve_ahead(st.frames, depth);
        for (uint64_t done = 0; done < depth;) {
            const size_t batch = static_cast<size_t>(std::min<uint64_t>(depth - done, kBlockBatch));
            const uint8_t *q = r.take(batch * 4, "stack frames");
            if (!q) break;
            for (size_t k = 0; k < batch; ++k, q += 4) st.frames.push_back(load_le32(q));
            done += batch;
        }
    }
    const uint64_t n_experts = r.count(r.u32("expert count"), 120, "experts");
    reserve_ahead(s.experts, n_experts);
    for (uint64_t i = 0; i < n_experts; ++i)
        if (!decode_expert(r, s.experts.emplace_back(), version)) break;
    // An older v2 payload ends with the marker here; a newer one has the tail first.
    if (version >= 2 && r.ok() && r.remaining() > 4) p.reach_note = r.str("reach note");

    uint32_t marker = r.ok() ? r.u32("end marker") : 0;
    if (r.ok() && version >= 2 && marker == kHeapMarker) {
        for (model::Expert &e : s.experts) {
            e.heap_blocks = r.u64("heap blocks");
            e.heap_bytes = r.u64("heap bytes");
            e.heap_allocs = r.u64("heap allocs");
            e.heap_frees = r.u64("heap frees");
        }
        marker = r.ok() ? r.u32("end marker") : 0;
    }
    if (r.ok() && version >= 2 && marker == kReclaimMarker) {
        for (model::Expert &e : s.experts)
            for (model::Cleanup &c : e.cleanups) {
                if (!r.ok()) break;
                c.reclaimed_left_blocks = r.u64("reclaimed left-behind blocks");
                c.reclaimed_left_bytes = r.u64("reclaimed left-behind bytes");
                decode_groups(r, c.reclaimed_left_stacks, kReclaimedGroups);
                c.reclaim_note = r.str("reclaim note");
            }
        marker = r.ok() ? r.u32("end marker") : 0;
    }
    if (r.ok() && marker != kEndMarker)
        r.fail("corrupted payload: end marker missing at offset " + std::to_string(r.offset() - 4));
    if (r.ok() && r.remaining() != 0)
        r.fail("corrupted payload: " + std::to_string(r.remaining()) +
               " unexpected bytes after the end marker");
    if (!r.ok()) {
        if (error) *error = r.error();
        return false;
    }
    if (!validate(s, error)) return false;
    *out = std::move(s);
    return true;
}

} // namespace

bool decode_payload(std::span<const uint8_t> payload, model::Snapshot *out, std::string *error,
                    uint32_t version) {
    Reader r(payload);
    return decode_all(r, out, error, version);
}

bool decode_payload_stream(ByteSource &source, uint64_t size, model::Snapshot *out, std::string *error,
                           uint32_t version) {
    Reader r(source, size);
    return decode_all(r, out, error, version);
}

} // namespace nm::snapshot_io
