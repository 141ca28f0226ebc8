// theme.hpp - fonts, the dark style and the colours that carry meaning across every view.
//
// Colour is used for meaning only: one hue per retention kind (outstanding, leaked, reclaimed),
// per key (the same key has the same colour in the table, the timeline and the treemap), and per
// severity (ok, warning, error) in states and the status line.
#pragma once

#include "aggregate.hpp"

#include <imgui.h>
#include <nmleak/model.hpp>

#include <cstdint>

namespace nm::gui {

struct Theme {
    ImFont *ui = nullptr;   // proportional text
    ImFont *mono = nullptr; // addresses, sizes in block lists
    ImFont *bold = nullptr; // headings
    bool unicode = false;   // the fonts have the arrows and bullets we use (DejaVu was found)

    ImU32 outstanding = 0, leaked = 0, reclaimed = 0, misuse = 0;
    ImU32 ok = 0, warning = 0, error = 0, dim = 0, text = 0, grid = 0, accent = 0;
    ImU32 grew = 0, shrank = 0;
    ImU32 match = 0; // frames a search matched

    // A key's colour: stable for its id.
    ImU32 key_color(uint64_t expert_id, float alpha = 1.0f) const;
    ImU32 retention_color(Retention r) const;
    ImU32 state_color(const model::Expert &e) const;
    ImU32 state_color(const model::Expert &e, bool process_ended) const;
    ImU32 outcome_color(model::Outcome o) const;
    // A symbol when the font has it, else the ASCII fallback.
    const char *sym(const char *unicode, const char *ascii) const { return this->unicode ? unicode : ascii; }
};

// Loads the fonts (DejaVu when installed, ImGui's default otherwise) and sets the style.
// Call once after ImGui::CreateContext and before the first frame.
Theme setup_theme(float scale = 1.0f);

ImVec4 to_vec4(ImU32 c);

} // namespace nm::gui
