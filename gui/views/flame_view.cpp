// flame_view.cpp - retained memory by call stack as an icicle (root at the top) or flame graph (root at
// the bottom): click a frame to zoom into it, hover for its figures, search to highlight frames.
//
// The layout (flame.hpp) is computed when the model, the key filter, the measure, the zoom or the
// search changes; the picture is rendered once into a texture (raster.hpp) per layout, canvas size
// and scroll position, so a frame costs one quad plus the hover outline and tooltip.
#include "views.hpp"

#include "flame.hpp"
#include "format.hpp"
#include "raster.hpp"
#include "search.hpp"
#include "widgets.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace nm::gui {
namespace {

// Frames take a warm hue from their function's name (stable across updates); with a search,
// matching frames are drawn in Theme::match and the rest greyed.
ImU32 frame_color(const std::string &name, bool dim) {
    const uint32_t h = uint32_t(std::hash<std::string>{}(name));
    const float hue = 0.0f + 0.13f * float(h & 0xFF) / 255.0f;           // red .. yellow
    const float sat = 0.50f + 0.25f * float((h >> 8) & 0xFF) / 255.0f;
    const float val = 0.78f + 0.16f * float((h >> 16) & 0xFF) / 255.0f;
    float r, g, b;
    ImGui::ColorConvertHSVtoRGB(hue, dim ? sat * 0.12f : sat, dim ? val * 0.55f : val, r, g, b);
    return ImGui::ColorConvertFloat4ToU32(ImVec4(r, g, b, 1.0f));
}

std::string fit(const std::string &s, float width) {
    if (width < 8) return {};
    if (ImGui::CalcTextSize(s.c_str()).x <= width) return s;
    // Halve, then step: long C++ names would otherwise cost hundreds of CalcTextSize calls.
    std::string out = s;
    while (out.size() > 8 && ImGui::CalcTextSize((out + "..").c_str()).x > width * 2) out.resize(out.size() / 2);
    while (!out.empty() && ImGui::CalcTextSize((out + "..").c_str()).x > width) out.pop_back();
    return out.empty() ? std::string() : out + "..";
}

class FlameView final : public View {
public:
    Tab tab() const override { return Tab::Flame; }
    void draw(ViewContext &ctx) override;

private:
    void update_layout(ViewContext &ctx, const CallTree &tree);
    void draw_rects(ImDrawList &dl, const Theme &th, const ModelData &m, const CallTree &tree, ImVec2 origin, ImVec2 size) const;
    // Screen rectangle of a layout rect; false when its row is scrolled out of the canvas.
    bool screen_rect(const FlameRect &r, ImVec2 origin, ImVec2 size, ImVec2 *a, ImVec2 *b) const;
    void zoom_to(ViewContext &ctx, const CallTree &tree, uint32_t node);
    void select(ViewContext &ctx, const CallTree &tree, uint32_t node);

    // Inputs of the current layout.
    uint64_t serial_ = 0;
    std::optional<uint64_t> filter_;
    int measure_ = -1; // FlameMeasure; -1 until the model picks the default
    bool measure_chosen_ = false; // by the user: kept across sources
    std::string measure_source_;  // the source the default was picked for
    std::vector<uint32_t> zoom_path_;
    std::string search_text_;
    bool layout_valid_ = false;

    SearchIndex search_;
    uint64_t search_serial_ = 0;
    FlameLayout layout_;
    uint64_t layout_version_ = 0;

    bool flame_ = false; // root at the bottom
    int scroll_ = 0;     // rows scrolled past (the deepest rows are reached by scrolling)
    float row_h_ = 18;

