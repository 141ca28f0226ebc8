// text_escape.cpp - terminal-safe rendering of untrusted strings (nmleak/text.hpp).
#include <nmleak/text.hpp>

#include <cstdint>

namespace nm::text {
namespace {

// Length of the valid UTF-8 sequence at s[i] (2..4) and its code point, or 0 when the bytes there
// are not a valid, shortest-form, non-surrogate sequence of a code point up to U+10FFFF.
size_t utf8_sequence(std::string_view s, size_t i, uint32_t *cp) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char lead = b(0);
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
        n = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        n = 3;
        if (lead == 0xE0) lo = 0xA0;      // no overlong forms
        else if (lead == 0xED) hi = 0x9F; // no UTF-16 surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        n = 4;
        if (lead == 0xF0) lo = 0x90;
        else if (lead == 0xF4) hi = 0x8F; // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() - i < n) return 0;
    if (b(1) < lo || b(1) > hi) return 0;
    for (size_t k = 2; k < n; ++k)
        if ((b(k) & 0xC0) != 0x80) return 0;
    uint32_t v = lead & (0xFF >> (n + 1));
    for (size_t k = 1; k < n; ++k) v = v << 6 | (b(k) & 0x3F);
    *cp = v;
    return n;
}

// Code points that are valid text but steer the terminal or the reading order.
bool is_format_control(uint32_t cp) {
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 ||
           cp == 0x2029;
}

const char kHex[] = "0123456789abcdef";

void append_hex_byte(std::string &out, unsigned char c) {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
}

void append_code_point(std::string &out, uint32_t cp) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xF];
}

std::string escape_impl(std::string_view s, bool keep_newlines) {
    if (is_clean(s, keep_newlines)) return std::string(s);
    std::string out;
    out.reserve(s.size() + 16);
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7F) {
            if (c == '\n' && keep_newlines) out += '\n';
            else if (c == '\n') out += "\\n";
            else if (c == '\r') out += "\\r";
            else if (c == '\t') out += "\\t";
            else append_hex_byte(out, c);
            ++i;
            continue;
        }
        if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        uint32_t cp = 0;
        const size_t n = utf8_sequence(s, i, &cp);
        if (n == 0) {
            append_hex_byte(out, c);
            ++i;
        } else if (is_format_control(cp)) {
            append_code_point(out, cp);
            i += n;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

} // namespace

bool is_clean(std::string_view s, bool allow_newlines) noexcept {
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7F) {
            ++i;
            continue;
        }
        if (c == '\n' && allow_newlines) {
            ++i;
            continue;
        }
        if (c < 0x80) return false; // a control character or DEL
        uint32_t cp = 0;
        const size_t n = utf8_sequence(s, i, &cp);
        if (n == 0 || is_format_control(cp)) return false;
        i += n;
    }
    return true;
}

std::string escape(std::string_view s) { return escape_impl(s, false); }

std::string escape_lines(std::string_view s) { return escape_impl(s, true); }

} // namespace nm::text
