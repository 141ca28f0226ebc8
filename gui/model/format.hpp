// format.hpp - the text the views show for sizes, counts, times and frames (no ImGui; unit-tested).
#pragma once

#include <nmleak/model.hpp>

#include <cstdint>
#include <string>

namespace nm::gui::fmt {

// "0 B", "512 B", "1.50 KiB", "12.3 MiB", "2.00 GiB": three significant digits.
std::string bytes(uint64_t n);
// Signed: "+1.50 KiB", "-512 B", "0 B".
std::string delta_bytes(int64_t n);
// Thousands separated by commas: "1,234,567".
std::string count(uint64_t n);
// Milliseconds as "850 ms", "12.3 s", "4 m 05 s", "2 h 03 m".
std::string duration_ms(uint64_t ms);
// A tracker time (ms since start) as "+12.345 s".
std::string at_ms(uint64_t ms);
// Wall clock "2024-05-01 10:00:01.500" (local time) of a tracker time, given the start.
std::string wall_clock(uint64_t start_unix_ms, uint64_t ms);
// "0x7f0000101234".
std::string address(uint64_t a);
// "42.0 %".
std::string percent(double fraction);

// The name of a frame: its function, else "module+0x1234", else its address.
std::string frame_function(const model::Frame &f);
// "parser.cpp:42", "parser.cpp", or "" without a file.
std::string frame_location(const model::Frame &f, bool full_path = false);
// The module's file name ("libhttp_expert.so").
std::string module_name(const std::string &path);
// A function name cut to `max` characters from the right end of its scope ("...Parser::parse(...)")
// with argument lists shortened to "(...)".
std::string short_function(const std::string &fn, size_t max = 80);

// "running", "terminate requested", "done", "failed", ... for the experts table.
std::string state_text(const model::Expert &e);
// The same for a key of a process that is gone: an open key's fate is unknown.
std::string state_text(const model::Expert &e, bool process_ended);
const char *misuse_text(model::MisuseKind k); // "double free", ...
const char *outcome_text(model::Outcome o);   // "leak (done)", "forced: failed", ...
const char *severity_text(uint32_t severity);  // NMEVENT_SEVERITY_*: "informational", "warning", ...

} // namespace nm::gui::fmt
