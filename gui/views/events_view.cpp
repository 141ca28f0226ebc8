// events_view.cpp - the events experts submitted (ExpertSubmitEvent), as Network Monitor's Event
// Viewer showed them: one row per event, its columns and justification below the table.
#include "views.hpp"

#include "format.hpp"
#include "widgets.hpp"

#include <algorithm>
#include <array>

namespace nm::gui {
namespace {

ImU32 severity_color(const Theme &th, uint32_t severity) {
    if (severity == 0) return th.dim;
    if (severity <= 2) return th.warning;
    return th.error;
}

class EventsView final : public View {
public:
    Tab tab() const override { return Tab::Events; }
    void draw(ViewContext &ctx) override {
        const Theme &th = ctx.theme;
        const model::Snapshot &snap = ctx.snap;
        const Aggregate &agg = ctx.m.agg;
        uint64_t dropped = 0;
        rows_.clear();
        for (uint32_t i = 0; i < agg.events.size(); ++i)
            if (ctx.expert < 0 || agg.events[i].expert == uint32_t(ctx.expert)) rows_.push_back(i);
        for (uint32_t e = 0; e < snap.experts.size(); ++e)
            if (ctx.expert < 0 || e == uint32_t(ctx.expert)) dropped += snap.experts[e].events_dropped;
        if (rows_.empty() && dropped == 0) {
            ui::empty_state("No events", "What experts report with ExpertSubmitEvent shows here, one row per event");
            return;
        }
        std::array<uint64_t, 6> by_severity{};
        for (uint32_t i : rows_) {
            const model::Event &ev = snap.experts[agg.events[i].expert].events[agg.events[i].event];
            if (ev.severity < by_severity.size()) ++by_severity[ev.severity];
        }
        ImGui::Text("%llu events:", (unsigned long long)rows_.size());
        for (uint32_t s = 0; s < by_severity.size(); ++s) {
            if (!by_severity[s]) continue;
            ImGui::SameLine(0, 12);
            ui::text_colored(severity_color(th, s), "%llu %s", (unsigned long long)by_severity[s], fmt::severity_text(s));
        }
        if (dropped) {
            ImGui::SameLine(0, 16);
            ui::text_colored(th.misuse, "%llu more dropped (past the per-key limit)", (unsigned long long)dropped);
        }
        if (selected_ >= agg.events.size() && !rows_.empty()) selected_ = rows_[0];

        const ImVec2 avail = ImGui::GetContentRegionAvail();
        const float detail_h = std::max(avail.y * 0.34f, ImGui::GetTextLineHeightWithSpacing() * 6.0f);
        const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter | ImGuiTableFlags_BordersInnerV |
                                      ImGuiTableFlags_Resizable | ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingFixedFit;
        if (ImGui::BeginTable("events", 7, flags, ImVec2(avail.x, avail.y - detail_h))) {
            const float em = ImGui::GetFontSize();
            ImGui::TableSetupScrollFreeze(0, 1);
            ImGui::TableSetupColumn("When", 0, em * 6.0f);
            ImGui::TableSetupColumn("Key", 0, em * 8.0f);
            ImGui::TableSetupColumn("Severity", 0, em * 7.5f);
            ImGui::TableSetupColumn("Source", 0, em * 7.5f);
            ImGui::TableSetupColumn("Event", 0, em * 9.0f);
            ImGui::TableSetupColumn("Id", 0, em * 3.0f);
            ImGui::TableSetupColumn("Description", ImGuiTableColumnFlags_WidthStretch);
            ImGui::TableHeadersRow();
            ImGuiListClipper clipper;
            clipper.Begin(int(rows_.size()));
            while (clipper.Step()) {
                for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
                    const uint32_t idx = rows_[size_t(row)];
                    const EventRef &r = agg.events[idx];
                    const model::Expert &e = snap.experts[r.expert];
                    const model::Event &ev = e.events[r.event];
                    ImGui::PushID(row);
                    ImGui::TableNextRow();
                    ImGui::TableNextColumn();
                    if (ImGui::Selectable(fmt::at_ms(ev.time_ms).c_str(), selected_ == idx,
                                          ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap))
                        selected_ = idx;
                    ImGui::TableNextColumn();
                    ui::swatch(th.key_color(e.id));
                    ImGui::SameLine(0, 4);
                    ImGui::TextUnformatted(e.name.c_str());
                    ImGui::TableNextColumn();
                    ui::badge(fmt::severity_text(ev.severity), severity_color(th, ev.severity));
                    ImGui::TableNextColumn();
                    ImGui::TextUnformatted(ev.source.c_str());
                    ImGui::TableNextColumn();
                    ImGui::TextUnformatted(ev.name.c_str());
                    ImGui::TableNextColumn();
                    ImGui::Text("%u", ev.ident);
                    ImGui::TableNextColumn();
                    ImGui::TextUnformatted(ev.description.c_str());
                    ImGui::PopID();
                }
            }
            ImGui::EndTable();
        }
        ImGui::BeginChild("event detail", ImVec2(0, 0));
        if (selected_ < agg.events.size()) {
            const EventRef &r = agg.events[selected_];
            const model::Event &ev = snap.experts[r.expert].events[r.event];
            ui::heading(th, ev.name.empty() ? "Event" : ev.name.c_str());
            ImGui::TextDisabled("from %s, key %s, at %s", ev.source.empty() ? "?" : ev.source.c_str(),
                                snap.experts[r.expert].name.c_str(), fmt::at_ms(ev.time_ms).c_str());
            if (!ev.justification_text.empty()) ImGui::TextWrapped("%s", ev.justification_text.c_str());
            if (!ev.columns.empty() &&
                ImGui::BeginTable("event columns", 2, ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_SizingFixedFit)) {
                ImGui::TableSetupColumn("Column", 0, ImGui::GetFontSize() * 12.0f);
                ImGui::TableSetupColumn("Value", ImGuiTableColumnFlags_WidthStretch);
                ImGui::TableHeadersRow();
                for (const model::EventColumn &c : ev.columns) {
                    ImGui::TableNextRow();
                    ImGui::TableNextColumn();
                    ImGui::TextUnformatted(c.name.c_str());
                    ImGui::TableNextColumn();
                    ImGui::PushFont(th.mono);
                    ImGui::TextUnformatted(c.value.c_str());
                    ImGui::PopFont();
                }
                ImGui::EndTable();
            }
        }
        ImGui::EndChild();
    }

private:
    uint32_t selected_ = UINT32_MAX;
    std::vector<uint32_t> rows_;
};

} // namespace

std::unique_ptr<View> make_events_view() { return std::make_unique<EventsView>(); }

} // namespace nm::gui
