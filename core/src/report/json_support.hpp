// json_support.hpp - JSON output shared by the report writers: a streaming writer and DOM helpers.
//
// The JSON report of a big snapshot holds 10^4..10^5 stacks of ~16 frames. Building that as an
// nlohmann DOM and dumping it costs ~0.9 s per 1M-block snapshot (a node and several allocations
// per field); streaming it with JsonOut costs a tenth. nlohmann::json still encodes every string
// (escaping, invalid UTF-8 replaced by U+FFFD). The SARIF and diff documents, smaller and deeper,
// are nlohmann DOMs built with frame_json/StackJsonCache and printed by dump().
#pragma once

#include <nmleak/model.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace nm::report::detail {

// `s` as a JSON string literal, quotes included, as nlohmann::json would write it.
std::string json_string(std::string_view s);

// Pretty-printed like nlohmann's dump(2): one member per line, two spaces per level, "[]" and
// "{}" for empty containers. raw() writes an already encoded value (a frame) on one line.
class JsonOut {
public:
    explicit JsonOut(std::string &out) : out_(out) {}

    JsonOut &begin_object() { return open('{'); }
    JsonOut &end_object() { return close('}'); }
    JsonOut &begin_array() { return open('['); }
    JsonOut &end_array() { return close(']'); }
    // Keys are the report's own field names: plain ASCII, written as is.
    JsonOut &key(std::string_view k);
    JsonOut &str(std::string_view v) { return raw(json_string(v)); }
    JsonOut &num(uint64_t v) { return raw(std::to_string(v)); }
    JsonOut &num(int64_t v) { return raw(std::to_string(v)); }
    JsonOut &num(uint32_t v) { return num(static_cast<uint64_t>(v)); }
    JsonOut &num(int32_t v) { return num(static_cast<int64_t>(v)); }
    JsonOut &boolean(bool v) { return raw(v ? "true" : "false"); }
    JsonOut &null() { return raw("null"); }
    JsonOut &raw(std::string_view encoded);

private:
    JsonOut &open(char c);
    JsonOut &close(char c);
    void before_value();
    void newline_indent();

    std::string &out_;
    std::vector<bool> levels_; // per open container: nothing written into it yet
    bool after_key_ = false;
};

// {"function", "file", "line", "module", "offset", "address"}: unknown strings are "", an unknown
// line is 0; addresses are hex strings because JSON readers lose precision above 2^53.
nlohmann::ordered_json frame_json(const model::Frame &f);

// The frames of a stack as a JSON array, innermost first. Each frame object is built once and
// copied into every stack that holds it: stacks share most of their frames, and copying a built
// object costs a third of building it (no hex formatting, no key lookups).
class StackJsonCache {
public:
    explicit StackJsonCache(const model::Snapshot &s) : snap_(s) {}
    nlohmann::ordered_json get(uint32_t stack);

private:
    const model::Snapshot &snap_;
    std::unordered_map<uint32_t, nlohmann::ordered_json> frames_;
};

// Pretty-prints with two-space indentation; invalid UTF-8 in names (a hostile or damaged snapshot)
// becomes U+FFFD instead of an exception.
void dump(std::string &out, const nlohmann::ordered_json &doc);

} // namespace nm::report::detail
