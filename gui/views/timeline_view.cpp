// timeline_view.cpp - outstanding bytes per key over time with cleanup markers, drawn with ImGui draw lists.
//
// Mouse: wheel zooms around the cursor, drag pans, double-click resets; hovering reads every
// key's value at that time and a marker's cleanup; clicking a line filters to its key.
#include "views.hpp"

#include "format.hpp"
#include "widgets.hpp"

#include <algorithm>
#include <cmath>

namespace nm::gui {
namespace {

// 1, 2, 5 x 10^k at or above raw.
double nice_step(double raw) {
    if (raw <= 0) return 1;
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * p >= raw) return m * p;
    return 10 * p;
}

// A byte step that reads well in KiB/MiB/GiB: 1, 2, 4, 5, 10, 20, 25, 50, ... of the largest binary
// unit that fits, so the labels come out as "256 KiB", "1.50 MiB" rather than "537 KiB".
double nice_byte_step(double raw) {
    double unit = 1;
    while (raw >= unit * 1024 && unit < double(uint64_t(1) << 50)) unit *= 1024;
    const double in_unit = raw / unit;
    for (double m : {1.0, 2.0, 4.0, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0, 128.0, 256.0, 512.0, 1024.0})
        if (m >= in_unit) return m * unit;
    return 1024 * unit;
}

std::string time_label(double ms, double step) {
    char buf[32];
    if (step >= 60000 && ms >= 60000) std::snprintf(buf, sizeof buf, "%d:%02d", int(ms / 60000), int(std::fmod(ms / 1000, 60)));
    else if (step >= 1000) std::snprintf(buf, sizeof buf, "%.0f s", ms / 1000);
    else if (step >= 100) std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000);
    else std::snprintf(buf, sizeof buf, "%.0f ms", ms);
    return buf;
}

class TimelineView final : public View {
public:
    Tab tab() const override { return Tab::Timeline; }
    void draw(ViewContext &ctx) override;

private:
    void draw_plot(ViewContext &ctx, const Timeline &tl, ImVec2 p0, ImVec2 p1);

    double view_begin_ = 0, view_end_ = 0; // zoom window in ms
    bool zoomed_ = false;                  // false: the window follows the whole (growing) range
    bool fill_ = true; // the area under the filtered key's curve (or the only key's)
    bool show_markers_ = true;
    bool show_derived_ = true;
};

