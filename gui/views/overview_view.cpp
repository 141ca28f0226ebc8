// overview_view.cpp - the "Experts" tab: the process, the selected key's record (state, status, crash)
// and its biggest stacks by retention kind.
#include "views.hpp"

#include "format.hpp"
#include "widgets.hpp"

#include <algorithm>

namespace nm::gui {
namespace {

void kv(const char *key, const std::string &value, ImU32 color = 0) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::TextDisabled("%s", key);
    ImGui::TableNextColumn();
    if (color) ImGui::PushStyleColor(ImGuiCol_Text, color);
    ImGui::TextWrapped("%s", value.empty() ? "-" : value.c_str());
    if (color) ImGui::PopStyleColor();
}

bool begin_kv(const char *id) {
    if (!ImGui::BeginTable(id, 2, ImGuiTableFlags_SizingStretchProp)) return false;
    ImGui::TableSetupColumn("k", ImGuiTableColumnFlags_WidthFixed, ImGui::GetFontSize() * 8.0f);
    ImGui::TableSetupColumn("v", ImGuiTableColumnFlags_WidthStretch);
    return true;
}

// One bar split by retention kind, with a legend underneath.
void retention_bar(const Theme &th, const Figures &f) {
    const uint64_t total = f.total_bytes();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x, h = ImGui::GetFontSize() * 1.1f;
    ImDrawList *dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), IM_COL32(255, 255, 255, 14), 3);
    float x = p.x;
    for (Retention r : {Retention::Outstanding, Retention::Leaked, Retention::Reclaimed}) {
        if (!total) break;
        const float seg = w * float(double(f.bytes_of(r)) / double(total));
        if (seg > 0.5f) dl->AddRectFilled(ImVec2(x, p.y), ImVec2(x + seg, p.y + h), th.retention_color(r), 2);
        x += seg;
    }
    ImGui::Dummy(ImVec2(w, h + 2));
    for (Retention r : {Retention::Outstanding, Retention::Leaked, Retention::Reclaimed}) {
        ui::swatch(th.retention_color(r));
        ImGui::SameLine(0, 4);
        ImGui::Text("%s %s", to_string(r), fmt::bytes(f.bytes_of(r)).c_str());
        ImGui::SameLine(0, 4);
        ImGui::TextDisabled("(%s blocks)", fmt::count(f.blocks_of(r)).c_str());
        ImGui::SameLine(0, 18);
    }
    ImGui::NewLine();
}

void process_card(ViewContext &ctx) {
    const model::Process &p = ctx.snap.process;
    ui::heading(ctx.theme, "Process");
    if (!begin_kv("process")) return;
    kv("pid", std::to_string(p.pid));
    kv("command", p.command);
    kv("executable", p.executable);
    kv("host", p.hostname);
    kv("started", fmt::wall_clock(p.start_unix_ms, 0));
    kv("snapshot at", fmt::at_ms(p.snapshot_ms) + "   (" + fmt::wall_clock(p.start_unix_ms, p.snapshot_ms) + ")");
    kv("stack depth", p.stack_depth ? std::to_string(p.stack_depth) + " frames" : "0 (sizes only)");
    kv("recorded", std::to_string(ctx.snap.modules.size()) + " modules, " + fmt::count(ctx.snap.frames.size()) +
                       " frames, " + fmt::count(ctx.snap.stacks.size()) + " stacks");
    kv("source", ctx.m.source.label());
    char timing[96];
    std::snprintf(timing, sizeof timing, "read %.0f ms, views built in %.0f ms (update %llu)", ctx.m.load_ms,
                  ctx.m.build_ms, (unsigned long long)ctx.m.generation);
    kv("model", timing);
    ImGui::EndTable();
}

