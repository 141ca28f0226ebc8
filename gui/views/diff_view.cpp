// diff_view.cpp - two snapshots compared (report_diff.hpp): retained memory per expert and per stack.
#include "views.hpp"

#include "format.hpp"
#include "widgets.hpp"

#include <algorithm>
#include <cstdlib>

namespace nm::gui {
namespace {

ImU32 change_color(const Theme &th, report::Change c) {
    switch (c) {
    case report::Change::New:
    case report::Change::Grew: return th.grew;
    case report::Change::Shrank:
    case report::Change::Gone: return th.shrank;
    case report::Change::Same: return th.dim;
    }
    return th.dim;
}

void delta_cell(const Theme &th, int64_t d) {
    ui::text_right(fmt::delta_bytes(d), d > 0 ? th.grew : d < 0 ? th.shrank : th.dim);
}

class DiffView final : public View {
public:
    Tab tab() const override { return Tab::Diff; }
    void draw(ViewContext &ctx) override {
        const Theme &th = ctx.theme;
        std::shared_ptr<const DiffData> data = ctx.session.diff();
        if (!data) {
            ui::empty_state("No comparison", "Ctrl+D compares a saved snapshot (before) with the one open now, or two files");
            return;
        }
        const report::SnapshotDiff &d = data->diff;
        ImGui::PushFont(th.bold);
        ImGui::TextUnformatted(data->before_label.c_str());
        ImGui::SameLine();
        ImGui::TextUnformatted(th.sym("\xE2\x86\x92", "->")); // rightwards arrow
        ImGui::SameLine();
        ImGui::TextUnformatted(data->after_label.c_str());
        ImGui::PopFont();
        ImGui::SameLine(0, 20);
        ImGui::TextUnformatted("retained");
        ImGui::SameLine();
        ui::text_colored(d.delta_bytes > 0 ? th.grew : d.delta_bytes < 0 ? th.shrank : th.dim, "%s",
                         fmt::delta_bytes(d.delta_bytes).c_str());
        ImGui::SameLine(0, 20);
        ImGui::TextDisabled("stacks: %llu new, %llu grew, %llu shrank, %llu gone, %llu unchanged",
                            (unsigned long long)d.count(report::Change::New), (unsigned long long)d.count(report::Change::Grew),
                            (unsigned long long)d.count(report::Change::Shrank), (unsigned long long)d.count(report::Change::Gone),
                            (unsigned long long)d.unchanged_stacks);
        ImGui::SameLine(0, 20);
        if (ImGui::SmallButton("Close comparison")) ctx.session.clear_diff();

        const float em = ImGui::GetFontSize();
        const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter | ImGuiTableFlags_BordersInnerV |
                                      ImGuiTableFlags_Resizable | ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingFixedFit;
        const float experts_h = std::min(ImGui::GetContentRegionAvail().y * 0.38f,
                                          (float(d.experts.size()) + 1.6f) * ImGui::GetTextLineHeightWithSpacing() + 8);
        ui::heading(th, "Experts (matched by name)");
        if (ImGui::BeginTable("diff experts", 8, flags, ImVec2(0, experts_h))) {
            ImGui::TableSetupScrollFreeze(1, 1);
            ImGui::TableSetupColumn("Expert", ImGuiTableColumnFlags_WidthStretch);
            ImGui::TableSetupColumn("Change", 0, em * 5.0f);
            ImGui::TableSetupColumn("Retained before", 0, em * 7.0f);
            ImGui::TableSetupColumn("Retained after", 0, em * 7.0f);
            ImGui::TableSetupColumn("Delta", 0, em * 6.0f);
            ImGui::TableSetupColumn("Keys", 0, em * 4.5f);
            ImGui::TableSetupColumn("Allocs after", 0, em * 6.0f);
            ImGui::TableSetupColumn("Forced cleanups", 0, em * 7.0f);
            ImGui::TableHeadersRow();
            for (const report::ExpertDiff &e : d.experts) {
                ImGui::TableNextRow();
                ImGui::TableNextColumn();
                ImGui::TextUnformatted(e.name.c_str());
                ImGui::TableNextColumn();
                ui::badge(report::to_string(e.change), change_color(th, e.change));
                ImGui::TableNextColumn();
                ui::bytes_cell(e.before.retained_bytes());
                ImGui::TableNextColumn();
                ui::bytes_cell(e.after.retained_bytes());
                ImGui::TableNextColumn();
                delta_cell(th, int64_t(e.after.retained_bytes()) - int64_t(e.before.retained_bytes()));
                ImGui::TableNextColumn();
                ui::text_right(std::to_string(e.before.keys) + " " + th.sym("\xE2\x86\x92", "->") + " " + std::to_string(e.after.keys));
                ImGui::TableNextColumn();
                ui::count_cell(e.after.allocs);
                ImGui::TableNextColumn();
                ui::text_right(std::to_string(e.before.cleanups) + " " + th.sym("\xE2\x86\x92", "->") + " " +
                               std::to_string(e.after.cleanups));
            }
            ImGui::EndTable();
        }
        ImGui::Spacing();
        ui::heading(th, "Stacks that changed (biggest growth first)");
        if (ImGui::BeginTable("diff stacks", 7, flags, ImGui::GetContentRegionAvail())) {
            ImGui::TableSetupScrollFreeze(0, 1);
            ImGui::TableSetupColumn("Expert", 0, em * 7.5f);
            ImGui::TableSetupColumn("Change", 0, em * 5.0f);
            ImGui::TableSetupColumn("Before", 0, em * 5.5f);
            ImGui::TableSetupColumn("After", 0, em * 5.5f);
            ImGui::TableSetupColumn("Delta", 0, em * 6.0f);
            ImGui::TableSetupColumn("Blocks", 0, em * 6.5f);
            ImGui::TableSetupColumn("Allocated from", ImGuiTableColumnFlags_WidthStretch);
            ImGui::TableHeadersRow();
            ImGuiListClipper clipper;
            clipper.Begin(int(d.stacks.size()));
            while (clipper.Step()) {
                for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
                    const report::StackDiff &s = d.stacks[size_t(i)];
                    const model::Snapshot &src = s.from_after ? *data->after : *data->before;
                    ImGui::PushID(i);
                    ImGui::TableNextRow();
                    ImGui::TableNextColumn();
                    ImGui::Selectable(s.expert.c_str(), false, ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap);
                    if (ImGui::IsItemHovered()) {
                        ImGui::BeginTooltip();
                        ImGui::TextDisabled("frames from the %s snapshot", s.from_after ? "after" : "before");
                        ui::stack_tooltip_body(th, src, s.stack);
                        ImGui::EndTooltip();
                    }
                    ImGui::TableNextColumn();
                    ui::badge(report::to_string(s.change), change_color(th, s.change));
                    ImGui::TableNextColumn();
                    ui::bytes_cell(s.before.bytes);
                    ImGui::TableNextColumn();
                    ui::bytes_cell(s.after.bytes);
                    ImGui::TableNextColumn();
                    delta_cell(th, s.delta_bytes());
                    ImGui::TableNextColumn();
                    const int64_t db = s.delta_blocks();
                    ui::text_right((db > 0 ? "+" : "") + std::to_string(db), db > 0 ? th.grew : db < 0 ? th.shrank : th.dim);
                    ImGui::TableNextColumn();
                    ImGui::TextUnformatted(ui::stack_summary(src, s.stack, 4).c_str());
                    ImGui::PopID();
                }
            }
            ImGui::EndTable();
        }
    }
};

} // namespace

std::unique_ptr<View> make_diff_view() { return std::make_unique<DiffView>(); }

} // namespace nm::gui
