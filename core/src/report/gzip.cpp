// gzip.cpp - gzip (RFC 1952) compression of a finished report, through zlib.
#include "report/gzip.hpp"

#include <zlib.h>

#include <algorithm>

namespace nm::report::detail {

bool gzip_append(std::string &out, std::string_view data, std::string *error) {
    z_stream z{};
    // windowBits 15 + 16: a gzip header and trailer rather than a zlib one. Level 6 (zlib's
    // default) compresses a 10,000-stack profile in a few tens of milliseconds.
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        if (error) *error = "cannot start gzip compression";
        return false;
    }
    const size_t start = out.size();
    out.resize(start + deflateBound(&z, static_cast<uLong>(data.size())) + 32);
    z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
    z.avail_in = 0;
    size_t remaining = data.size();
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (z.avail_in == 0 && remaining > 0) {
            // avail_in is 32 bits: feed inputs over 4 GiB in pieces.
            z.avail_in = static_cast<uInt>(std::min<size_t>(remaining, 1u << 30));
            remaining -= z.avail_in;
        }
        const size_t used = static_cast<size_t>(z.total_out);
        if (start + used == out.size()) out.resize(out.size() * 2);
        z.next_out = reinterpret_cast<Bytef *>(&out[start + used]);
        z.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - start - used, 1u << 30));
        rc = deflate(&z, remaining == 0 ? Z_FINISH : Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            deflateEnd(&z);
            out.resize(start);
            if (error) *error = "gzip compression failed";
            return false;
        }
    }
    out.resize(start + static_cast<size_t>(z.total_out));
    deflateEnd(&z);
    return true;
}

} // namespace nm::report::detail