    // The raster holds this picture.
    std::unique_ptr<Raster> raster_;
    ImTextureID texture_ = nullptr;
    uint64_t raster_version_ = 0;
    ImVec2 raster_origin_, raster_size_;
    int raster_scroll_ = -1;
    bool raster_flame_ = false;
};

void FlameView::zoom_to(ViewContext &ctx, const CallTree &tree, uint32_t node) {
    zoom_path_ = node_path(tree, node);
    scroll_ = 0;
    layout_valid_ = false;
    // The zoomed frame is the stack selection too: the Blocks view lists its blocks.
    if (node != 0) select(ctx, tree, node);
}

void FlameView::select(ViewContext &ctx, const CallTree &tree, uint32_t node) {
    StackSelection s;
    s.kind = StackSelection::Kind::Node;
    s.dir = TreeDirection::TopDown;
    s.path = node_path(tree, node);
    const TreeNode &n = tree.nodes[node];
    s.label = n.frame < ctx.snap.frames.size() ? fmt::short_function(fmt::frame_function(ctx.snap.frames[n.frame]), 60)
                                               : "<no stack>";
    s.label += " (flame graph, " + std::to_string(n.stack_end - n.stack_begin) + " stacks)";
    ctx.ui.selection = std::move(s);
}

void FlameView::update_layout(ViewContext &ctx, const CallTree &tree) {
    if (search_serial_ != ctx.m.serial || search_.text != ctx.ui.search) {
        search_ = build_search(ctx.snap, ctx.ui.search);
        search_serial_ = ctx.m.serial;
        layout_valid_ = false;
    }
    if (layout_valid_ && serial_ == ctx.m.serial && filter_ == ctx.ui.expert_id && search_text_ == ctx.ui.search) return;
    if (filter_ != ctx.ui.expert_id) {
        zoom_path_.clear(); // another key: another graph
        scroll_ = 0;
    }
    serial_ = ctx.m.serial;
    filter_ = ctx.ui.expert_id;
    search_text_ = ctx.ui.search;
    uint32_t zoom = zoom_path_.empty() ? 0 : find_node(tree, zoom_path_);
    if (zoom == kNoNode) zoom = 0;
    // Frames narrower than a third of a pixel of a 4k-wide canvas are not worth laying out.
    layout_ = layout_flame(tree, FlameMeasure(measure_), zoom, &search_, 1.0 / 12000.0);
    if (layout_.zoom != zoom) zoom_path_.clear();
    layout_valid_ = true;
    ++layout_version_;
}

bool FlameView::screen_rect(const FlameRect &r, ImVec2 origin, ImVec2 size, ImVec2 *a, ImVec2 *b) const {
    const int row = int(r.depth) - scroll_;
    if (row < 0) return false;
    const float y0 = flame_ ? origin.y + size.y - float(row + 1) * row_h_ : origin.y + float(row) * row_h_;
    if (y0 < origin.y - 0.5f || y0 + row_h_ > origin.y + size.y + 0.5f) return false;
    *a = ImVec2(origin.x + float(r.x0) * size.x, y0);
    *b = ImVec2(origin.x + float(r.x1) * size.x, y0 + row_h_);
    return true;
}

void FlameView::draw_rects(ImDrawList &dl, const Theme &th, const ModelData &m, const CallTree &tree, ImVec2 origin,
                           ImVec2 size) const {
    const model::Snapshot &snap = *m.snap;
    const bool searching = search_.active();
    const float fs = ImGui::GetFontSize();
    for (const FlameRect &r : layout_.rects) {
        ImVec2 a, b;
        if (!screen_rect(r, origin, size, &a, &b)) continue;
        const float w = b.x - a.x;
        if (w < 0.35f) continue;
        const TreeNode &n = tree.nodes[r.node];
        const model::Frame *f = n.frame < snap.frames.size() ? &snap.frames[n.frame] : nullptr;
        const std::string name = f ? fmt::frame_function(*f) : std::string("<no stack>");
        ImU32 col = searching ? (r.matched ? th.match : frame_color(name, true)) : frame_color(name, false);
        if (r.caller) col = (col & 0x00FFFFFF) | (ImU32(150) << 24); // the path back out, fainter
        // A one-pixel gap on the right and below separates neighbours.
        dl.AddRectFilled(a, ImVec2(std::max(a.x + 0.35f, b.x - (w > 3 ? 1.0f : 0.0f)), b.y - 1), col);
        if (w > 3.5f * fs) {
            const std::string label = fit(fmt::short_function(name, 120), w - 8);
            if (!label.empty())
                dl.AddText(ImVec2(a.x + 4, a.y + (row_h_ - 1 - fs) * 0.5f), IM_COL32(20, 16, 14, 255), label.c_str());
        }
    }
}

void FlameView::draw(ViewContext &ctx) {
    const Theme &th = ctx.theme;
    const model::Snapshot &snap = ctx.snap;
    const CallTree &tree = ctx.tree(TreeDirection::TopDown);
    // The default measure follows what the data has (the first models of a source may be empty).
    const std::string source = ctx.m.generation > 0 ? ctx.m.source.label() : std::string();
    if (ctx.ui.flame_measure >= 0 && ctx.ui.flame_measure < kFlameMeasures) {
        measure_ = ctx.ui.flame_measure;
        measure_chosen_ = true;
        layout_valid_ = false;
        ctx.ui.flame_measure = -1;
    }
    if (measure_ < 0 || (!measure_chosen_ && source != measure_source_)) {
        const int m = int(default_flame_measure(ctx.m.agg.total));
        if (m != measure_) layout_valid_ = false;
        measure_ = m;
        measure_source_ = source;
    }
    row_h_ = std::floor(ImGui::GetFontSize() + 5);

    // Controls: measure, orientation, search, zoom.
    static const char *measures[] = {"Outstanding", "Leaked", "Reclaimed", "Retained (outstanding + leaked)",
                                     "All (retained + reclaimed)"};
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 13);
    if (ImGui::Combo("##measure", &measure_, measures, kFlameMeasures)) {
        layout_valid_ = false;
        measure_chosen_ = true;
    }
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("What the widths measure");
    ImGui::SameLine();
    if (ImGui::Checkbox("Root at bottom", &flame_)) scroll_ = 0;
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Off: an icicle graph, entry points on top. On: a flame graph.");
    ImGui::SameLine(0, 16);
    ui::search_box(&ctx.ui.search, &ctx.ui.focus_search, ImGui::GetFontSize() * 18);
    update_layout(ctx, tree);
    ImGui::SameLine(0, 16);
    ImGui::BeginDisabled(layout_.zoom == 0);
    if (ImGui::SmallButton("Reset zoom")) {
        zoom_to(ctx, tree, 0);
        update_layout(ctx, tree);
    }
    ImGui::EndDisabled();
    ImGui::SameLine(0, 16);
    const char *scope = ctx.expert < 0 ? "every key" : snap.experts[size_t(ctx.expert)].name.c_str();
    if (layout_.zoom != 0) {
        const TreeNode &z = tree.nodes[layout_.zoom];
        const std::string fn = z.frame < snap.frames.size() ? fmt::short_function(fmt::frame_function(snap.frames[z.frame]), 50)
                                                            : std::string("<no stack>");
        ImGui::Text("%s %s in %s: %s of %s", fmt::bytes(layout_.total).c_str(), to_string(FlameMeasure(measure_)),
                    fn.c_str(), fmt::percent(double(layout_.total) / double(std::max<uint64_t>(1, layout_.all))).c_str(), scope);
    } else {
        ImGui::Text("%s %s in %s", fmt::bytes(layout_.total).c_str(), to_string(FlameMeasure(measure_)), scope);
    }
    if (search_.active()) {
        ImGui::SameLine(0, 16);
        ui::text_colored(search_.stacks_matched ? th.match : th.warning, "match: %s (%s), %s frame%s",
                         fmt::bytes(layout_.matched).c_str(),
                         fmt::percent(double(layout_.matched) / double(std::max<uint64_t>(1, layout_.total))).c_str(),
                         fmt::count(layout_.matched_frames).c_str(), layout_.matched_frames == 1 ? "" : "s");
    }
    ui::blocks_age_note(snap, ctx.m.source.blocks_ms, ctx.m.source.kind == SourceKind::Live);

