// experts_view.cpp - the experts table: one row per key with its figures; selecting a row filters every view.
#include "experts_view.hpp"

#include "format.hpp"
#include "widgets.hpp"

#include <algorithm>
#include <cstdio>

namespace nm::gui {
namespace {

enum Col { Key, Name, State, Status, LiveBlocks, LiveBytes, Peak, Allocs, Frees, Reallocs, Misuse, Leaked, Reclaimed, Kind, HeapBytes, NCols };

uint64_t cleanup_bytes(const model::Expert &e, bool leak) {
    uint64_t b = 0;
    for (const model::Cleanup &c : e.cleanups)
        if ((c.outcome == model::Outcome::Done) == leak) b += c.bytes;
    return b;
}

uint64_t cleanup_blocks(const model::Expert &e, bool leak) {
    uint64_t b = 0;
    for (const model::Cleanup &c : e.cleanups)
        if ((c.outcome == model::Outcome::Done) == leak) b += c.blocks;
    return b;
}

int state_rank(const model::Expert &e) {
    return e.state == model::ExpertState::Closed ? 2 + int(e.outcome) : int(e.state);
}

} // namespace

void ExpertsTable::sort_rows(const model::Snapshot &snap, ImGuiTableSortSpecs *specs, int kind) {
    if (specs && specs->SpecsCount > 0) {
        sort_column_ = int(specs->Specs[0].ColumnUserID);
        sort_descending_ = specs->Specs[0].SortDirection == ImGuiSortDirection_Descending;
    }
    order_.clear();
    for (uint32_t i = 0; i < snap.experts.size(); ++i)
        if (kind < 0 || int(snap.experts[i].kind) == kind) order_.push_back(i);
    if (sort_column_ < 0) return;
    auto key = [&](const model::Expert &e) -> uint64_t {
        switch (sort_column_) {
        case Key: return e.id;
        case State: return uint64_t(state_rank(e));
        case Status: return uint64_t(e.status.percent + 1);
        case LiveBlocks: return e.live_blocks;
        case LiveBytes: return e.live_bytes;
        case Peak: return e.peak_bytes;
        case Allocs: return e.allocs;
        case Frees: return e.frees;
        case Reallocs: return e.reallocs;
        case Misuse: return e.misuse_count;
        case Leaked: return cleanup_bytes(e, true);
        case Reclaimed: return cleanup_bytes(e, false);
        case Kind: return uint64_t(e.kind);
        case HeapBytes: return e.heap_bytes;
        }
        return 0;
    };
    std::stable_sort(order_.begin(), order_.end(), [&](uint32_t a, uint32_t b) {
        const model::Expert &ea = snap.experts[a], &eb = snap.experts[b];
        if (sort_column_ == Name) {
            const int c = ea.name.compare(eb.name);
            return sort_descending_ ? c > 0 : c < 0;
        }
        const uint64_t ka = key(ea), kb = key(eb);
        return sort_descending_ ? ka > kb : ka < kb;
    });
}

// Kind: every key, expert keys (NmOpenExpertKey) or module keys (the whole heap, by module).
void ExpertsTable::kind_filter(ViewContext &ctx) {
    size_t n[2] = {0, 0};
    for (const model::Expert &e : ctx.snap.experts) ++n[e.kind == model::KeyKind::Module ? 1 : 0];
    ImGui::AlignTextToFramePadding();
    ImGui::TextDisabled("Kind");
    ImGui::SameLine();
    char label[48];
    std::snprintf(label, sizeof label, "every key (%zu)", n[0] + n[1]);
    ImGui::RadioButton(label, &ctx.ui.key_kind, -1);
    ImGui::SameLine();
    std::snprintf(label, sizeof label, "experts (%zu)", n[0]);
    ImGui::RadioButton(label, &ctx.ui.key_kind, int(model::KeyKind::Expert));
    ImGui::SameLine();
    std::snprintf(label, sizeof label, "modules (%zu)", n[1]);
    ImGui::RadioButton(label, &ctx.ui.key_kind, int(model::KeyKind::Module));
    if (ctx.snap.process.heap_tracked) {
        ImGui::SameLine();
        ImGui::TextDisabled("  heap tracked: module keys hold malloc/new blocks by module; "
                            "an expert's own heap blocks are its Heap bytes");
    }
}

void ExpertsTable::draw(ViewContext &ctx, float height) {
    const model::Snapshot &snap = ctx.snap;
    const Theme &th = ctx.theme;
    {
        const float y0 = ImGui::GetCursorPosY();
        kind_filter(ctx);
        height = std::max(height - (ImGui::GetCursorPosY() - y0), ImGui::GetTextLineHeightWithSpacing() * 3);
    }
    if (ctx.ui.key_kind != kind_shown_) {
        kind_shown_ = ctx.ui.key_kind;
        dirty_ = true;
    }
    if (ctx.m.generation != generation_ || source_ != &snap) {
        generation_ = ctx.m.generation;
        source_ = &snap;
        dirty_ = true;
    }
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter | ImGuiTableFlags_BordersInnerV |
                                  ImGuiTableFlags_Resizable | ImGuiTableFlags_Sortable | ImGuiTableFlags_ScrollY |
                                  ImGuiTableFlags_Hideable | ImGuiTableFlags_Reorderable |
                                  ImGuiTableFlags_SizingFixedFit;
    if (!ImGui::BeginTable("experts", NCols, flags, ImVec2(0, height))) return;
    const float em = ImGui::GetFontSize();
    ImGui::TableSetupScrollFreeze(2, 1);
    // Numeric columns fit their header or a typical value, whichever is wider.
    auto fit = [&](const char *header, const char *sample) {
        return std::max(ImGui::CalcTextSize(header).x, ImGui::CalcTextSize(sample).x) + em * 1.2f;
    };
    const ImGuiTableColumnFlags desc = ImGuiTableColumnFlags_PreferSortDescending;
    ImGui::TableSetupColumn("Key", ImGuiTableColumnFlags_DefaultSort, em * 3.4f, Key);
    ImGui::TableSetupColumn("Expert", ImGuiTableColumnFlags_WidthStretch, 1.0f, Name);
    ImGui::TableSetupColumn("Kind", 0, fit("Kind", "module"), Kind);
    ImGui::TableSetupColumn("State", 0, fit("State", "terminating"), State);
    ImGui::TableSetupColumn("Status", ImGuiTableColumnFlags_WidthStretch, 1.5f, Status);
    ImGui::TableSetupColumn("Live blocks", desc, fit("Live blocks", "1,000,000"), LiveBlocks);
    ImGui::TableSetupColumn("Live bytes", desc, fit("Live bytes", "1023 MiB"), LiveBytes);
    ImGui::TableSetupColumn("Heap bytes", desc, fit("Heap bytes", "1023 MiB"), HeapBytes);
    ImGui::TableSetupColumn("Peak", desc, fit("Peak", "1023 MiB"), Peak);
    ImGui::TableSetupColumn("Allocs", desc, fit("Allocs", "10,000,000"), Allocs);
    ImGui::TableSetupColumn("Frees", desc, fit("Frees", "10,000,000"), Frees);
    ImGui::TableSetupColumn("Reallocs", desc, fit("Reallocs", "100,000"), Reallocs);
    ImGui::TableSetupColumn("Misuse", desc, fit("Misuse", "1,000"), Misuse);
    ImGui::TableSetupColumn("Leaked", desc, fit("Leaked", "1023 MiB"), Leaked);
    ImGui::TableSetupColumn("Reclaimed", desc, fit("Reclaimed", "1023 MiB"), Reclaimed);
    ImGui::TableHeadersRow();

    ImGuiTableSortSpecs *specs = ImGui::TableGetSortSpecs();
    if (dirty_ || (specs && specs->SpecsDirty) || (kind_shown_ < 0 && order_.size() != snap.experts.size())) {
        sort_rows(snap, specs, kind_shown_);
        if (specs) specs->SpecsDirty = false;
        dirty_ = false;
    }

    // The "every key" row: totals, and a click clears the filter.
    {
        uint64_t blocks = 0, bytes = 0, heap = 0, peak = 0, allocs = 0, frees = 0, reallocs = 0, misuse = 0;
        for (uint32_t i : order_) {
            const model::Expert &e = snap.experts[i];
            heap += e.heap_bytes;
            blocks += e.live_blocks;
            bytes += e.live_bytes;
            peak += e.peak_bytes;
            allocs += e.allocs;
            frees += e.frees;
            reallocs += e.reallocs;
            misuse += e.misuse_count;
        }
        ImGui::TableNextRow();
        ImGui::TableSetBgColor(ImGuiTableBgTarget_RowBg0, IM_COL32(255, 255, 255, 12));
        ImGui::TableNextColumn();
        if (ImGui::Selectable("##all", false, ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap))
            ctx.ui.select_expert(std::nullopt);
        if (!ctx.ui.expert_id) {
            // The unfiltered state: an accent bar at the row's left edge rather than a full highlight.
            const ImVec2 r0 = ImGui::GetItemRectMin(), r1 = ImGui::GetItemRectMax();
            ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(r0.x - 4, r0.y), ImVec2(r0.x - 1, r1.y), th.accent);
        }
        ImGui::SameLine();
        ImGui::TextDisabled("all");
        ImGui::TableNextColumn();
        ImGui::PushFont(th.bold);
        if (kind_shown_ < 0) ImGui::Text("Every key (%zu)", order_.size());
        else ImGui::Text("Every %s key (%zu)", model::to_string(model::KeyKind(kind_shown_)), order_.size());
        ImGui::PopFont();
        ImGui::TableNextColumn();
        ImGui::TableNextColumn();
        ImGui::TableNextColumn();
        ImGui::TableNextColumn();
        ui::count_cell(blocks);
        ImGui::TableNextColumn();
        ui::bytes_cell(bytes, th.outstanding);
        ImGui::TableNextColumn();
        ui::bytes_cell(heap, th.outstanding);
        ImGui::TableNextColumn();
        ui::bytes_cell(peak);
        ImGui::TableNextColumn();
        ui::count_cell(allocs);
        ImGui::TableNextColumn();
        ui::count_cell(frees);
        ImGui::TableNextColumn();
        ui::count_cell(reallocs);
        ImGui::TableNextColumn();
        ui::count_cell(misuse, th.misuse);
        ImGui::TableNextColumn();
        ui::bytes_cell(ctx.m.agg.total.bytes_of(Retention::Leaked), th.leaked);
        ImGui::TableNextColumn();
        ui::bytes_cell(ctx.m.agg.total.bytes_of(Retention::Reclaimed), th.reclaimed);
    }

