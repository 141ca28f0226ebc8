// logs_view.cpp - the cleanup log (what each key's close reclaimed, by stack) and the misuse log.
#include "views.hpp"

#include "format.hpp"
#include "widgets.hpp"

#include <algorithm>

namespace nm::gui {
namespace {

void select_stack(ViewContext &ctx, uint32_t stack) {
    ctx.ui.selection = StackSelection{StackSelection::Kind::Stack, TreeDirection::BottomUp, {}, stack,
                                      ui::stack_summary(ctx.snap, stack, 2)};
}

class CleanupsView final : public View {
public:
    Tab tab() const override { return Tab::Cleanups; }
    void draw(ViewContext &ctx) override {
        const Theme &th = ctx.theme;
        const model::Snapshot &snap = ctx.snap;
        const Aggregate &agg = ctx.m.agg;
        uint64_t n = 0, leak_n = 0, leak_bytes = 0, forced_n = 0, forced_bytes = 0, clean_n = 0;
        for (const CleanupRef &r : agg.cleanups) {
            if (ctx.expert >= 0 && r.expert != uint32_t(ctx.expert)) continue;
            const model::Cleanup &c = snap.experts[r.expert].cleanups[r.cleanup];
            ++n;
            if (c.outcome == model::Outcome::Done && c.blocks == 0) {
                ++clean_n;
            } else if (c.outcome == model::Outcome::Done) {
                ++leak_n;
                leak_bytes += c.bytes;
            } else {
                ++forced_n;
                forced_bytes += c.bytes;
            }
        }
        if (n == 0) {
            ui::empty_state("No cleanups yet", "A key's close is logged here: leaks for a clean close, forced cleanups otherwise");
            return;
        }
        ImGui::Text("%llu cleanups:", (unsigned long long)n);
        ImGui::SameLine();
        ui::text_colored(th.leaked, "%llu leak reclaims (%s)", (unsigned long long)leak_n, fmt::bytes(leak_bytes).c_str());
        ImGui::SameLine(0, 16);
        ui::text_colored(th.reclaimed, "%llu forced cleanups (%s)", (unsigned long long)forced_n, fmt::bytes(forced_bytes).c_str());
        if (clean_n) {
            ImGui::SameLine(0, 16);
            ImGui::TextDisabled("%llu clean closes", (unsigned long long)clean_n);
        }
        ImGui::SameLine(0, 16);
        ImGui::TextDisabled("Expand a row for the stacks it reclaimed; click a stack to select it.");

        const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter | ImGuiTableFlags_BordersInnerV |
                                      ImGuiTableFlags_Resizable | ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingFixedFit;
        if (!ImGui::BeginTable("cleanups", 7, flags, ImGui::GetContentRegionAvail())) return;
        const float em = ImGui::GetFontSize();
        ImGui::TableSetupScrollFreeze(0, 1);
        ImGui::TableSetupColumn("When", 0, em * 7.0f);
        ImGui::TableSetupColumn("Key", 0, em * 8.0f);
        ImGui::TableSetupColumn("Outcome", 0, em * 9.5f);
        ImGui::TableSetupColumn("Blocks", 0, em * 4.5f);
        ImGui::TableSetupColumn("Bytes", 0, em * 5.5f);
        ImGui::TableSetupColumn("Stacks", 0, em * 3.6f);
        ImGui::TableSetupColumn("Why / where", ImGuiTableColumnFlags_WidthStretch);
        ImGui::TableHeadersRow();
        for (size_t i = 0; i < agg.cleanups.size(); ++i) {
            const CleanupRef &r = agg.cleanups[i];
            if (ctx.expert >= 0 && r.expert != uint32_t(ctx.expert)) continue;
            const model::Expert &e = snap.experts[r.expert];
            const model::Cleanup &c = e.cleanups[r.cleanup];
            const bool clean = c.outcome == model::Outcome::Done && c.blocks == 0;
            const ImU32 col = clean ? th.dim : c.outcome == model::Outcome::Done ? th.leaked : th.reclaimed;
            ImGui::PushID(int(i));
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            // The first cleanup that reclaimed anything starts expanded, so its stacks show.
            if (!c.stacks.empty() && !opened_first_) {
                ImGui::SetNextItemOpen(true, ImGuiCond_Once);
                opened_first_ = true;
            }
            const bool open = ImGui::TreeNodeEx("##c", ImGuiTreeNodeFlags_SpanFullWidth | (c.stacks.empty() ? ImGuiTreeNodeFlags_Leaf : 0));
            ImGui::SameLine();
            ImGui::TextUnformatted(fmt::at_ms(c.time_ms).c_str());
            ImGui::TableNextColumn();
            ui::swatch(th.key_color(e.id));
            ImGui::SameLine(0, 4);
            ImGui::TextUnformatted(e.name.c_str());
            ImGui::TableNextColumn();
            ui::badge(clean ? "clean close (done)" : fmt::outcome_text(c.outcome), col);
            ImGui::TableNextColumn();
            ui::count_cell(c.blocks);
            ImGui::TableNextColumn();
            ui::bytes_cell(c.bytes, col);
            ImGui::TableNextColumn();
            ui::count_cell(c.stacks.size());
            ImGui::TableNextColumn();
            if (!e.outcome_detail.empty()) ImGui::TextUnformatted(e.outcome_detail.c_str());
            else if (!c.stacks.empty()) ImGui::TextDisabled("%s", ui::stack_summary(snap, c.stacks[0].stack, 3).c_str());
            if (open) {
                for (size_t s = 0; s < c.stacks.size(); ++s) {
                    const model::StackGroup &g = c.stacks[s];
                    ImGui::PushID(int(s));
                    ImGui::TableNextRow();
                    ImGui::TableNextColumn();
                    ImGui::TableNextColumn();
                    ImGui::TableNextColumn();
                    const bool sel = ctx.ui.selection.kind == StackSelection::Kind::Stack && ctx.ui.selection.stack == g.stack;
                    if (ImGui::Selectable("##s", sel, ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap |
                                                          ImGuiSelectableFlags_AllowDoubleClick)) {
                        select_stack(ctx, g.stack);
                        if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) ctx.ui.select_tab(Tab::BottomUp);
                    }
                    if (ImGui::IsItemHovered()) {
                        ImGui::BeginTooltip();
                        ui::stack_tooltip_body(th, snap, g.stack);
                        ImGui::EndTooltip();
                    }
                    ImGui::SameLine();
                    ImGui::TextDisabled("stack %u", g.stack);
                    ImGui::TableNextColumn();
                    ui::count_cell(g.blocks);
                    ImGui::TableNextColumn();
                    ui::bytes_cell(g.bytes, col);
                    ImGui::TableNextColumn();
                    ImGui::TableNextColumn();
                    ImGui::TextUnformatted(ui::stack_summary(snap, g.stack, 5).c_str());
                    ImGui::PopID();
                }
                ImGui::TreePop();
            }
            ImGui::PopID();
        }
        ImGui::EndTable();
    }

private:
    bool opened_first_ = false;
};

class MisuseView final : public View {
public:
    Tab tab() const override { return Tab::Misuse; }
    void draw(ViewContext &ctx) override {
        const Theme &th = ctx.theme;
        const model::Snapshot &snap = ctx.snap;
        const Aggregate &agg = ctx.m.agg;
        uint64_t counted = 0, kept = 0;
        for (uint32_t e = 0; e < snap.experts.size(); ++e) {
            if (ctx.expert >= 0 && e != uint32_t(ctx.expert)) continue;
            counted += snap.experts[e].misuse_count;
            kept += snap.experts[e].misuse.size();
        }
        if (counted == 0) {
            ui::empty_state("No misuse", "Double frees, unknown or interior pointers and blocks of another key show here");
            return;
        }
        ui::text_colored(th.misuse, "%llu misuse events", (unsigned long long)counted);
        if (kept < counted) {
            ImGui::SameLine();
            ImGui::TextDisabled("(the first %llu of each key are kept with their stacks)", (unsigned long long)kept);
        }
        const ImVec2 avail = ImGui::GetContentRegionAvail();
        const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter | ImGuiTableFlags_BordersInnerV |
                                      ImGuiTableFlags_Resizable | ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingFixedFit;
        if (ImGui::BeginTable("misuse", 7, flags, ImVec2(avail.x * 0.62f, avail.y))) {
            const float em = ImGui::GetFontSize();
            ImGui::TableSetupScrollFreeze(0, 1);
            ImGui::TableSetupColumn("When", 0, em * 6.0f);
            ImGui::TableSetupColumn("Key", 0, em * 7.5f);
            ImGui::TableSetupColumn("Kind", 0, em * 7.5f);
            ImGui::TableSetupColumn("Call", 0, em * 9.5f);
            ImGui::TableSetupColumn("Pointer", 0, em * 8.5f);
            ImGui::TableSetupColumn("Owner", 0, em * 5.5f);
            ImGui::TableSetupColumn("Called from", ImGuiTableColumnFlags_WidthStretch);
            ImGui::TableHeadersRow();
            ImGuiListClipper clipper;
            std::vector<uint32_t> rows;
            rows.reserve(agg.misuse.size());
            for (uint32_t i = 0; i < agg.misuse.size(); ++i)
                if (ctx.expert < 0 || agg.misuse[i].expert == uint32_t(ctx.expert)) rows.push_back(i);
            if (selected_ >= agg.misuse.size() && !rows.empty()) selected_ = rows[0]; // show a stack at once
            clipper.Begin(int(rows.size()));
            while (clipper.Step()) {
                for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
                    const MisuseRef &r = agg.misuse[rows[size_t(row)]];
                    const model::Expert &e = snap.experts[r.expert];
                    const model::Misuse &m = e.misuse[r.misuse];
                    ImGui::PushID(row);
                    ImGui::TableNextRow();
                    ImGui::TableNextColumn();
                    if (ImGui::Selectable(fmt::at_ms(m.time_ms).c_str(), selected_ == rows[size_t(row)],
                                          ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap)) {
                        selected_ = rows[size_t(row)];
                        select_stack(ctx, m.stack);
                    }
                    ImGui::TableNextColumn();
                    ui::swatch(th.key_color(e.id));
                    ImGui::SameLine(0, 4);
                    ImGui::TextUnformatted(e.name.c_str());
                    ImGui::TableNextColumn();
                    ui::badge(fmt::misuse_text(m.kind), th.misuse);
                    ImGui::TableNextColumn();
                    ImGui::TextUnformatted(m.function.c_str());
                    ImGui::TableNextColumn();
                    ImGui::PushFont(th.mono);
                    ImGui::TextUnformatted(fmt::address(m.address).c_str());
                    ImGui::PopFont();
                    ImGui::TableNextColumn();
                    ImGui::TextUnformatted(m.owner.c_str());
                    ImGui::TableNextColumn();
                    ImGui::TextUnformatted(ui::stack_summary(snap, m.stack, 3).c_str());
                    ImGui::PopID();
                }
            }
            ImGui::EndTable();
        }
        ImGui::SameLine();
        ImGui::BeginChild("misuse stack", ImVec2(0, avail.y));
        if (selected_ < agg.misuse.size()) {
            const MisuseRef &r = agg.misuse[selected_];
            const model::Misuse &m = snap.experts[r.expert].misuse[r.misuse];
            ui::heading(th, "Where the bad call was made");
            ImGui::TextDisabled("%s(%s) by %s", m.function.c_str(), fmt::address(m.address).c_str(),
                                snap.experts[r.expert].name.c_str());
            ui::stack_table(th, snap, m.stack, "misuse frames", ImGui::GetContentRegionAvail().y);
        } else {
            ui::heading(th, "Stack");
            ImGui::TextDisabled("Select an event to see where the bad call was made");
        }
        ImGui::EndChild();
    }

private:
    uint32_t selected_ = UINT32_MAX;
};

} // namespace

std::unique_ptr<View> make_cleanups_view() { return std::make_unique<CleanupsView>(); }
std::unique_ptr<View> make_misuse_view() { return std::make_unique<MisuseView>(); }

} // namespace nm::gui