void expert_card(ViewContext &ctx, const model::Expert &e) {
    const Theme &th = ctx.theme;
    ui::swatch(th.key_color(e.id));
    ImGui::SameLine();
    ImGui::PushFont(th.bold);
    ImGui::Text("%s", e.name.c_str());
    ImGui::PopFont();
    ImGui::SameLine();
    ImGui::TextDisabled("key %llu", (unsigned long long)e.id);
    ImGui::SameLine();
    ui::badge(fmt::state_text(e, ctx.m.source.ended).c_str(), th.state_color(e, ctx.m.source.ended));
    if (!begin_kv("expert")) return;
    const uint64_t end = e.state == model::ExpertState::Closed ? e.closed_ms : ctx.snap.process.snapshot_ms;
    kv("opened", fmt::at_ms(e.opened_ms));
    if (e.state == model::ExpertState::Closed)
        kv("closed", fmt::at_ms(e.closed_ms) + "  after " + fmt::duration_ms(end >= e.opened_ms ? end - e.opened_ms : 0));
    else
        kv("running for", fmt::duration_ms(end >= e.opened_ms ? end - e.opened_ms : 0));
    std::string status = e.status.text;
    if (e.status.percent >= 0) status += (status.empty() ? "" : "  ") + std::to_string(e.status.percent) + "%";
    if (e.status.status || e.status.substatus)
        status += "  (status " + std::to_string(e.status.status) + "." + std::to_string(e.status.substatus) + ")";
    kv("status", status);
    if (e.state == model::ExpertState::Closed) kv("outcome", fmt::outcome_text(e.outcome), th.outcome_color(e.outcome));
    if (!e.outcome_detail.empty()) kv("why it ended", e.outcome_detail, th.state_color(e));
    if (e.crash_signal) kv("crash", "signal " + std::to_string(e.crash_signal) + " at " + fmt::address(e.crash_address), th.error);
    kv("calls", fmt::count(e.allocs) + " allocs, " + fmt::count(e.reallocs) + " reallocs, " + fmt::count(e.frees) +
                    " frees, " + fmt::count(e.misuse_count) + " misuse");
    kv("memory", fmt::bytes(e.live_bytes) + " live in " + fmt::count(e.live_blocks) + " blocks, peak " +
                     fmt::bytes(e.peak_bytes));
    ImGui::EndTable();
    if (e.crash_signal && e.crash_stack) {
        ImGui::Spacing();
        ui::heading(th, "Faulting stack");
        ui::stack_table(th, ctx.snap, e.crash_stack, "crash stack", ImGui::GetFontSize() * 10);
    }
}

