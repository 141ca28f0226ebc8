// treemap_view.cpp - memory by key, then by allocation stack, as a squarified treemap.
//
// The layout is computed only when the model, the filter, the measure or the canvas size changes.
#include "views.hpp"

#include "format.hpp"
#include "raster.hpp"
#include "treemap.hpp"
#include "widgets.hpp"

#include <algorithm>

namespace nm::gui {
namespace {

class TreemapView final : public View {
public:
    Tab tab() const override { return Tab::Treemap; }
    void draw(ViewContext &ctx) override;

private:
    void draw_cells(ImDrawList &dl, const model::Snapshot &snap, const Theme &th) const;

    uint64_t serial_ = 0;
    std::optional<uint64_t> filter_;
    Rect area_;
    int measure_ = -1; // TreemapMeasure, -1 until the model picks the default
    TreemapLayout layout_;
    uint64_t layout_version_ = 0, layout_serial_ = 0; // the raster holds layout_serial_
    std::unique_ptr<Raster> raster_;
    ImTextureID texture_ = nullptr;
};

// Clips text to a width with an ellipsis.
std::string fit(const std::string &s, float width) {
    if (ImGui::CalcTextSize(s.c_str()).x <= width) return s;
    std::string out = s;
    while (!out.empty() && ImGui::CalcTextSize((out + "..").c_str()).x > width) out.pop_back();
    return out.empty() ? std::string() : out + "..";
}

void TreemapView::draw_cells(ImDrawList &dl, const model::Snapshot &snap, const Theme &th) const {
    uint32_t shade = 0;
    const float fs = ImGui::GetFontSize();
    for (const TreemapCell &c : layout_.cells) {
        const ImVec2 a(c.r.x, c.r.y), b(c.r.x + c.r.w, c.r.y + c.r.h);
        const uint64_t id = snap.experts[c.expert].id;
        if (c.is_key) {
            // Only the label strip is filled: the stack cells cover the rest.
            dl.AddRectFilled(a, ImVec2(b.x, std::min(b.y, a.y + fs + 6)), th.key_color(id, 0.22f));
            dl.AddRect(a, b, th.key_color(id, 0.9f), 0, 0, 1.5f);
            if (c.r.w > 40 && c.r.h > fs * 2.5f) {
                const std::string label = snap.experts[c.expert].name + "  " + fmt::bytes(c.bytes);
                dl.AddText(ImVec2(a.x + 5, a.y + 3), th.key_color(id), fit(label, c.r.w - 10).c_str());
            }
            continue;
        }
        // Neighbouring stacks of one key differ in shade; a one-pixel gap is the border.
        const float alpha = 0.42f + 0.30f * float((shade++ * 7) % 5) / 4.0f;
        if (c.r.w < 0.6f && c.r.h < 0.6f) continue;
        dl.AddRectFilled(a, ImVec2(std::max(a.x + 0.6f, b.x - 1), std::max(a.y + 0.6f, b.y - 1)), th.key_color(id, alpha));
        if (c.r.w > 70 && c.r.h > fs + 4) {
            const model::Stack *st = c.stack < snap.stacks.size() ? &snap.stacks[c.stack] : nullptr;
            const std::string fn = st && !st->frames.empty() && st->frames[0] < snap.frames.size()
                                       ? fmt::short_function(fmt::frame_function(snap.frames[st->frames[0]]), 60)
                                       : std::string("<no stack>");
            dl.AddText(ImVec2(a.x + 4, a.y + 2), IM_COL32(12, 12, 14, 255), fit(fn, c.r.w - 8).c_str());
            if (c.r.h > 2 * fs + 6)
                dl.AddText(ImVec2(a.x + 4, a.y + 3 + fs), IM_COL32(12, 12, 14, 200),
                           fit(fmt::bytes(c.bytes) + ", " + fmt::count(c.blocks) + " blocks", c.r.w - 8).c_str());
        }
    }
}

void TreemapView::draw(ViewContext &ctx) {
    const Theme &th = ctx.theme;
    const model::Snapshot &snap = ctx.snap;
    if (measure_ < 0) measure_ = int(default_measure(ctx.m.agg));
    static const char *measures[] = {"Outstanding (live blocks of open keys)", "Retained (outstanding + leaked)",
                                     "All (retained + reclaimed by forced cleanups)"};
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 20);
    bool changed = ImGui::Combo("Measure", &measure_, measures, 3);
    ImGui::SameLine(0, 20);
    ImGui::Text("%s in %s", fmt::bytes(layout_.total_bytes).c_str(), ctx.expert < 0 ? "every key" : snap.experts[size_t(ctx.expert)].name.c_str());
    ImGui::SameLine(0, 20);
    ImGui::TextDisabled("Each cell is one stack of one key; click to select it, double-click for its blocks.");
    ui::blocks_age_note(snap, ctx.m.source.blocks_ms, ctx.m.source.kind == SourceKind::Live);

