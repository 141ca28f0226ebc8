// widgets.cpp - shared drawing helpers (widgets.hpp) and the raster factory registry (raster.hpp).
#include "widgets.hpp"

#include "format.hpp"
#include "raster.hpp"

#include <imgui_stdlib.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace nm::gui {
namespace {
std::function<std::unique_ptr<Raster>()> &raster_factory() {
    static std::function<std::unique_ptr<Raster>()> factory;
    return factory;
}
} // namespace

void set_raster_factory(std::function<std::unique_ptr<Raster>()> factory) { raster_factory() = std::move(factory); }
std::unique_ptr<Raster> make_raster() { return raster_factory() ? raster_factory()() : nullptr; }

} // namespace nm::gui

namespace nm::gui::ui {

void text_right(const char *text, ImU32 color) {
    const float w = ImGui::CalcTextSize(text).x;
    const float avail = ImGui::GetContentRegionAvail().x;
    if (avail > w) ImGui::SetCursorPosX(ImGui::GetCursorPosX() + avail - w);
    if (color) ImGui::PushStyleColor(ImGuiCol_Text, color);
    ImGui::TextUnformatted(text);
    if (color) ImGui::PopStyleColor();
}

void bytes_cell(uint64_t bytes, ImU32 color) {
    if (bytes == 0) {
        text_right("-", ImGui::GetColorU32(ImGuiCol_TextDisabled));
        return;
    }
    text_right(fmt::bytes(bytes), color);
}

void count_cell(uint64_t n, ImU32 color) {
    if (n == 0) {
        text_right("-", ImGui::GetColorU32(ImGuiCol_TextDisabled));
        return;
    }
    text_right(fmt::count(n), color);
}

void bar_cell(double fraction, ImU32 color, const char *label) {
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x;
    const float h = ImGui::GetTextLineHeight();
    fraction = std::clamp(fraction, 0.0, 1.0);
    ImDrawList *dl = ImGui::GetWindowDrawList();
    const ImVec4 c = ImGui::ColorConvertU32ToFloat4(color);
    dl->AddRectFilled(ImVec2(p.x, p.y + 1), ImVec2(p.x + w, p.y + h - 1),
                      ImGui::ColorConvertFloat4ToU32(ImVec4(c.x, c.y, c.z, 0.10f)), 2.0f);
    if (fraction > 0)
        dl->AddRectFilled(ImVec2(p.x, p.y + 1), ImVec2(p.x + std::max(2.0f, float(w * fraction)), p.y + h - 1),
                          ImGui::ColorConvertFloat4ToU32(ImVec4(c.x, c.y, c.z, 0.45f)), 2.0f);
    text_right(label);
}

void swatch(ImU32 color, float size) {
    if (size <= 0) size = ImGui::GetTextLineHeight() * 0.62f;
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float off = (ImGui::GetTextLineHeight() - size) * 0.5f;
    ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(p.x, p.y + off), ImVec2(p.x + size, p.y + off + size), color, 2.0f);
    ImGui::Dummy(ImVec2(size, ImGui::GetTextLineHeight()));
}

void badge(const char *text, ImU32 color) {
    const ImVec2 size = ImGui::CalcTextSize(text);
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const ImVec4 c = ImGui::ColorConvertU32ToFloat4(color);
    ImDrawList *dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(ImVec2(p.x, p.y), ImVec2(p.x + size.x + 10, p.y + size.y),
                      ImGui::ColorConvertFloat4ToU32(ImVec4(c.x, c.y, c.z, 0.18f)), 3.0f);
    dl->AddText(ImVec2(p.x + 5, p.y), color, text);
    ImGui::Dummy(ImVec2(size.x + 10, size.y));
}

void text_colored(ImU32 color, const char *format, ...) {
    va_list args;
    va_start(args, format);
    ImGui::PushStyleColor(ImGuiCol_Text, color);
    ImGui::TextV(format, args);
    ImGui::PopStyleColor();
    va_end(args);
}

void help_marker(const char *text) {
    ImGui::TextDisabled("(?)");
    if (ImGui::IsItemHovered()) {
        ImGui::BeginTooltip();
        ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32.0f);
        ImGui::TextUnformatted(text);
        ImGui::PopTextWrapPos();
        ImGui::EndTooltip();
    }
}

void heading(const Theme &theme, const char *text) {
    ImGui::PushFont(theme.bold);
    ImGui::TextUnformatted(text);
    ImGui::PopFont();
}

void frame_cells(const Theme &theme, const model::Snapshot &snap, uint32_t frame, bool mixed_lines) {
    if (frame >= snap.frames.size()) {
        ImGui::TextDisabled("<no stack captured>");
        ImGui::TableNextColumn();
        ImGui::TableNextColumn();
        return;
    }
    const model::Frame &f = snap.frames[frame];
    const std::string fn = f.function.empty() ? fmt::frame_function(f) : fmt::short_function(f.function);
    if (f.function.empty()) ImGui::TextDisabled("%s", fn.c_str());
    else ImGui::TextUnformatted(fn.c_str());
    if (ImGui::IsItemHovered() && !f.function.empty() && fn != f.function) ImGui::SetTooltip("%s", f.function.c_str());
    ImGui::TableNextColumn();
    const std::string loc = mixed_lines ? fmt::module_name(f.file) : fmt::frame_location(f);
    if (!loc.empty()) {
        ImGui::TextColored(ImVec4(0.62f, 0.72f, 0.85f, 1.0f), "%s", loc.c_str());
        if (mixed_lines) {
            ImGui::SameLine(0, 4);
            ImGui::TextDisabled("(several lines)");
        }
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", fmt::frame_location(f, true).c_str());
    }
    ImGui::TableNextColumn();
    ImGui::PushStyleColor(ImGuiCol_Text, theme.dim);
    ImGui::TextUnformatted(fmt::module_name(f.module).c_str());
    ImGui::PopStyleColor();
}

