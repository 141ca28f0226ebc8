// blocks_view.cpp - the live blocks themselves (address, size, age, key) for the selected stack or tree
// node; a list of a million rows draws only what is on screen.
#include "views.hpp"

#include "format.hpp"
#include "search.hpp"
#include "widgets.hpp"

#include <algorithm>

namespace nm::gui {
namespace {

enum Col { Address, Size, Age, Time, Key, Reach, Stack, NCols };

// The reachability filter: which classes are listed.
enum ReachFilter { AllClasses, Lost, Definite, Indirect, Reachable, Unclassified, NFilters };
const char *const kFilterNames[NFilters] = {"every class", "lost (definitely + indirectly)", "definitely lost",
                                            "indirectly lost", "still reachable", "not classified"};

bool passes(int filter, model::Reach r) {
    switch (filter) {
    case Lost: return r == model::Reach::DefinitelyLost || r == model::Reach::IndirectlyLost;
    case Definite: return r == model::Reach::DefinitelyLost;
    case Indirect: return r == model::Reach::IndirectlyLost;
    case Reachable: return r == model::Reach::Reachable;
    case Unclassified: return r == model::Reach::Unknown;
    default: return true;
    }
}

const char *reach_label(model::Reach r) {
    switch (r) {
    case model::Reach::Reachable: return "reachable";
    case model::Reach::IndirectlyLost: return "indirect";
    case model::Reach::DefinitelyLost: return "lost";
    default: return "-";
    }
}

class BlocksView final : public View {
public:
    Tab tab() const override { return Tab::Blocks; }
    void draw(ViewContext &ctx) override;

private:
    void rebuild(ViewContext &ctx);
    void sort(const model::Snapshot &snap);
    const model::Block &block(const model::Snapshot &snap, size_t row) const {
        const BlockRef &r = rows_[row];
        return snap.experts[r.expert].blocks[r.index];
    }

    // Cache key: the model, the filter and the selection the rows were collected for.
    uint64_t serial_ = 0;
    std::optional<uint64_t> filter_;
    StackSelection selection_;
    std::string search_text_;
    bool valid_ = false;
    int reach_filter_ = AllClasses;
    int built_filter_ = AllClasses;
    SearchIndex search_;