    const ImVec2 origin = ImGui::GetCursorScreenPos();
    const ImVec2 size = ImGui::GetContentRegionAvail();
    if (layout_.rects.empty()) {
        ui::empty_state(tree.empty() ? "No retained memory" : "Nothing of this measure",
                        tree.empty() ? "Stacks appear here once a key holds, leaks or has reclaimed memory"
                                     : "Pick another measure above, or another key");
        return;
    }
    if (size.x < 20 || size.y < row_h_) return;
    const int visible_rows = std::max(1, int(size.y / row_h_));
    scroll_ = std::clamp(scroll_, 0, std::max(0, int(layout_.rows) - visible_rows));

    ImDrawList *dl = ImGui::GetWindowDrawList();
    // The picture covers only the rows in use: with a software rasterizer every pixel of the
    // textured quad costs, and a shallow graph leaves most of the canvas empty.
    const float used_h = std::min(size.y, float(int(layout_.rows) - scroll_) * row_h_);
    const ImVec2 pic_origin(origin.x, flame_ ? origin.y + size.y - used_h : origin.y), pic_size(size.x, used_h);
    const bool stale = raster_version_ != layout_version_ || raster_scroll_ != scroll_ || raster_flame_ != flame_ ||
                       raster_origin_.x != origin.x || raster_origin_.y != origin.y || raster_size_.x != size.x ||
                       raster_size_.y != size.y;
    if (stale) {
        if (!raster_) raster_ = make_raster();
        texture_ = nullptr;
        if (raster_) {
            ImDrawList content(ImGui::GetDrawListSharedData());
            content._ResetForNewFrame();
            content.PushTextureID(ImGui::GetIO().Fonts->TexID);
            content.PushClipRect(pic_origin, ImVec2(pic_origin.x + pic_size.x, pic_origin.y + pic_size.y));
            draw_rects(content, th, ctx.m, tree, origin, size);
            texture_ = raster_->render(content, pic_origin, pic_size);
        }
        raster_version_ = layout_version_;
        raster_scroll_ = scroll_;
        raster_flame_ = flame_;
        raster_origin_ = origin;
        raster_size_ = size;
    }
    if (texture_) draw_raster(dl, texture_, pic_origin, pic_size);
    else draw_rects(*dl, th, ctx.m, tree, origin, size);

