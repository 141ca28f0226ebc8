// gzip.hpp - gzip (RFC 1952) compression of a finished report, through zlib.
#pragma once

#include <string>
#include <string_view>

namespace nm::report::detail {

// Appends `data` gzip-compressed to `out`. False with *error only when zlib fails (memory).
bool gzip_append(std::string &out, std::string_view data, std::string *error);

} // namespace nm::report::detail
