// pprof_writer.cpp - the gzipped pprof profile (profile.proto) read by go tool pprof, Pyroscope
// and Parca.
//
// One sample per (key, stack) and kind of memory, its location ids innermost first as pprof wants.
// Six sample types, in this order:
//   outstanding_objects/count, outstanding_space/bytes  live blocks of keys still open
//   leaked_objects/count,      leaked_space/bytes       what the report counts as leaked
//   reclaimed_objects/count,   reclaimed_space/bytes    forced cleanups (a failed, terminated,
//                                                       crashed or timed-out run)
// A sample carries its figures in its own kind's two columns and zeros elsewhere. Suppressed leaks
// are left out, as in every report; their totals are in the profile's comments. Allocation totals
// are kept per key, not per stack, so the profile has no allocated_* types.
// Labels: key (the expert or module name), key_id, kind (expert or module), outcome (done, failed,
// ..., or open for a key not yet closed); with the whole heap tracked also origin (api or heap:
// malloc/new, for an expert key outside the API) and, for heap blocks a closed key left behind
// at its close, left_behind=yes.
// Every frame is a location with one line whose function is the frame's symbol (or module+offset
// when it has none), and every mapping says it has functions: pprof never tries to symbolize a
// snapshot's addresses with the local machine's binaries, which would be the wrong ones.
#include <nmleak/report.hpp>

#include "report/gzip.hpp"
#include "report/protobuf_out.hpp"
#include "report/render.hpp"

#include <algorithm>
#include <array>
#include <ostream>
#include <iterator>
#include <optional>
#include <unordered_map>

namespace nm::report {
namespace {

using detail::ProtoOut;

// profile.proto field numbers.
namespace profile {
constexpr uint32_t kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4, kFunction = 5,
                   kStringTable = 6, kTimeNanos = 9, kDurationNanos = 10, kPeriodType = 11,
                   kPeriod = 12, kComment = 13, kDefaultSampleType = 14;
}
namespace value_type {
constexpr uint32_t kType = 1, kUnit = 2;
}
namespace sample {
constexpr uint32_t kLocationId = 1, kValue = 2, kLabel = 3;
}
namespace label {
constexpr uint32_t kKey = 1, kStr = 2, kNum = 3;
}
namespace mapping {
constexpr uint32_t kId = 1, kMemoryStart = 2, kMemoryLimit = 3, kFilename = 5, kBuildId = 6,
                   kHasFunctions = 7, kHasFilenames = 8, kHasLineNumbers = 9;
}
namespace location {
constexpr uint32_t kId = 1, kMappingId = 2, kAddress = 3, kLine = 4;
}
namespace line {
constexpr uint32_t kFunctionId = 1, kLine = 2;
}
namespace function {
constexpr uint32_t kId = 1, kName = 2, kSystemName = 3, kFilename = 4;
}

enum Column : size_t { kOutstanding = 0, kLeaked = 1, kReclaimed = 2, kColumns = 3 };
constexpr std::array<const char *, kColumns> kColumnNames = {"outstanding", "leaked", "reclaimed"};

class StringTable {
public:
    StringTable() { index(""); }
    int64_t index(std::string_view s) {
        auto [it, fresh] = ids_.try_emplace(std::string(s), static_cast<int64_t>(strings_.size()));
        if (fresh) strings_.push_back(&it->first);
        return it->second;
    }
    void encode(ProtoOut &out) const {
        for (const std::string *s : strings_) out.bytes(profile::kStringTable, *s);
    }

private:
    std::unordered_map<std::string, int64_t> ids_;
    std::vector<const std::string *> strings_; // node-based map: pointers stay valid
};

struct Sample {
    uint32_t expert;
    uint32_t stack;
    Column column;
    uint64_t objects, bytes;
    bool heap = false; // malloc/new blocks (LeakGroup::heap)
};

class ProfileBuilder {
public:
    explicit ProfileBuilder(const LeakReport &r) : r_(r), s_(*r.snapshot) {}