    std::vector<BlockRef> rows_;
    std::vector<uint32_t> stacks_; // the selected stacks
    Figures selected_fig_;         // their figures in the filter
    int sort_col_ = Size;
    bool sort_desc_ = true;
    int64_t focus_ = -1; // the row whose stack the side panel shows
};

bool same_selection(const StackSelection &a, const StackSelection &b) {
    return a.kind == b.kind && a.dir == b.dir && a.path == b.path && a.stack == b.stack;
}

void BlocksView::rebuild(ViewContext &ctx) {
    serial_ = ctx.m.blocks_serial;
    filter_ = ctx.ui.expert_id;
    selection_ = ctx.ui.selection;
    search_text_ = ctx.ui.search;
    search_ = build_search(ctx.snap, ctx.ui.search);
    valid_ = true;
    focus_ = -1;
    stacks_.clear();
    rows_.clear();
    selected_fig_ = Figures{};
    const Aggregate &agg = ctx.m.agg;
    const StackSelection &sel = ctx.ui.selection;
    const uint32_t gb = ctx.expert < 0 ? 0 : agg.group_begin(uint32_t(ctx.expert));
    const uint32_t ge = ctx.expert < 0 ? uint32_t(agg.groups.size()) : agg.group_end(uint32_t(ctx.expert));
    if (search_.active()) {
        // Only the blocks of stacks the search matches, within the selection if there is one.
        std::vector<uint8_t> in_selection;
        if (sel.kind == StackSelection::Kind::Node) {
            const CallTree &tree = ctx.tree(sel.dir);
            const uint32_t node = find_node(tree, sel.path);
            in_selection.assign(ctx.snap.stacks.size(), 0);
            if (node != kNoNode)
                for (uint32_t s = tree.nodes[node].stack_begin; s < tree.nodes[node].stack_end; ++s)
                    in_selection[tree.stacks[s].stack] = 1;
        } else if (sel.kind == StackSelection::Kind::Stack) {
            in_selection.assign(ctx.snap.stacks.size(), 0);
            if (sel.stack < in_selection.size()) in_selection[sel.stack] = 1;
        }
        for (uint32_t g = gb; g < ge; ++g) {
            const KeyGroup &kg = agg.groups[g];
            if (!search_.stack(kg.stack) || (!in_selection.empty() && !in_selection[kg.stack])) continue;
            stacks_.push_back(kg.stack);
            selected_fig_.add(kg.fig);
            rows_.insert(rows_.end(), agg.blocks.begin() + kg.block_begin, agg.blocks.begin() + kg.block_end);
        }
        std::sort(stacks_.begin(), stacks_.end());
        stacks_.erase(std::unique(stacks_.begin(), stacks_.end()), stacks_.end());
    } else if (sel.kind == StackSelection::Kind::Node) {
        const CallTree &tree = ctx.tree(sel.dir);
        const uint32_t node = find_node(tree, sel.path);
        if (node != kNoNode) {
            const TreeNode &n = tree.nodes[node];
            for (uint32_t s = n.stack_begin; s < n.stack_end; ++s) stacks_.push_back(tree.stacks[s].stack);
            selected_fig_ = n.fig;
        }
        rows_ = collect_blocks(ctx.snap, agg, ctx.expert, stacks_);
    } else if (sel.kind == StackSelection::Kind::Stack) {
        stacks_.push_back(sel.stack);
        for (uint32_t g = gb; g < ge; ++g)
            if (agg.groups[g].stack == sel.stack) selected_fig_.add(agg.groups[g].fig);
        rows_ = collect_blocks(ctx.snap, agg, ctx.expert, stacks_);
    } else if (ctx.expert < 0) {
        rows_ = agg.blocks;
        selected_fig_ = agg.total;
    } else {
        // One key's blocks are contiguous in Aggregate::blocks.
        uint32_t lo = UINT32_MAX, hi = 0;
        for (uint32_t g = gb; g < ge; ++g)
            if (agg.groups[g].block_end > agg.groups[g].block_begin) {
                lo = std::min(lo, agg.groups[g].block_begin);
                hi = std::max(hi, agg.groups[g].block_end);
            }
        rows_.assign(lo < hi ? agg.blocks.begin() + lo : agg.blocks.end(), lo < hi ? agg.blocks.begin() + hi : agg.blocks.end());
        selected_fig_ = agg.expert_figures[size_t(ctx.expert)];
    }
    built_filter_ = reach_filter_;
    if (reach_filter_ != AllClasses) {
        const model::Snapshot &snap = ctx.snap;
        rows_.erase(std::remove_if(rows_.begin(), rows_.end(),
                                   [&](const BlockRef &r) {
                                       return !passes(reach_filter_, snap.experts[r.expert].blocks[r.index].reach);
                                   }),
                    rows_.end());
    }
    sort(ctx.snap);
    focus_ = rows_.empty() ? -1 : 0; // the side panel shows the first block's stack at once
}

void BlocksView::sort(const model::Snapshot &snap) {
    // Sort (key, position) pairs rather than calling back into the snapshot per comparison:
    // a million blocks sort in well under 100 ms this way.
    std::vector<std::pair<uint64_t, uint32_t>> keys(rows_.size());
    for (size_t i = 0; i < rows_.size(); ++i) {
        const BlockRef &r = rows_[i];
        const model::Block &b = snap.experts[r.expert].blocks[r.index];
        uint64_t k = 0;
        switch (sort_col_) {
        case Address: k = b.address; break;
        case Size: k = b.size; break;
        case Age: k = UINT64_MAX - b.time_ms; break;
        case Time: k = b.time_ms; break;
        case Key: k = r.expert; break;
        case Reach: k = uint64_t(b.reach); break;
        case Stack: k = b.stack; break;
        }
        keys[i] = {sort_desc_ ? UINT64_MAX - k : k, uint32_t(i)};
    }
    std::sort(keys.begin(), keys.end());
    std::vector<BlockRef> sorted(rows_.size());
    for (size_t i = 0; i < keys.size(); ++i) sorted[i] = rows_[keys[i].second];
    rows_ = std::move(sorted);
}

void BlocksView::draw(ViewContext &ctx) {
    const Theme &th = ctx.theme;
    // Keyed on the blocks, not the model: a live update that brings only new figures keeps the
    // (possibly million-row, sorted) list.
    ui::search_box(&ctx.ui.search, &ctx.ui.focus_search, ImGui::GetFontSize() * 18);
    if (!valid_ || serial_ != ctx.m.blocks_serial || filter_ != ctx.ui.expert_id ||
        !same_selection(selection_, ctx.ui.selection) || search_text_ != ctx.ui.search ||
        built_filter_ != reach_filter_)
        rebuild(ctx);
    const model::Snapshot &snap = ctx.snap;

    // Header: what is listed.
    const StackSelection &sel = ctx.ui.selection;
    if (search_.active()) {
        ImGui::SameLine(0, 16);
        ui::text_colored(rows_.empty() ? th.warning : th.match, "only stacks matching \"%s\"", ctx.ui.search.c_str());
    }
    ImGui::PushFont(th.bold);
    if (sel.kind == StackSelection::Kind::None)
        ImGui::TextUnformatted(ctx.expert < 0 ? "Every outstanding block" : "Outstanding blocks of this key");
    else
        ImGui::Text("Blocks from %s", sel.label.c_str());
    ImGui::PopFont();
    ImGui::SameLine(0, 16);
    ImGui::Text("%s blocks, %s", fmt::count(rows_.size()).c_str(),
                fmt::bytes(selected_fig_.bytes_of(Retention::Outstanding)).c_str());
    if (sel.kind != StackSelection::Kind::None) {
        ImGui::SameLine(0, 16);
        if (ImGui::SmallButton("Clear stack selection (Esc)")) ctx.ui.selection = StackSelection{};
    }
    ImGui::SameLine(0, 16);
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 13.0f);
    if (!snap.process.reach_classified) ImGui::BeginDisabled();
    ImGui::Combo("reachability", &reach_filter_, kFilterNames, NFilters);
    if (!snap.process.reach_classified) {
        ImGui::EndDisabled();
        if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
            ImGui::SetTooltip("This snapshot was taken without the reachability pass");
    }
    ui::blocks_age_note(snap, ctx.m.source.blocks_ms, ctx.m.source.kind == SourceKind::Live);
    const uint64_t gone = selected_fig_.bytes_of(Retention::Leaked) + selected_fig_.bytes_of(Retention::Reclaimed);
    if (gone) {
        ImGui::SameLine(0, 16);
        ui::text_colored(th.dim, "(+ %s leaked, %s reclaimed at close: a cleanup record keeps totals per stack, not blocks)",
                         fmt::bytes(selected_fig_.bytes_of(Retention::Leaked)).c_str(),
                         fmt::bytes(selected_fig_.bytes_of(Retention::Reclaimed)).c_str());
    }

    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float list_w = avail.x * 0.56f;
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter | ImGuiTableFlags_BordersInnerV |
                                  ImGuiTableFlags_Resizable | ImGuiTableFlags_ScrollY | ImGuiTableFlags_Sortable |
                                  ImGuiTableFlags_SizingFixedFit;
    if (ImGui::BeginTable("blocks", NCols, flags, ImVec2(list_w, avail.y))) {
        const float em = ImGui::GetFontSize();
        ImGui::TableSetupScrollFreeze(0, 1);
        ImGui::TableSetupColumn("Address", 0, em * 8.5f, Address);
        ImGui::TableSetupColumn("Size", ImGuiTableColumnFlags_DefaultSort | ImGuiTableColumnFlags_PreferSortDescending, em * 5.0f, Size);
        ImGui::TableSetupColumn("Age", ImGuiTableColumnFlags_PreferSortDescending, em * 4.5f, Age);
        ImGui::TableSetupColumn("Allocated", 0, em * 5.5f, Time);
        ImGui::TableSetupColumn("Key", 0, em * 6.5f, Key);
        ImGui::TableSetupColumn("Reach", 0, em * 5.0f, Reach);
        ImGui::TableSetupColumn("Allocated from", ImGuiTableColumnFlags_WidthStretch, 1.0f, Stack);
        ImGui::TableHeadersRow();
        if (ImGuiTableSortSpecs *specs = ImGui::TableGetSortSpecs(); specs && specs->SpecsDirty) {
            if (specs->SpecsCount > 0) {
                sort_col_ = int(specs->Specs[0].ColumnUserID);
                sort_desc_ = specs->Specs[0].SortDirection == ImGuiSortDirection_Descending;
            }
            sort(snap);
            specs->SpecsDirty = false;
        }
        const uint64_t now = snap.process.snapshot_ms;
        ImGuiListClipper clipper;
        clipper.Begin(int(rows_.size()));
        while (clipper.Step()) {
            for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
                const BlockRef &r = rows_[size_t(i)];
                const model::Block &b = block(snap, size_t(i));
                const model::Expert &e = snap.experts[r.expert];
                ImGui::PushID(i);
                ImGui::TableNextRow();
                ImGui::TableNextColumn();
                ImGui::PushFont(th.mono);
                if (ImGui::Selectable(fmt::address(b.address).c_str(), focus_ == i,
                                      ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap))
                    focus_ = i;
                ImGui::PopFont();
                if (ImGui::IsItemHovered() && ImGui::IsMouseClicked(ImGuiMouseButton_Right))
                    ImGui::SetClipboardText(fmt::address(b.address).c_str());
                ImGui::TableNextColumn();
                ui::text_right(fmt::bytes(b.size));
                ImGui::TableNextColumn();
                ui::text_right(fmt::duration_ms(now >= b.time_ms ? now - b.time_ms : 0), th.dim);
                ImGui::TableNextColumn();
                ui::text_right(fmt::at_ms(b.time_ms), th.dim);
                ImGui::TableNextColumn();
                ui::swatch(th.key_color(e.id));
                ImGui::SameLine(0, 4);
                ImGui::TextUnformatted(e.name.c_str());
                ImGui::TableNextColumn();
                if (b.reach == model::Reach::DefinitelyLost || b.reach == model::Reach::IndirectlyLost)
                    ui::text_colored(th.leaked, "%s", reach_label(b.reach));
                else
                    ui::text_colored(th.dim, "%s", reach_label(b.reach));
                ImGui::TableNextColumn();
                ImGui::TextUnformatted(ui::stack_summary(snap, b.stack, 3).c_str());
                ImGui::PopID();
            }
        }
        ImGui::EndTable();
    }
    ImGui::SameLine();
    ImGui::BeginChild("stack panel", ImVec2(0, avail.y), false);
    uint32_t stack = UINT32_MAX;
    if (focus_ >= 0 && size_t(focus_) < rows_.size()) {
        stack = block(snap, size_t(focus_)).stack;
        const model::Block &b = block(snap, size_t(focus_));
        ui::heading(th, "Block");
        ImGui::SameLine();
        ImGui::PushFont(th.mono);
        ImGui::Text("%s", fmt::address(b.address).c_str());
        ImGui::PopFont();
        ImGui::SameLine();
        ImGui::Text("%s, allocated %s", fmt::bytes(b.size).c_str(), fmt::at_ms(b.time_ms).c_str());
        if (b.reach != model::Reach::Unknown) {
            ImGui::SameLine();
            ImGui::Text("- %s", b.reach == model::Reach::Reachable      ? "still reachable"
                                : b.reach == model::Reach::IndirectlyLost ? "indirectly lost"
                                                                          : "definitely lost");
        }
    } else if (stacks_.size() == 1) {
        stack = stacks_[0];
        ui::heading(th, "Stack");
    } else if (!stacks_.empty()) {
        ui::heading(th, "Stacks");
        ImGui::TextDisabled("%zu stacks selected: click a block to see its stack", stacks_.size());
    } else {
        ui::heading(th, "Stack");
        ImGui::TextDisabled("Click a block to see where it was allocated");
    }
    if (stack != UINT32_MAX) ui::stack_table(th, snap, stack, "block stack", ImGui::GetContentRegionAvail().y);
    ImGui::EndChild();
}

} // namespace

std::unique_ptr<View> make_blocks_view() { return std::make_unique<BlocksView>(); }

} // namespace nm::gui
