// export.cpp - the Export menu's formats (export.hpp).
#include "export.hpp"

#include <nmleak/report.hpp>

#include <cstring>
#include <filesystem>

namespace nm::gui {

const std::vector<ExportFormat> &export_formats() {
    static const std::vector<ExportFormat> formats = [] {
        static const ExportFormat all[] = {
            {"text", ".txt", "people: leaks by stack, like LeakSanitizer"},
            {"json", ".json", "scripts (versioned schema)"},
            {"sarif", ".sarif", "code scanning (GitHub, VS Code SARIF viewer)"},
            {"folded", ".folded", "flamegraph.pl, speedscope, inferno"},
            {"pprof", ".pb.gz", "go tool pprof, Pyroscope, Parca"},
            {"html", ".html", "any browser: one self-contained page with a flame graph"},
            {"snapshot", ".nmsnap", "nmleak-gui, nmleak report/diff"},
        };
        std::vector<ExportFormat> out;
        for (const ExportFormat &f : all)
            if (report::parse_format(f.name)) out.push_back(f);
        return out;
    }();
    return formats;
}

std::string strip_export_extension(const std::string &path) {
    for (const ExportFormat &f : export_formats()) {
        const size_t n = std::strlen(f.extension);
        if (path.size() > n && path.compare(path.size() - n, n, f.extension) == 0) return path.substr(0, path.size() - n);
    }
    const std::filesystem::path p(path);
    return p.has_extension() ? (p.parent_path() / p.stem()).string() : path;
}

} // namespace nm::gui