    ImGuiListClipper clipper;
    clipper.Begin(int(order_.size()));
    while (clipper.Step()) {
        for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
            const uint32_t i = order_[size_t(row)];
            const model::Expert &e = snap.experts[i];
            ImGui::PushID(int(i));
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            const bool selected = ctx.ui.expert_id == e.id;
            if (ImGui::Selectable("##row", selected, ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap))
                ctx.ui.select_expert(selected ? std::nullopt : std::optional<uint64_t>(e.id));
            if (ImGui::BeginPopupContextItem("key menu")) {
                if (ImGui::MenuItem("Filter every view to this key", nullptr, selected)) ctx.ui.select_expert(e.id);
                const bool open = e.state != model::ExpertState::Closed;
                if (ImGui::MenuItem("Request terminate...", "Ctrl+T", false, open && ctx.session.is_live())) {
                    ctx.ui.terminate_id = e.id;
                    ctx.ui.terminate_name = e.name;
                    ctx.ui.open_dialog(Dialog::Terminate);
                }
                if (ImGui::MenuItem("Copy name")) ImGui::SetClipboardText(e.name.c_str());
                ImGui::EndPopup();
            }
            ImGui::SameLine();
            ui::swatch(th.key_color(e.id));
            ImGui::SameLine();
            ImGui::TextDisabled("%llu", (unsigned long long)e.id);
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(e.name.c_str());
            ImGui::TableNextColumn();
            if (e.kind == model::KeyKind::Module) ImGui::TextDisabled("module");
            else ImGui::TextUnformatted("expert");
            ImGui::TableNextColumn();
            ui::badge(fmt::state_text(e, ctx.m.source.ended).c_str(), th.state_color(e, ctx.m.source.ended));
            if (ImGui::IsItemHovered() && !e.outcome_detail.empty()) ImGui::SetTooltip("%s", e.outcome_detail.c_str());
            ImGui::TableNextColumn();
            if (e.status.percent >= 0) {
                char pct[16];
                std::snprintf(pct, sizeof pct, "%d%%", e.status.percent);
                const float w = ImGui::GetFontSize() * 3.2f;
                const ImVec2 p = ImGui::GetCursorScreenPos();
                const float h = ImGui::GetTextLineHeight();
                ImDrawList *dl = ImGui::GetWindowDrawList();
                dl->AddRectFilled(ImVec2(p.x, p.y + 2), ImVec2(p.x + w, p.y + h - 2), IM_COL32(255, 255, 255, 18), 2);
                dl->AddRectFilled(ImVec2(p.x, p.y + 2), ImVec2(p.x + w * float(e.status.percent) / 100.0f, p.y + h - 2),
                                  ImGui::GetColorU32(ImGuiCol_CheckMark, 0.55f), 2);
                const float tw = ImGui::CalcTextSize(pct).x;
                dl->AddText(ImVec2(p.x + (w - tw) * 0.5f, p.y), IM_COL32(235, 235, 240, 255), pct);
                ImGui::Dummy(ImVec2(w, h));
                ImGui::SameLine();
            }
            if (!e.status.text.empty()) {
                ImGui::TextUnformatted(e.status.text.c_str());
                if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", e.status.text.c_str());
            } else if (!e.outcome_detail.empty()) ImGui::TextDisabled("%s", e.outcome_detail.c_str());
            ImGui::TableNextColumn();
            ui::count_cell(e.live_blocks);
            ImGui::TableNextColumn();
            ui::bytes_cell(e.live_bytes, th.outstanding);
            ImGui::TableNextColumn();
            ui::bytes_cell(e.heap_bytes, th.outstanding);
            if (ImGui::IsItemHovered() && e.heap_blocks)
                ImGui::SetTooltip(e.kind == model::KeyKind::Module
                                      ? "%s heap blocks (malloc/new) charged to this module"
                                  : e.state == model::ExpertState::Closed
                                      ? "%s heap blocks (malloc/new, outside the API) the close left behind, still live"
                                      : "%s heap blocks (malloc/new) of this run, outside the API",
                                  fmt::count(e.heap_blocks).c_str());
            ImGui::TableNextColumn();
            ui::bytes_cell(e.peak_bytes);
            ImGui::TableNextColumn();
            ui::count_cell(e.allocs);
            ImGui::TableNextColumn();
            ui::count_cell(e.frees);
            ImGui::TableNextColumn();
            ui::count_cell(e.reallocs);
            ImGui::TableNextColumn();
            ui::count_cell(e.misuse_count, th.misuse);
            ImGui::TableNextColumn();
            ui::bytes_cell(cleanup_bytes(e, true), th.leaked);
            if (ImGui::IsItemHovered() && cleanup_blocks(e, true))
                ImGui::SetTooltip("%s blocks still held when the key was closed (done): leaks",
                                  fmt::count(cleanup_blocks(e, true)).c_str());
            ImGui::TableNextColumn();
            ui::bytes_cell(cleanup_bytes(e, false), th.reclaimed);
            if (ImGui::IsItemHovered() && cleanup_blocks(e, false))
                ImGui::SetTooltip("%s blocks freed by a forced cleanup (%s)", fmt::count(cleanup_blocks(e, false)).c_str(),
                                  model::to_string(e.outcome));
            ImGui::PopID();
        }
    }
    ImGui::EndTable();
}

} // namespace nm::gui