void TimelineView::draw(ViewContext &ctx) {
    const Timeline &tl = ctx.m.timeline;
    const Theme &th = ctx.theme;
    if (tl.series.empty()) {
        ui::empty_state("No keys yet", "The timeline fills as keys allocate memory");
        return;
    }
    ImGui::Checkbox("Fill", &fill_);
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Shade the area under the selected key's curve");
    ImGui::SameLine();
    ImGui::Checkbox("Cleanup markers", &show_markers_);
    ImGui::SameLine();
    ImGui::Checkbox("Derived history", &show_derived_);
    ImGui::SameLine();
    ui::help_marker("Solid: outstanding bytes reported by snapshots. Faint: history derived from the "
                    "allocation times of the blocks still live (freed blocks are not seen) and, for closed keys, "
                    "a straight line to what the cleanup reclaimed.");
    ImGui::SameLine(0, 24);
    if (ImGui::Button("Reset zoom")) zoomed_ = false;
    ImGui::SameLine(0, 24);
    ui::swatch(th.leaked);
    ImGui::SameLine(0, 4);
    ImGui::TextUnformatted("leak reclaim");
    ImGui::SameLine(0, 14);
    ui::swatch(th.reclaimed);
    ImGui::SameLine(0, 4);
    ImGui::TextUnformatted("forced cleanup");
    ImGui::SameLine(0, 24);
    ImGui::TextDisabled("%llu snapshot%s", (unsigned long long)tl.samples, tl.samples == 1 ? "" : "s");

    // Legend on the right, plot on the left.
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float legend_w = std::min(ImGui::GetFontSize() * 17.0f, avail.x * 0.3f);
    ImGui::BeginChild("plot", ImVec2(avail.x - legend_w - 8, avail.y), false, ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    const ImVec2 sz = ImGui::GetContentRegionAvail();
    draw_plot(ctx, tl, p0, ImVec2(p0.x + sz.x, p0.y + sz.y));
    ImGui::EndChild();
    ImGui::SameLine();
    ImGui::BeginChild("legend", ImVec2(legend_w, avail.y), true);
    for (const Series &s : tl.series) {
        ImGui::PushID(&s);
        const bool sel = ctx.ui.expert_id == s.expert_id;
        ui::swatch(th.key_color(s.expert_id));
        ImGui::SameLine(0, 6);
        if (ImGui::Selectable(s.name.c_str(), sel, 0, ImVec2(legend_w * 0.5f, 0)))
            ctx.ui.select_expert(sel ? std::nullopt : std::optional<uint64_t>(s.expert_id));
        ImGui::SameLine();
        ui::text_right(fmt::bytes(s.max_bytes), th.dim);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("peak on the timeline");
        ImGui::PopID();
    }
    ImGui::EndChild();
}

void TimelineView::draw_plot(ViewContext &ctx, const Timeline &tl, ImVec2 p0, ImVec2 p1) {
    const Theme &th = ctx.theme;
    ImDrawList *dl = ImGui::GetWindowDrawList();
    const float em = ImGui::GetFontSize();
    const float left = em * 5.0f, bottom = em * 1.6f, top = em * 0.8f;
    const ImVec2 a(p0.x + left, p0.y + top), b(p1.x - 8, p1.y - bottom); // the plot area
    if (b.x - a.x < 20 || b.y - a.y < 20) return;
    // No background fill: the window's clear colour is the plot's (fill costs on software GL).

    const double full0 = double(tl.t_begin), full1 = std::max(double(tl.t_end), full0 + 1);
    if (!zoomed_ || view_end_ <= view_begin_) {
        view_begin_ = full0;
        view_end_ = full1 + (full1 - full0) * 0.02;
    }
    const double t0 = view_begin_, t1 = view_end_;
    uint64_t ymax = 0;
    for (const Series &s : tl.series)
        if (ctx.expert < 0 || ctx.ui.expert_id == s.expert_id) ymax = std::max(ymax, s.max_bytes);
    const double y_top = std::max(1.0, double(ymax) * 1.08);
    auto X = [&](double t) { return float(a.x + (t - t0) / (t1 - t0) * double(b.x - a.x)); };
    auto Y = [&](double v) { return float(b.y - v / y_top * double(b.y - a.y)); };

    // Grid and axes.
    const double ystep = nice_byte_step(y_top / std::max(2.0, double(b.y - a.y) / (em * 3.0)));
    for (double v = 0; v <= y_top; v += ystep) {
        const float y = Y(v);
        dl->AddLine(ImVec2(a.x, y), ImVec2(b.x, y), th.grid);
        const std::string label = fmt::bytes(uint64_t(v));
        const ImVec2 ts = ImGui::CalcTextSize(label.c_str());
        dl->AddText(ImVec2(a.x - ts.x - 6, y - ts.y * 0.5f), th.dim, label.c_str());
    }
    const double tstep = nice_step((t1 - t0) / std::max(2.0, double(b.x - a.x) / (em * 7.0)));
    for (double t = std::ceil(t0 / tstep) * tstep; t <= t1; t += tstep) {
        const float x = X(t);
        dl->AddLine(ImVec2(x, a.y), ImVec2(x, b.y), th.grid);
        const std::string label = time_label(t, tstep);
        const ImVec2 ts = ImGui::CalcTextSize(label.c_str());
        dl->AddText(ImVec2(x - ts.x * 0.5f, b.y + 4), th.dim, label.c_str());
    }

    dl->PushClipRect(a, b, true);
    const ImDrawListFlags saved_flags = dl->Flags;
    dl->Flags &= ~ImDrawListFlags_AntiAliasedFill; // thin fill quads need no fringe
    // Series: one vertex per pixel column at most (the column's last value), as steps.
    const float width = b.x - a.x;
    for (const Series &s : tl.series) {
        const bool filtered_out = ctx.expert >= 0 && ctx.ui.expert_id != s.expert_id;
        if (filtered_out || s.points.empty()) continue;
        const ImU32 col = th.key_color(s.expert_id);
        const ImU32 faint = th.key_color(s.expert_id, 0.38f);
        const ImU32 fill = th.key_color(s.expert_id, 0.12f);
        // Shading every key's area would cover the plot several times over (fill rate is the cost
        // on software GL): only the key in focus gets it.
        const bool shade = fill_ && (ctx.expert >= 0 || tl.series.size() == 1);
        float px = X(double(s.points.front().t_ms)), py = Y(0);
        for (size_t i = 0; i < s.points.size(); ++i) {
            const Sample &pt = s.points[i];
            if (pt.derived && !show_derived_) continue;
            const float x = std::clamp(X(double(pt.t_ms)), a.x - 2, b.x + 2);
            // Several points in one pixel column: draw only the last of them.
            if (i + 1 < s.points.size() && std::floor(X(double(s.points[i + 1].t_ms))) == std::floor(x)) continue;
            const float y = Y(double(pt.bytes));
            if (pt.derived) {
                // Reconstructed history: a straight, faint line (the real path is unknown).
                if (shade && x > px) dl->AddQuadFilled(ImVec2(px, py), ImVec2(x, y), ImVec2(x, b.y), ImVec2(px, b.y), fill);
                dl->AddLine(ImVec2(px, py), ImVec2(x, y), faint, 1.6f);
            } else {
                // Reported values hold until the next report: steps.
                if (shade && x > px) dl->AddRectFilled(ImVec2(px, py), ImVec2(x, b.y), fill);
                dl->AddLine(ImVec2(px, py), ImVec2(x, py), col, 1.6f);
                dl->AddLine(ImVec2(x, py), ImVec2(x, y), col, 1.6f);
            }
            px = x;
            py = y;
        }
        // An open key holds its last value up to the end of the data.
        const float xe = std::min(X(double(tl.t_end)), b.x);
        if (xe > px && py < b.y) {
            if (shade) dl->AddRectFilled(ImVec2(px, py), ImVec2(xe, b.y), fill);
            dl->AddLine(ImVec2(px, py), ImVec2(xe, py), col, 1.6f);
        }
    }

    dl->Flags = saved_flags;

    // Cleanup markers.
    const Marker *hover_marker = nullptr;
    const ImVec2 mouse = ImGui::GetIO().MousePos;
    const bool in_plot = mouse.x >= a.x && mouse.x < b.x && mouse.y >= a.y && mouse.y < b.y && ImGui::IsWindowHovered();
    if (show_markers_) {
        for (const Marker &mk : tl.markers) {
            if (ctx.expert >= 0 && ctx.ui.expert_id != mk.expert_id) continue;
            const float x = X(double(mk.t_ms));
            if (x < a.x - 6 || x > b.x + 6) continue;
            const ImU32 c = mk.leak() ? th.leaked : th.reclaimed;
            for (float y = a.y; y < b.y; y += 6) dl->AddLine(ImVec2(x, y), ImVec2(x, std::min(y + 3, b.y)), c, 1.0f);
            dl->AddTriangleFilled(ImVec2(x - 5, a.y), ImVec2(x + 5, a.y), ImVec2(x, a.y + 8), c);
            if (in_plot && std::fabs(mouse.x - x) < 5) hover_marker = &mk;
        }
    }
    dl->PopClipRect();
    dl->AddRect(a, b, IM_COL32(255, 255, 255, 30), 2);

    // Interaction.
    ImGui::SetCursorScreenPos(a);
    ImGui::InvisibleButton("plot area", ImVec2(b.x - a.x, b.y - a.y));
    const bool hovered = ImGui::IsItemHovered();
    ImGuiIO &io = ImGui::GetIO();
    if (hovered && io.MouseWheel != 0) {
        const double tm = t0 + (mouse.x - a.x) / width * (t1 - t0);
        const double k = io.MouseWheel > 0 ? 0.8 : 1.25;
        view_begin_ = tm - (tm - t0) * k;
        view_end_ = tm + (t1 - tm) * k;
        zoomed_ = true;
    }
    if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left)) {
        const double dt = -io.MouseDelta.x / width * (t1 - t0);
        view_begin_ += dt;
        view_end_ += dt;
        zoomed_ = true;
    }
    if (hovered && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) zoomed_ = false;
    if (!hovered) return;

    const double tm = t0 + (mouse.x - a.x) / width * (t1 - t0);
    dl->AddLine(ImVec2(mouse.x, a.y), ImVec2(mouse.x, b.y), IM_COL32(255, 255, 255, 90));
    ImGui::BeginTooltip();
    if (hover_marker) {
        const int e = find_expert(ctx.snap, hover_marker->expert_id);
        ImGui::PushFont(th.bold);
        ui::text_colored(hover_marker->leak() ? th.leaked : th.reclaimed, "%s",
                         fmt::outcome_text(hover_marker->outcome));
        ImGui::PopFont();
        ImGui::Text("%s  at %s", e >= 0 ? ctx.snap.experts[size_t(e)].name.c_str() : "?", fmt::at_ms(hover_marker->t_ms).c_str());
        ImGui::Text("%s blocks, %s", fmt::count(hover_marker->blocks).c_str(), fmt::bytes(hover_marker->bytes).c_str());
        ImGui::Separator();
    }
    ImGui::Text("%s", fmt::at_ms(uint64_t(std::max(0.0, tm))).c_str());
    ImGui::SameLine();
    ImGui::TextDisabled("%s", fmt::wall_clock(ctx.snap.process.start_unix_ms, uint64_t(std::max(0.0, tm))).c_str());
    std::vector<std::pair<uint64_t, const Series *>> rows;
    const Series *nearest = nullptr;
    float nearest_d = 8;
    for (const Series &s : tl.series) {
        if (ctx.expert >= 0 && ctx.ui.expert_id != s.expert_id) continue;
        const uint64_t v = value_at(s, uint64_t(std::max(0.0, tm)));
        rows.emplace_back(v, &s);
        const float d = std::fabs(Y(double(v)) - mouse.y);
        if (d < nearest_d) {
            nearest_d = d;
            nearest = &s;
        }
    }
    std::sort(rows.begin(), rows.end(), [](const auto &x, const auto &y) { return x.first > y.first; });
    size_t zero = 0;
    while (!rows.empty() && rows.back().first == 0 && rows.size() > 1) {
        rows.pop_back();
        ++zero;
    }
    if (ImGui::BeginTable("values", 2, ImGuiTableFlags_SizingFixedFit)) {
        for (size_t i = 0; i < rows.size() && i < 16; ++i) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ui::swatch(th.key_color(rows[i].second->expert_id));
            ImGui::SameLine();
            if (rows[i].second == nearest) ImGui::PushFont(th.bold);
            ImGui::TextUnformatted(rows[i].second->name.c_str());
            if (rows[i].second == nearest) ImGui::PopFont();
            ImGui::TableNextColumn();
            ui::text_right(fmt::bytes(rows[i].first));
        }
        ImGui::EndTable();
    }
    if (rows.size() > 16) ImGui::TextDisabled("%zu more keys", rows.size() - 16);
    if (zero) ImGui::TextDisabled("%zu key%s at 0 B", zero, zero == 1 ? "" : "s");
    ImGui::EndTooltip();
    if (nearest && ImGui::IsMouseReleased(ImGuiMouseButton_Left) && io.MouseDragMaxDistanceSqr[0] < 9)
        ctx.ui.select_expert(ctx.ui.expert_id == nearest->expert_id ? std::nullopt
                                                                    : std::optional<uint64_t>(nearest->expert_id));
}

} // namespace

std::unique_ptr<View> make_timeline_view() { return std::make_unique<TimelineView>(); }

} // namespace nm::gui