    ImGui::InvisibleButton("flame", size);
    const bool hovered = ImGui::IsItemHovered();
    if (hovered && ImGui::GetIO().MouseWheel != 0 && int(layout_.rows) > visible_rows)
        scroll_ = std::clamp(scroll_ + (ImGui::GetIO().MouseWheel > 0 ? (flame_ ? 3 : -3) : (flame_ ? -3 : 3)), 0,
                             int(layout_.rows) - visible_rows);
    if (int(layout_.rows) > visible_rows) {
        // Where the view is in the depth of the graph.
        const float frac = float(visible_rows) / float(layout_.rows);
        const float off = float(scroll_) / float(layout_.rows);
        const float x = origin.x + size.x - 4;
        const float y0 = flame_ ? origin.y + size.y * (1 - off - frac) : origin.y + size.y * off;
        dl->AddRectFilled(ImVec2(x, y0), ImVec2(x + 3, y0 + size.y * frac), IM_COL32(255, 255, 255, 70), 1.5f);
    }
    if (!hovered) return;

    const ImVec2 mouse = ImGui::GetIO().MousePos;
    const int screen_row = flame_ ? int((origin.y + size.y - mouse.y) / row_h_) : int((mouse.y - origin.y) / row_h_);
    const int hit = screen_row < 0 ? -1 : flame_hit(layout_, double(mouse.x - origin.x) / double(size.x), uint32_t(screen_row + scroll_));
    if (hit < 0) return;
    const FlameRect &r = layout_.rects[size_t(hit)];
    ImVec2 a, b;
    if (screen_rect(r, origin, size, &a, &b)) dl->AddRect(a, ImVec2(std::max(a.x + 2, b.x - 1), b.y - 1), IM_COL32(255, 255, 255, 230), 0, 0, 1.5f);

    const TreeNode &n = tree.nodes[r.node];
    const model::Frame *f = n.frame < snap.frames.size() ? &snap.frames[n.frame] : nullptr;
    const FlameMeasure m = FlameMeasure(measure_);
    ImGui::BeginTooltip();
    ImGui::PushFont(th.bold);
    ImGui::TextUnformatted(f ? fmt::short_function(fmt::frame_function(*f), 100).c_str() : "<no stack>");
    ImGui::PopFont();
    if (f) {
        const std::string loc = fmt::frame_location(*f, true);
        ImGui::TextDisabled("%s%s%s%s", loc.c_str(), n.mixed_lines ? " (several lines)" : "", loc.empty() ? "" : "  ",
                            fmt::module_name(f->module).c_str());
    }
    ImGui::Separator();
    ImGui::Text("%s %s in %s blocks", fmt::bytes(r.bytes).c_str(), to_string(m), fmt::count(flame_blocks(n.fig, m)).c_str());
    ImGui::Text("%s of %s", fmt::percent(double(r.bytes) / double(std::max<uint64_t>(1, layout_.all))).c_str(), scope);
    if (layout_.zoom != 0)
        ImGui::Text("%s of the zoomed frame", fmt::percent(double(r.bytes) / double(std::max<uint64_t>(1, layout_.total))).c_str());
    ImGui::Text("allocated here (self): %s", fmt::bytes(flame_bytes(n.self, m)).c_str());
    ui::swatch(th.outstanding);
    ImGui::SameLine();
    ImGui::Text("outstanding %s", fmt::bytes(n.fig.bytes_of(Retention::Outstanding)).c_str());
    ImGui::SameLine();
    ui::swatch(th.leaked);
    ImGui::SameLine();
    ImGui::Text("leaked %s", fmt::bytes(n.fig.bytes_of(Retention::Leaked)).c_str());
    ImGui::SameLine();
    ui::swatch(th.reclaimed);
    ImGui::SameLine();
    ImGui::Text("reclaimed %s", fmt::bytes(n.fig.bytes_of(Retention::Reclaimed)).c_str());
    ImGui::TextDisabled("%u stack%s. %s", n.stack_end - n.stack_begin, n.stack_end - n.stack_begin == 1 ? "" : "s",
                        r.node == layout_.zoom ? "Right-click: show blocks" : "Click to zoom in; right-click: show blocks");
    ImGui::EndTooltip();

    if (ImGui::IsMouseClicked(ImGuiMouseButton_Left) && r.node != layout_.zoom) {
        zoom_to(ctx, tree, r.node);
        update_layout(ctx, tree);
    }
    if (ImGui::IsMouseClicked(ImGuiMouseButton_Right)) {
        select(ctx, tree, r.node);
        ctx.ui.select_tab(Tab::Blocks);
    }
}

} // namespace

std::unique_ptr<View> make_flame_view() { return std::make_unique<FlameView>(); }

} // namespace nm::gui
