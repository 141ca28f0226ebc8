// report_json.hpp - reading a JSON leak report (nmleak's `--report FILE.json`) in the integration
// tests: a key by name, and its leak groups by a function on their stacks.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace nmt {

// The entry of report["experts"] (expert and module keys alike) named `name`; nullptr: none.
inline const nlohmann::json *key_named(const nlohmann::json &report, const std::string &name) {
    for (const nlohmann::json &e : report["experts"])
        if (e["name"] == name) return &e;
    return nullptr;
}

// Does some frame of `stack` name a function containing `function`?
inline bool stack_has(const nlohmann::json &stack, const std::string &function) {
    for (const nlohmann::json &f : stack)
        if (f.value("function", "").find(function) != std::string::npos) return true;
    return false;
}

// Bytes of key e's leak groups with a frame naming `function` ("" any), of one origin ("api",
// "heap"; "" either).
inline uint64_t leaked_bytes(const nlohmann::json &e, const std::string &function, const std::string &origin = "") {
    uint64_t bytes = 0;
    for (const nlohmann::json &l : e["leaks"])
        if ((origin.empty() || l.value("origin", "") == origin) && (function.empty() || stack_has(l["stack"], function)))
            bytes += l["bytes"].get<uint64_t>();
    return bytes;
}

// Has key e a leak group with a frame naming `function` (whatever its size, 0 bytes included)?
inline bool has_leak_in(const nlohmann::json &e, const std::string &function) {
    for (const nlohmann::json &l : e["leaks"])
        if (stack_has(l["stack"], function)) return true;
    return false;
}

} // namespace nmt