    void build(std::string &out) {
        collect();
        ProtoOut p(out);
        std::string msg, sub, scratch;

        for (size_t c = 0; c < kColumns; ++c) {
            value_type(msg, std::string(kColumnNames[c]) + "_objects", "count");
            p.bytes(profile::kSampleType, msg);
            value_type(msg, std::string(kColumnNames[c]) + "_space", "bytes");
            p.bytes(profile::kSampleType, msg);
        }

        // Samples first: they decide which frames, functions and mappings are written.
        std::vector<uint64_t> ids;
        std::array<int64_t, 2 * kColumns> values{};
        const int64_t k_key = strings_.index("key"), k_key_id = strings_.index("key_id"),
                      k_kind = strings_.index("kind"), k_outcome = strings_.index("outcome");
        const bool heap = s_.process.heap_tracked;
        const int64_t k_origin = heap ? strings_.index("origin") : 0, k_left = heap ? strings_.index("left_behind") : 0;
        detail::Ticker ticker(r_, "writing pprof", samples_.size());
        for (const Sample &smp : samples_) {
            ticker.tick();
            const model::Expert &e = s_.experts[smp.expert];
            msg.clear();
            ProtoOut m(msg);
            ids.clear();
            const model::Stack &st = detail::stack_at(s_, smp.stack);
            for (uint32_t f : st.frames) ids.push_back(location_for(f));
            if (ids.empty()) ids.push_back(no_stack_location());
            m.packed(sample::kLocationId, ids.begin(), ids.end(), scratch);
            values.fill(0);
            values[2 * smp.column] = static_cast<int64_t>(smp.objects);
            values[2 * smp.column + 1] = static_cast<int64_t>(smp.bytes);
            m.packed(sample::kValue, values.begin(), values.end(), scratch);
            label_str(m, sub, k_key, e.name.empty() ? "<unnamed>" : e.name);
            label_num(m, sub, k_key_id, static_cast<int64_t>(e.id));
            label_str(m, sub, k_kind, key_kind(e));
            label_str(m, sub, k_outcome,
                      e.state == model::ExpertState::Closed ? detail::outcome_name(e.outcome) : "open");
            if (heap) {
                label_str(m, sub, k_origin, smp.heap ? "heap" : "api");
                if (smp.heap && smp.column == kOutstanding && e.kind == model::KeyKind::Expert &&
                    e.state == model::ExpertState::Closed)
                    label_str(m, sub, k_left, "yes");
            }
            p.bytes(profile::kSample, msg);
        }

        for (size_t n = 0; n < s_.modules.size(); ++n) {
            // The executable first, then the others in the snapshot's order.
            const size_t i = n == 0 ? exe_module_ : n <= exe_module_ ? n - 1 : n;
            if (!module_used_[i]) continue;
            const model::Module &mod = s_.modules[i];
            msg.clear();
            ProtoOut m(msg);
            m.uint(mapping::kId, i + 1);
            m.uint(mapping::kMemoryStart, mod.base);
            m.uint(mapping::kMemoryLimit, mod.base + mod.size);
            m.sint(mapping::kFilename, strings_.index(mod.path));
            m.sint(mapping::kBuildId, strings_.index(mod.build_id));
            m.boolean(mapping::kHasFunctions, true);
            m.boolean(mapping::kHasFilenames, true);
            m.boolean(mapping::kHasLineNumbers, true);
            p.bytes(profile::kMapping, msg);
        }
        for (const Location &loc : locations_) {
            msg.clear();
            ProtoOut m(msg);
            m.uint(location::kId, loc.id);
            m.uint(location::kMappingId, loc.mapping);
            m.uint(location::kAddress, loc.address);
            sub.clear();
            ProtoOut l(sub);
            l.uint(line::kFunctionId, loc.function);
            l.sint(line::kLine, loc.line);
            m.bytes(location::kLine, sub);
            p.bytes(profile::kLocation, msg);
        }
        for (size_t i = 0; i < functions_.size(); ++i) {
            msg.clear();
            ProtoOut m(msg);
            m.uint(function::kId, i + 1);
            m.sint(function::kName, functions_[i].name);
            m.sint(function::kSystemName, functions_[i].name);
            m.sint(function::kFilename, functions_[i].file);
            p.bytes(profile::kFunction, msg);
        }

        const model::Process &proc = s_.process;
        const int64_t comments[] = {
            strings_.index("nmleak snapshot of pid " + std::to_string(proc.pid) +
                           (proc.hostname.empty() ? "" : " on " + proc.hostname) +
                           (proc.command.empty() ? "" : ": " + proc.command)),
            strings_.index("suppressed: " + std::to_string(r_.suppressed_total.stacks) + " stacks, " +
                           std::to_string(r_.suppressed_total.blocks) + " blocks, " +
                           std::to_string(r_.suppressed_total.bytes) + " bytes"),
        };
        std::vector<int64_t> budget_comments;
        for (const BudgetCheck &c : r_.budget_checks)
            if (c.over()) budget_comments.push_back(strings_.index("over budget: " + describe(c, r_.budgets)));
        const int64_t default_type = strings_.index(default_sample_type());
        value_type(msg, "space", "bytes");
        const uint64_t start_ns = proc.start_unix_ms * 1000000ull;
        const uint64_t taken_ns = proc.snapshot_ms * 1000000ull;

        strings_.encode(p);
        p.uint(profile::kTimeNanos, start_ns + taken_ns);
        p.uint(profile::kDurationNanos, taken_ns);
        p.bytes(profile::kPeriodType, msg);
        p.uint(profile::kPeriod, 1);
        std::vector<int64_t> all_comments(std::begin(comments), std::end(comments));
        all_comments.insert(all_comments.end(), budget_comments.begin(), budget_comments.end());
        for (int64_t c : all_comments) {
            // `comment` is a repeated int64 that readers accept packed or not.
            std::string one;
            ProtoOut(one).varint(static_cast<uint64_t>(c));
            p.bytes(profile::kComment, one);
        }
        p.sint(profile::kDefaultSampleType, default_type);
    }

private:
    struct Location {
        uint64_t id, mapping, address, function;
        int64_t line;
    };
    struct Function {
        int64_t name, file;
    };

