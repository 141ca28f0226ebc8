// widgets.hpp - small drawing helpers the views share: aligned numbers, bars, badges, frames and stacks.
#pragma once

#include "theme.hpp"

#include <imgui.h>
#include <nmleak/model.hpp>

#include <cstdint>
#include <string>

namespace nm::gui::ui {

// Text right-aligned in the current table cell (or the remaining width).
void text_right(const char *text, ImU32 color = 0);
inline void text_right(const std::string &text, ImU32 color = 0) { text_right(text.c_str(), color); }
// A size right-aligned; zero is drawn dim, anything else in `color` (0: default text colour).
void bytes_cell(uint64_t bytes, ImU32 color = 0);
void count_cell(uint64_t n, ImU32 color = 0);
// A thin horizontal bar of `fraction` of the cell width behind the next item, with a label.
void bar_cell(double fraction, ImU32 color, const char *label);
// A small filled square, as in a legend.
void swatch(ImU32 color, float size = 0);
// A rounded tag with text ("running", "crashed").
void badge(const char *text, ImU32 color);
// Coloured text.
void text_colored(ImU32 color, const char *fmt, ...) IM_FMTARGS(2);
// A grey "(?)" with a tooltip.
void help_marker(const char *text);
// A heading line in the bold font.
void heading(const Theme &theme, const char *text);

// The function of a frame (shortened), its location and module, in three table cells starting
// at the current column. mixed_lines: the row stands for calls from several lines of the file.
void frame_cells(const Theme &theme, const model::Snapshot &snap, uint32_t frame, bool mixed_lines = false);
// The frames of a stack as a table: #, function, file:line, module, address.
void stack_table(const Theme &theme, const model::Snapshot &snap, uint32_t stack, const char *id,
                 float height = 0);
// A tooltip body: the first `max_frames` frames of a stack, one per line.
void stack_tooltip_body(const Theme &theme, const model::Snapshot &snap, uint32_t stack, int max_frames = 14);
// "fn <- caller <- caller" for the first frames of a stack (one line; a left arrow when the font
// has one, see set_unicode).
std::string stack_summary(const model::Snapshot &snap, uint32_t stack, int frames = 3);
void set_unicode(bool unicode);

// Live sessions: "live blocks as of +12.3 s (F5: fresh snapshot)", on the current line; nothing
// for a snapshot file. Views built from live blocks (trees, blocks, treemap) show it.
void blocks_age_note(const model::Snapshot &snap, uint64_t blocks_ms, bool live);

// The search box of the flame graph, the call trees and the block list (search.hpp syntax), with
// a clear button. `focus`: take the keyboard this frame (and reset the flag). True when changed.
bool search_box(std::string *text, bool *focus, float width);

// Centered dim text for an empty view.
void empty_state(const char *title, const char *hint);

} // namespace nm::gui::ui
