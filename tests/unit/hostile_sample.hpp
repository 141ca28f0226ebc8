// hostile_sample.hpp - the report sample with terminal control sequences in every string an
// expert, a process or a crafted file can set (names, status texts, details, symbols, paths).
#pragma once

#include "unit/report_sample.hpp"

#include <string>

namespace nm::test {

// OSC "set window title" ending in BEL, a carriage return, "erase line", a raw C1 CSI byte, an
// encoded C1 CSI (U+009B), a bidi override, DEL and a byte that is not UTF-8.
inline const std::string kHostile = "\x1b]0;owned\x07\r\x1b[2K\x9b" "31m\xc2\x9b" "1m\xe2\x80\xae\x7f\xff";

inline model::Snapshot hostile_snapshot() {
    model::Snapshot s = sample_snapshot();
    s.process.command += kHostile;
    s.process.hostname += kHostile;
    for (model::Expert &e : s.experts) {
        e.name += kHostile;
        e.status.text += kHostile;
        e.outcome_detail += kHostile;
        for (model::Misuse &m : e.misuse) {
            m.function += kHostile;
            if (!m.owner.empty()) m.owner += kHostile;
        }
    }
    for (model::Frame &f : s.frames) {
        if (!f.function.empty()) f.function += kHostile;
        if (!f.file.empty()) f.file += kHostile;
        if (!f.module.empty()) f.module += kHostile;
    }
    return s;
}

// The offset of the first byte of `text` that is neither printable ASCII nor '\n', or npos. The
// hostile snapshot has no other non-ASCII text, so its escaped rendering must pass.
inline size_t first_unsafe_byte(const std::string &text) {
    for (size_t i = 0; i < text.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        if (!(c == '\n' || (c >= 0x20 && c < 0x7f))) return i;
    }
    return std::string::npos;
}

} // namespace nm::test