    const ImVec2 p = ImGui::GetCursorScreenPos();
    const ImVec2 sz = ImGui::GetContentRegionAvail();
    const Rect area{p.x, p.y, sz.x, sz.y};
    // The outstanding measure depends on the live blocks only; the others on cleanups too.
    const uint64_t data = measure_ == int(TreemapMeasure::Outstanding) ? ctx.m.blocks_serial : ctx.m.serial;
    if (changed || serial_ != data || filter_ != ctx.ui.expert_id || area.x != area_.x || area.y != area_.y ||
        area.w != area_.w || area.h != area_.h) {
        serial_ = data;
        filter_ = ctx.ui.expert_id;
        area_ = area;
        layout_ = layout_treemap(snap, ctx.m.agg, ctx.expert, TreemapMeasure(measure_), area, ImGui::GetFontSize() + 6, 2);
        ++layout_version_;
    }
    ImDrawList *dl = ImGui::GetWindowDrawList();
    if (layout_.cells.empty()) {
        ui::empty_state("Nothing to show for this measure", "Pick another measure above, or another key");
        return;
    }

    // The picture changes only with the layout: render it once into a texture (raster.hpp), then
    // each frame is one quad plus the selection and hover outlines.
    const ImVec2 origin(area.x, area.y), size(area.w, area.h);
    if (layout_serial_ != layout_version_) {
        if (!raster_) raster_ = make_raster();
        texture_ = nullptr;
        if (raster_) {
            ImDrawList content(ImGui::GetDrawListSharedData());
            content._ResetForNewFrame();
            content.PushTextureID(ImGui::GetIO().Fonts->TexID);
            content.PushClipRect(origin, ImVec2(origin.x + size.x, origin.y + size.y));
            draw_cells(content, snap, th);
            texture_ = raster_->render(content, origin, size);
        }
        layout_serial_ = layout_version_;
    }
    if (texture_) draw_raster(dl, texture_, origin, size);
    else draw_cells(*dl, snap, th);

    ImGui::InvisibleButton("treemap", sz);
    const bool hovered = ImGui::IsItemHovered();
    const ImVec2 mouse = ImGui::GetIO().MousePos;
    const TreemapCell *hover = nullptr, *hover_key = nullptr;
    const bool selected_stack = ctx.ui.selection.kind == StackSelection::Kind::Stack;
    for (const TreemapCell &c : layout_.cells) {
        if (!c.is_key && selected_stack && ctx.ui.selection.stack == c.stack)
            dl->AddRect(ImVec2(c.r.x + 1, c.r.y + 1), ImVec2(c.r.x + c.r.w - 1, c.r.y + c.r.h - 1), IM_COL32(255, 255, 255, 230), 0, 0, 2.0f);
        if (hovered && c.r.contains(mouse.x, mouse.y)) (c.is_key ? hover_key : hover) = &c;
    }

    if (hover) {
        const ImVec2 a(hover->r.x, hover->r.y), b(hover->r.x + hover->r.w, hover->r.y + hover->r.h);
        dl->AddRect(a, b, IM_COL32(255, 255, 255, 160), 0, 0, 1.5f);
        const model::Expert &e = snap.experts[hover->expert];
        ImGui::BeginTooltip();
        ui::swatch(th.key_color(e.id));
        ImGui::SameLine();
        ImGui::PushFont(th.bold);
        ImGui::Text("%s", e.name.c_str());
        ImGui::PopFont();
        ImGui::SameLine();
        ImGui::Text("%s in %s blocks (%s of the map)", fmt::bytes(hover->bytes).c_str(), fmt::count(hover->blocks).c_str(),
                    fmt::percent(double(hover->bytes) / double(std::max<uint64_t>(1, layout_.total_bytes))).c_str());
        const Figures f = hover->group < ctx.m.agg.groups.size() ? ctx.m.agg.groups[hover->group].fig : Figures{};
        ImGui::TextDisabled("outstanding %s, leaked %s, reclaimed %s", fmt::bytes(f.bytes_of(Retention::Outstanding)).c_str(),
                            fmt::bytes(f.bytes_of(Retention::Leaked)).c_str(), fmt::bytes(f.bytes_of(Retention::Reclaimed)).c_str());
        ImGui::Separator();
        ui::stack_tooltip_body(th, snap, hover->stack);
        ImGui::EndTooltip();
        if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
            ctx.ui.selection = StackSelection{StackSelection::Kind::Stack, TreeDirection::BottomUp, {}, hover->stack,
                                              ui::stack_summary(snap, hover->stack, 2)};
        }
        if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) ctx.ui.select_tab(Tab::Blocks);
    } else if (hover_key) {
        const model::Expert &e = snap.experts[hover_key->expert];
        ImGui::SetTooltip("%s: %s in %s blocks\nclick to filter every view to this key", e.name.c_str(),
                          fmt::bytes(hover_key->bytes).c_str(), fmt::count(hover_key->blocks).c_str());
        if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) ctx.ui.select_expert(e.id);
    }
}

} // namespace

std::unique_ptr<View> make_treemap_view() { return std::make_unique<TreemapView>(); }

} // namespace nm::gui