void top_stacks(ViewContext &ctx) {
    const Aggregate &agg = ctx.m.agg;
    const Theme &th = ctx.theme;
    std::vector<uint32_t> groups;
    const uint32_t b = ctx.expert < 0 ? 0 : agg.group_begin(uint32_t(ctx.expert));
    const uint32_t e = ctx.expert < 0 ? uint32_t(agg.groups.size()) : agg.group_end(uint32_t(ctx.expert));
    for (uint32_t g = b; g < e; ++g) groups.push_back(g);
    const size_t n = std::min<size_t>(groups.size(), 12);
    std::partial_sort(groups.begin(), groups.begin() + long(n), groups.end(), [&](uint32_t x, uint32_t y) {
        return agg.groups[x].fig.total_bytes() > agg.groups[y].fig.total_bytes();
    });
    ui::heading(th, "Biggest stacks");
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_SizingFixedFit |
                                  ImGuiTableFlags_ScrollY;
    if (!ImGui::BeginTable("top stacks", 5, flags, ImVec2(0, ImGui::GetContentRegionAvail().y))) return;
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("Key", 0, ImGui::GetFontSize() * 9);
    ImGui::TableSetupColumn("Outstanding", 0, ImGui::GetFontSize() * 5.5f);
    ImGui::TableSetupColumn("Leaked", 0, ImGui::GetFontSize() * 5.5f);
    ImGui::TableSetupColumn("Reclaimed", 0, ImGui::GetFontSize() * 5.5f);
    ImGui::TableSetupColumn("Allocated from", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableHeadersRow();
    for (size_t i = 0; i < n; ++i) {
        const KeyGroup &g = agg.groups[groups[i]];
        const model::Expert &ex = ctx.snap.experts[g.expert];
        ImGui::PushID(int(groups[i]));
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        if (ImGui::Selectable("##g", false, ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap)) {
            ctx.ui.selection = StackSelection{StackSelection::Kind::Stack, TreeDirection::BottomUp, {}, g.stack,
                                              ui::stack_summary(ctx.snap, g.stack, 2)};
            ctx.ui.select_tab(Tab::Blocks);
        }
        if (ImGui::IsItemHovered()) {
            ImGui::BeginTooltip();
            ui::stack_tooltip_body(th, ctx.snap, g.stack);
            ImGui::EndTooltip();
        }
        ImGui::SameLine();
        ui::swatch(th.key_color(ex.id));
        ImGui::SameLine();
        ImGui::TextUnformatted(ex.name.c_str());
        ImGui::TableNextColumn();
        ui::bytes_cell(g.fig.bytes_of(Retention::Outstanding), th.outstanding);
        ImGui::TableNextColumn();
        ui::bytes_cell(g.fig.bytes_of(Retention::Leaked), th.leaked);
        ImGui::TableNextColumn();
        ui::bytes_cell(g.fig.bytes_of(Retention::Reclaimed), th.reclaimed);
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(ui::stack_summary(ctx.snap, g.stack, 4).c_str());
        ImGui::PopID();
    }
    ImGui::EndTable();
}

void modules_table(ViewContext &ctx) {
    ui::heading(ctx.theme, "Modules");
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                                  ImGuiTableFlags_Resizable | ImGuiTableFlags_SizingStretchProp;
    if (!ImGui::BeginTable("modules", 3, flags, ImVec2(0, ImGui::GetContentRegionAvail().y))) return;
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("Module", ImGuiTableColumnFlags_WidthStretch, 3.0f);
    ImGui::TableSetupColumn("Base", ImGuiTableColumnFlags_WidthFixed, ImGui::GetFontSize() * 8.5f);
    ImGui::TableSetupColumn("Build id", ImGuiTableColumnFlags_WidthStretch, 1.2f);
    ImGui::TableHeadersRow();
    ImGuiListClipper clipper;
    clipper.Begin(int(ctx.snap.modules.size()));
    while (clipper.Step()) {
        for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
            const model::Module &mod = ctx.snap.modules[size_t(i)];
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(fmt::module_name(mod.path).c_str());
            if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", mod.path.c_str());
            ImGui::TableNextColumn();
            ImGui::PushFont(ctx.theme.mono);
            ImGui::TextDisabled("%s", fmt::address(mod.base).c_str());
            ImGui::TableNextColumn();
            ImGui::TextDisabled("%s", mod.build_id.empty() ? "-" : mod.build_id.substr(0, 16).c_str());
            ImGui::PopFont();
        }
    }
    ImGui::EndTable();
}

class OverviewView final : public View {
public:
    Tab tab() const override { return Tab::Overview; }
    void draw(ViewContext &ctx) override {
        if (ctx.m.source.kind == SourceKind::None) {
            ui::empty_state("Nothing open", "Ctrl+O opens a snapshot file, Ctrl+P lists processes to attach to");
            return;
        }
        const float w = ImGui::GetContentRegionAvail().x;
        ImGui::BeginChild("left", ImVec2(w * 0.42f, 0), false);
        if (const model::Expert *e = ctx.filtered()) {
            expert_card(ctx, *e);
            ImGui::Spacing();
            ImGui::Separator();
            ImGui::Spacing();
        }
        process_card(ctx);
        ImGui::Spacing();
        modules_table(ctx);
        ImGui::EndChild();
        ImGui::SameLine();
        ImGui::BeginChild("right", ImVec2(0, 0), false);
        ui::heading(ctx.theme, ctx.expert < 0 ? "Memory of every key" : "Memory of this key");
        retention_bar(ctx.theme, ctx.expert < 0 ? ctx.m.agg.total : ctx.m.agg.expert_figures[size_t(ctx.expert)]);
        ImGui::Spacing();
        top_stacks(ctx);
        ImGui::EndChild();
    }
};

} // namespace

std::unique_ptr<View> make_overview_view() { return std::make_unique<OverviewView>(); }

} // namespace nm::gui