    void collect() {
        for (const LeakGroup &g : r_.leaks) {
            samples_.push_back({g.expert, g.stack,
                                g.kind == LeakKind::Leaked ? kLeaked : kOutstanding, g.blocks,
                                g.bytes, g.heap});
            totals_[samples_.back().column] += g.bytes;
        }
        for (size_t i = 0; i < s_.experts.size(); ++i)
            for (const model::Cleanup &c : s_.experts[i].cleanups) {
                if (c.outcome == model::Outcome::Done) continue;
                uint64_t blocks = 0, bytes = 0;
                for (const model::StackGroup &g : c.stacks) {
                    samples_.push_back({static_cast<uint32_t>(i), g.stack, kReclaimed, g.blocks, g.bytes});
                    blocks += g.blocks;
                    bytes += g.bytes;
                }
                if (c.blocks > blocks || c.bytes > bytes)
                    samples_.push_back({static_cast<uint32_t>(i), 0, kReclaimed,
                                        c.blocks > blocks ? c.blocks - blocks : 0,
                                        c.bytes > bytes ? c.bytes - bytes : 0});
                totals_[kReclaimed] += c.bytes;
                for (const model::StackGroup &g : c.reclaimed_left_stacks) { // the opt-in heap reclaim
                    samples_.push_back({static_cast<uint32_t>(i), g.stack, kReclaimed, g.blocks, g.bytes, true});
                    totals_[kReclaimed] += g.bytes;
                }
            }
        module_used_.assign(s_.modules.size(), false);
        // pprof takes the first mapping for the main binary ("File:" in its views): the
        // executable's module is always written, even when no frame falls in it.
        for (size_t i = 0; i < s_.modules.size(); ++i)
            if (!s_.process.executable.empty() && s_.modules[i].path == s_.process.executable) {
                module_used_[i] = true;
                exe_module_ = i;
                break;
            }
        location_of_frame_.assign(s_.frames.size(), 0);
        for (size_t i = 0; i < s_.modules.size(); ++i) module_index_.try_emplace(s_.modules[i].path, i);
        modules_by_base_.resize(s_.modules.size());
        for (size_t i = 0; i < s_.modules.size(); ++i) modules_by_base_[i] = i;
        std::sort(modules_by_base_.begin(), modules_by_base_.end(),
                  [&](size_t a, size_t b) { return s_.modules[a].base < s_.modules[b].base; });
    }

