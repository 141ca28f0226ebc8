// text.hpp - making untrusted strings (expert names, status texts, symbols, command lines, paths)
// safe to print on a terminal.
//
// Every human-readable output (the text report, the diff, the demo table, the command line's
// messages) passes the strings it did not write itself through escape(): an expert, a process's
// argv or a crafted snapshot can then not move the cursor, retitle the window, ring the bell or
// rewrite earlier lines. Machine formats (JSON, SARIF) have their own escaping and keep the raw text.
#pragma once

#include <string>
#include <string_view>

namespace nm::text {

// Returns s with every byte sequence that a terminal could act on replaced by a visible escape:
//   C0 controls and DEL   \n \r \t, others \xNN  (ESC is \x1b, BEL \x07)
//   invalid UTF-8         \xNN per byte that does not start a valid sequence (lone C1 bytes too)
//   C1 controls           \u0080..\u009f when validly encoded (U+009B is a CSI on some terminals)
//   bidi and line controls  \u200e \u200f \u202a..\u202e \u2066..\u2069 \u061c \u2028 \u2029
// Valid UTF-8 text is kept as it is, and so are backslashes: the result is for reading, not
// for parsing back.
std::string escape(std::string_view s);

// The same, but '\n' is kept: for a whole multi-line text (a rendered report) as a last line of
// defence. Fields that must stay on one line are escaped with escape() before they go in.
std::string escape_lines(std::string_view s);

// True when escape(s) == s (nothing to do): a fast test for the common case.
bool is_clean(std::string_view s, bool allow_newlines = false) noexcept;

} // namespace nm::text
