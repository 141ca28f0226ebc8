// write_file.cpp - format dispatch, report files, and the at-exit policy read from the environment.
#include <nmleak/report.hpp>
#include <nmleak/snapshot_io.hpp>

#include "model/file_io.hpp"
#include "report/render.hpp"

#include <cstdlib>
#include <ostream>

namespace nm::report {

bool detail::render(std::string &out, const model::Snapshot &snap, Format format,
                    const Options &options, std::string *error) {
    try {
        LeakReport r = build_report(snap, options);
        switch (format) {
        case Format::Text: render_text(out, r); return true;
        case Format::Json: render_json(out, r); return true;
        case Format::Sarif: render_sarif(out, r); return true;
        case Format::Folded: render_folded(out, r); return true;
        case Format::Pprof: return render_pprof(out, r, error);
        case Format::Html: render_html(out, r); return true;
        case Format::Snapshot: break;
        }
        if (error) *error = "the snapshot format is not a text report";
        return false;
    } catch (const std::exception &e) {
        // Only resource exhaustion gets here (JSON output replaces bad UTF-8 rather than
        // throwing); the at-exit hook must get a message, never an exception.
        if (error) *error = std::string("cannot build the report: ") + e.what();
        return false;
    }
}

bool write(std::ostream &out, const model::Snapshot &snap, Format format, const Options &options,
           std::string *error) {
    if (format == Format::Snapshot) {
        std::vector<uint8_t> bytes;
        if (!snapshot_io::encode(snap, &bytes, error)) return false;
        out.write(reinterpret_cast<const char *>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
    } else {
        std::string text;
        if (!detail::render(text, snap, format, options, error)) return false;
        if (options.progress) options.progress("writing the output", 0, 0);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
    }
    out.flush();
    if (!out) {
        if (error) *error = "write error on the output stream";
        return false;
    }
    return true;
}

bool write_file(const model::Snapshot &snap, const std::string &path, std::string_view format,
                std::string *error) {
    return write_file(snap, path, format, Options{}, error);
}

bool write_file(const model::Snapshot &snap, const std::string &path, std::string_view format,
                const Options &options, std::string *error) {
    std::optional<Format> f = format.empty() ? format_for_path(path) : parse_format(format);
    if (!f) {
        if (error)
            *error = format.empty()
                         ? "cannot tell the report format from '" + path +
                               "': use .txt, .json, .sarif, .folded, .pb.gz, .html or .nmsnap, or name the "
                               "format"
                         : "unknown report format '" + std::string(format) +
                               "' (text, json, sarif, folded, pprof, html, snapshot)";
        return false;
    }
    if (*f == Format::Snapshot) return snapshot_io::write_file(snap, path, error);
    std::string text;
    if (!detail::render(text, snap, *f, options, error)) return false;
    if (options.progress) options.progress("writing " + path, 0, 0);
    return fileio::write_atomically(
        path, {reinterpret_cast<const uint8_t *>(text.data()), text.size()}, error);
}

std::string report_path_for_pid(std::string_view pattern, long pid) {
    std::string out;
    out.reserve(pattern.size() + 16);
    for (size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'p') {
            out += std::to_string(pid);
            ++i;
        } else if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == '%') {
            out += '%';
            ++i;
        } else {
            out += pattern[i];
        }
    }
    return out;
}

bool settings_from_env(EnvSettings *out, std::string *error) {
    *out = EnvSettings{};
    bool ok = true;
    std::string problems;
    if (const char *v = std::getenv("NMLEAK_FAIL_ON_LEAK")) {
        std::string_view s(v);
        if (s == "1" || s == "true" || s == "yes") {
            out->fail_on_leak = true;
        } else if (!(s.empty() || s == "0" || s == "false" || s == "no")) {
            ok = false;
            problems = "NMLEAK_FAIL_ON_LEAK='" + std::string(s) + "' is not 0 or 1";
        }
    }
    if (const char *v = std::getenv("NMLEAK_LEAKS"); v && *v) {
        std::string_view s(v);
        if (s == "all") {
            out->count_reachable = true;
        } else if (s != "lost") {
            ok = false;
            problems += (problems.empty() ? "" : "; ") + std::string("NMLEAK_LEAKS='") + std::string(s) +
                        "' is not lost or all";
        }
    }
    if (const char *v = std::getenv("NMLEAK_SUPPRESSIONS"); v && *v) {
        std::string why;
        if (out->suppressions.add_file(v, &why)) {
            out->suppressions_path = v;
        } else {
            ok = false;
            problems += (problems.empty() ? "" : "; ") + std::string("NMLEAK_SUPPRESSIONS: ") + why;
        }
    }
    if (const char *v = std::getenv("NMLEAK_LIMITS"); v && *v) {
        std::string_view rest(v);
        while (!rest.empty()) {
            const size_t semi = rest.find(';');
            const std::string_view item = rest.substr(0, semi);
            rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
            if (item.empty()) continue;
            Budget b;
            std::string why;
            if (parse_budget(item, &b, &why)) {
                out->budgets.push_back(std::move(b));
            } else {
                ok = false;
                problems += (problems.empty() ? "" : "; ") + std::string("NMLEAK_LIMITS: ") + why;
            }
        }
    }
    if (!ok && error) *error = problems;
    return ok;
}

} // namespace nm::report
