// export.hpp - the formats the GUI's Export offers: every report format of the library (report.hpp),
// in menu order, with the file extension each is usually given.
#pragma once

#include <string>
#include <vector>

namespace nm::gui {

struct ExportFormat {
    const char *name;      // as report::parse_format and Session::export_report take it
    const char *extension; // ".txt", ".pb.gz", ...
    const char *readers;   // what reads it, for the dialog
};

// Only the formats the linked libnmapi writes (an older library has fewer).
const std::vector<ExportFormat> &export_formats();

// "dir/name.pb.gz" -> "dir/name": strips a known report extension (or the last one).
std::string strip_export_extension(const std::string &path);

} // namespace nm::gui
