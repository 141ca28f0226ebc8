// json_support.cpp - JSON output shared by the report writers: a streaming writer and DOM helpers.
#include "report/json_support.hpp"

#include "report/render.hpp"

namespace nm::report::detail {

std::string json_string(std::string_view s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void JsonOut::newline_indent() {
    out_ += '\n';
    out_.append(levels_.size() * 2, ' ');
}

void JsonOut::before_value() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (levels_.empty()) return; // the document's top-level value
    if (!levels_.back()) out_ += ',';
    levels_.back() = false;
    newline_indent();
}

JsonOut &JsonOut::key(std::string_view k) {
    before_value();
    out_ += '"';
    out_ += k;
    out_ += "\": ";
    after_key_ = true;
    return *this;
}

JsonOut &JsonOut::raw(std::string_view encoded) {
    before_value();
    out_ += encoded;
    return *this;
}

JsonOut &JsonOut::open(char c) {
    before_value();
    out_ += c;
    levels_.push_back(true);
    return *this;
}

JsonOut &JsonOut::close(char c) {
    const bool empty = levels_.back();
    levels_.pop_back();
    if (!empty) newline_indent();
    out_ += c;
    if (levels_.empty()) out_ += '\n';
    return *this;
}

nlohmann::ordered_json frame_json(const model::Frame &f) {
    return nlohmann::ordered_json{{"function", f.function}, {"file", f.file},
                                  {"line", f.line},         {"module", f.module},
                                  {"offset", hex(f.module_offset)}, {"address", hex(f.address)}};
}

nlohmann::ordered_json StackJsonCache::get(uint32_t stack) {
    const model::Stack &st = stack_at(snap_, stack);
    nlohmann::ordered_json frames = nlohmann::ordered_json::array();
    frames.get_ref<nlohmann::ordered_json::array_t &>().reserve(st.frames.size());
    for (uint32_t id : st.frames) {
        auto [it, fresh] = frames_.try_emplace(id);
        if (fresh) it->second = frame_json(frame_at(snap_, id));
        frames.push_back(it->second);
    }
    return frames;
}

void dump(std::string &out, const nlohmann::ordered_json &doc) {
    std::string text = doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    if (out.empty()) out = std::move(text);
    else out += text;
    out += '\n';
}

} // namespace nm::report::detail