void stack_table(const Theme &theme, const model::Snapshot &snap, uint32_t stack, const char *id, float height) {
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_Resizable |
                                  ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingStretchProp;
    if (!ImGui::BeginTable(id, 5, flags, ImVec2(0, height))) return;
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("#", ImGuiTableColumnFlags_WidthFixed, ImGui::GetFontSize() * 1.6f);
    ImGui::TableSetupColumn("Function", ImGuiTableColumnFlags_WidthStretch, 3.0f);
    ImGui::TableSetupColumn("Location", ImGuiTableColumnFlags_WidthStretch, 2.4f);
    ImGui::TableSetupColumn("Module", ImGuiTableColumnFlags_WidthStretch, 1.5f);
    ImGui::TableSetupColumn("Address", ImGuiTableColumnFlags_WidthFixed, ImGui::GetFontSize() * 7.5f);
    ImGui::TableHeadersRow();
    if (stack < snap.stacks.size()) {
        const auto &frames = snap.stacks[stack].frames;
        if (frames.empty()) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::TableNextColumn();
            ImGui::TextDisabled("<no stack captured: sizes-only mode>");
        }
        for (size_t i = 0; i < frames.size(); ++i) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::TextDisabled("%zu", i);
            ImGui::TableNextColumn();
            frame_cells(theme, snap, frames[i]);
            ImGui::TableNextColumn();
            if (frames[i] < snap.frames.size()) {
                ImGui::PushFont(theme.mono);
                ImGui::TextDisabled("%s", fmt::address(snap.frames[frames[i]].address).c_str());
                ImGui::PopFont();
            }
        }
    }
    ImGui::EndTable();
}

void stack_tooltip_body(const Theme &theme, const model::Snapshot &snap, uint32_t stack, int max_frames) {
    if (stack >= snap.stacks.size() || snap.stacks[stack].frames.empty()) {
        ImGui::TextDisabled("no stack captured");
        return;
    }
    const auto &frames = snap.stacks[stack].frames;
    int shown = 0;
    for (uint32_t f : frames) {
        if (shown++ == max_frames) {
            ImGui::TextDisabled("... %zu more frames", frames.size() - size_t(max_frames));
            break;
        }
        if (f >= snap.frames.size()) continue;
        const model::Frame &fr = snap.frames[f];
        ImGui::TextUnformatted(fmt::short_function(fmt::frame_function(fr), 70).c_str());
        const std::string loc = fmt::frame_location(fr);
        ImGui::SameLine();
        ImGui::PushStyleColor(ImGuiCol_Text, theme.dim);
        ImGui::TextUnformatted(loc.empty() ? fmt::module_name(fr.module).c_str() : loc.c_str());
        ImGui::PopStyleColor();
    }
}

namespace {
bool g_unicode = false;
} // namespace

void set_unicode(bool unicode) { g_unicode = unicode; }

std::string stack_summary(const model::Snapshot &snap, uint32_t stack, int frames) {
    if (stack >= snap.stacks.size() || snap.stacks[stack].frames.empty()) return "<no stack>";
    std::string out;
    int n = 0;
    for (uint32_t f : snap.stacks[stack].frames) {
        if (n == frames || f >= snap.frames.size()) break;
        if (n++) out += g_unicode ? "  \xE2\x86\x90  " : " <- "; // U+2190 leftwards arrow: "called from"
        out += fmt::short_function(fmt::frame_function(snap.frames[f]), 48);
    }
    return out;
}

void blocks_age_note(const model::Snapshot &snap, uint64_t blocks_ms, bool live) {
    if (!live || blocks_ms == 0) return;
    const uint64_t now = snap.process.snapshot_ms;
    ImGui::SameLine(0, 20);
    ImGui::TextDisabled("blocks as of %s (%s old; F5 takes a fresh snapshot)", fmt::at_ms(blocks_ms).c_str(),
                        fmt::duration_ms(now > blocks_ms ? now - blocks_ms : 0).c_str());
}

void empty_state(const char *title, const char *hint) {
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const ImVec2 ts = ImGui::CalcTextSize(title), hs = ImGui::CalcTextSize(hint);
    const ImVec2 p = ImGui::GetCursorPos();
    ImGui::SetCursorPos(ImVec2(p.x + std::max(0.0f, (avail.x - ts.x) * 0.5f), p.y + std::max(0.0f, avail.y * 0.4f)));
    ImGui::TextUnformatted(title);
    ImGui::SetCursorPosX(p.x + std::max(0.0f, (avail.x - hs.x) * 0.5f));
    ImGui::TextDisabled("%s", hint);
}

bool search_box(std::string *text, bool *focus, float width) {
    if (*focus) {
        ImGui::SetKeyboardFocusHere();
        *focus = false;
    }
    ImGui::SetNextItemWidth(width);
    bool changed = ImGui::InputTextWithHint("##search", "Search: function, file or module (Ctrl+F)", text);
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("Case-insensitive substring of a frame's function, source file or module;\n"
                          "fn:TEXT, file:TEXT or module:TEXT search one field only.\n"
                          "One search for the flame graph (highlights), the call trees and the block list (filter).");
    if (!text->empty()) {
        ImGui::SameLine(0, 4);
        if (ImGui::SmallButton("x##clear search")) {
            text->clear();
            changed = true;
        }
    }
    return changed;
}

} // namespace nm::gui::ui