    // The module a frame belongs to: by its path, else by the address range that holds it. The
    // symbolizer may name a library by another path than the process's maps do (/usr/lib/... for
    // /lib/... on a merged /usr), and the address still places it.
    std::optional<size_t> module_of(const model::Frame &f) const {
        if (!f.module.empty()) {
            auto it = module_index_.find(f.module);
            if (it != module_index_.end()) return it->second;
        }
        auto it = std::upper_bound(modules_by_base_.begin(), modules_by_base_.end(), f.address,
                                   [&](uint64_t a, size_t m) { return a < s_.modules[m].base; });
        if (it == modules_by_base_.begin()) return std::nullopt;
        const model::Module &m = s_.modules[*std::prev(it)];
        if (f.address - m.base < m.size) return *std::prev(it);
        return std::nullopt;
    }

    // The column a reader sees first: the leaks if there are any, else what is outstanding.
    std::string default_sample_type() const {
        for (Column c : {kLeaked, kOutstanding, kReclaimed})
            if (totals_[c] > 0) return std::string(kColumnNames[c]) + "_space";
        return "leaked_space";
    }

    static const char *key_kind(const model::Expert &e) { return model::to_string(e.kind); }

    void value_type(std::string &msg, const std::string &type, const char *unit) {
        msg.clear();
        ProtoOut m(msg);
        m.sint(value_type::kType, strings_.index(type));
        m.sint(value_type::kUnit, strings_.index(unit));
    }

    void label_str(ProtoOut &m, std::string &sub, int64_t key, std::string_view value) {
        sub.clear();
        ProtoOut l(sub);
        l.sint(label::kKey, key);
        l.sint(label::kStr, strings_.index(value));
        m.bytes(sample::kLabel, sub);
    }
    void label_num(ProtoOut &m, std::string &sub, int64_t key, int64_t value) {
        sub.clear();
        ProtoOut l(sub);
        l.sint(label::kKey, key);
        l.sint(label::kNum, value);
        m.bytes(sample::kLabel, sub);
    }

    uint64_t function_for(const std::string &name, const std::string &file) {
        auto [it, fresh] = function_index_.try_emplace(name + '\0' + file, functions_.size() + 1);
        if (fresh) functions_.push_back({strings_.index(name), strings_.index(file)});
        return it->second;
    }

    uint64_t location_for(uint32_t frame) {
        if (frame < location_of_frame_.size() && location_of_frame_[frame] != 0)
            return location_of_frame_[frame];
        const model::Frame &f = detail::frame_at(s_, frame);
        Location loc{locations_.size() + 1, 0, f.address, 0, static_cast<int64_t>(f.line)};
        if (f.address != 0 || !f.module.empty()) {
            if (std::optional<size_t> m = module_of(f)) {
                loc.mapping = *m + 1;
                module_used_[*m] = true;
            }
        }
        loc.function = function_for(detail::frame_label(f), f.file);
        locations_.push_back(loc);
        if (frame < location_of_frame_.size()) location_of_frame_[frame] = loc.id;
        return loc.id;
    }

    // Blocks recorded without a stack (sizes-only mode) hang under one pseudo-frame.
    uint64_t no_stack_location() {
        if (no_stack_ == 0) {
            no_stack_ = locations_.size() + 1;
            locations_.push_back({no_stack_, 0, 0, function_for("[no stack recorded]", ""), 0});
        }
        return no_stack_;
    }

    const LeakReport &r_;
    const model::Snapshot &s_;
    StringTable strings_;
    std::vector<Sample> samples_;
    std::array<uint64_t, kColumns> totals_{};
    std::vector<Location> locations_;
    std::vector<uint64_t> location_of_frame_;
    std::vector<Function> functions_;
    std::unordered_map<std::string, uint64_t> function_index_;
    std::unordered_map<std::string_view, size_t> module_index_;
    std::vector<size_t> modules_by_base_;
    size_t exe_module_ = 0; // index of the executable's module (0 when it is not listed)
    std::vector<bool> module_used_;
    uint64_t no_stack_ = 0;
};

} // namespace

bool detail::render_pprof(std::string &out, const LeakReport &r, std::string *error) {
    std::string raw;
    ProfileBuilder(r).build(raw);
    if (r.progress) r.progress("compressing the profile", 0, 0);
    return gzip_append(out, raw, error);
}

bool write_pprof(std::ostream &out, const LeakReport &r, std::string *error) {
    std::string o;
    if (!detail::render_pprof(o, r, error)) return false;
    out.write(o.data(), static_cast<std::streamsize>(o.size()));
    if (!out) {
        if (error) *error = "write error on the output stream";
        return false;
    }
    return true;
}

} // namespace nm::report
