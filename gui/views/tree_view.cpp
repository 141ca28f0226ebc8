// tree_view.cpp - the bottom-up and top-down call trees of retained memory, flattened to visible rows
// so even a 10k-stack tree draws only the rows on screen (ImGuiListClipper).
#include "views.hpp"

#include "format.hpp"
#include "search.hpp"
#include "widgets.hpp"

#include <algorithm>
#include <set>

namespace nm::gui {
namespace {

struct Row {
    uint32_t node;
    uint32_t depth;
};

class TreeView final : public View {
public:
    explicit TreeView(TreeDirection dir) : dir_(dir) {}
    Tab tab() const override { return dir_ == TreeDirection::BottomUp ? Tab::BottomUp : Tab::TopDown; }
    void draw(ViewContext &ctx) override;

private:
    // The tree shown: the model's, or with a search the tree of the matching stacks only.
    const CallTree &shown_tree(ViewContext &ctx);
    void sync(ViewContext &ctx, const CallTree &tree);
    void rebuild_rows(const CallTree &tree);
    void expand_hot_path(const CallTree &tree, int levels);
    void toggle(uint32_t node);
    void select(ViewContext &ctx, const CallTree &tree, uint32_t node);

    TreeDirection dir_;
    uint64_t serial_ = 0;                  // the model the rows were built for
    std::optional<uint64_t> filter_;       // and its key filter
    std::string source_;
    std::string search_text_;
    SearchIndex search_;
    uint64_t search_serial_ = 0;
    std::optional<uint64_t> search_filter_;
    CallTree searched_;
    std::set<uint32_t> expanded_;
    std::vector<std::vector<uint32_t>> expanded_paths_; // carried across model updates
    std::vector<Row> rows_;
    bool rows_dirty_ = true;
    uint32_t selected_ = kNoNode;
    bool scroll_to_selected_ = false;
};

void TreeView::toggle(uint32_t node) {
    if (!expanded_.erase(node)) expanded_.insert(node);
    rows_dirty_ = true;
}

void TreeView::expand_hot_path(const CallTree &tree, int levels) {
    uint32_t node = 0;
    expanded_.insert(0);
    for (int i = 0; i < levels; ++i) {
        const TreeNode &n = tree.nodes[node];
        if (n.child_count == 0) break;
        node = tree.child(n, 0);
        // Keep going only while one child dominates: a fan-out is where the reader decides.
        expanded_.insert(node);
    }
    rows_dirty_ = true;
}

const CallTree &TreeView::shown_tree(ViewContext &ctx) {
    if (ctx.ui.search.empty()) return ctx.tree(dir_);
    if (search_serial_ != ctx.m.serial || search_.text != ctx.ui.search || search_filter_ != ctx.ui.expert_id) {
        search_ = build_search(ctx.snap, ctx.ui.search);
        search_serial_ = ctx.m.serial;
        search_filter_ = ctx.ui.expert_id;
        searched_ = search_.active() ? build_call_tree(ctx.snap, ctx.m.agg, ctx.expert, dir_, &search_.stacks) : CallTree{};
    }
    return search_.active() ? searched_ : ctx.tree(dir_);
}

void TreeView::sync(ViewContext &ctx, const CallTree &tree) {
    if (ctx.m.serial == serial_ && ctx.ui.expert_id == filter_ && ctx.ui.search == search_text_) return;
    // A model update keeps the expanded nodes (by path); another filter, search or source starts afresh.
    const bool same_view = serial_ != 0 && ctx.ui.expert_id == filter_ && ctx.ui.search == search_text_ &&
                           ctx.m.source.label() == source_;
    serial_ = ctx.m.serial;
    filter_ = ctx.ui.expert_id;
    search_text_ = ctx.ui.search;
    source_ = ctx.m.source.label();
    expanded_.clear();
    if (same_view) {
        for (const auto &p : expanded_paths_)
            if (uint32_t n = find_node(tree, p); n != kNoNode) expanded_.insert(n);
    } else if (!tree.empty()) {
        expand_hot_path(tree, 10);
    }
    expanded_.insert(0);
    selected_ = kNoNode;
    if (ctx.ui.selection.kind == StackSelection::Kind::Node && ctx.ui.selection.dir == dir_)
        selected_ = find_node(tree, ctx.ui.selection.path);
    rows_dirty_ = true;
}

void TreeView::rebuild_rows(const CallTree &tree) {
    rows_.clear();
    if (tree.empty()) return;
    // Depth-first over expanded nodes, children in their stored (biggest first) order.
    std::vector<Row> stack;
    const TreeNode &root = tree.root();
    for (uint32_t i = root.child_count; i-- > 0;) stack.push_back({tree.child(root, i), 0});
    while (!stack.empty()) {
        const Row r = stack.back();
        stack.pop_back();
        rows_.push_back(r);
        const TreeNode &n = tree.nodes[r.node];
        if (n.child_count && expanded_.count(r.node))
            for (uint32_t i = n.child_count; i-- > 0;) stack.push_back({tree.child(n, i), r.depth + 1});
    }
    rows_dirty_ = false;
    // Remember the expansion by path: the next model update has other node ids.
    expanded_paths_.clear();
    for (uint32_t n : expanded_)
        if (n != 0 && n < tree.nodes.size()) expanded_paths_.push_back(node_path(tree, n));
}

void TreeView::select(ViewContext &ctx, const CallTree &tree, uint32_t node) {
    selected_ = node;
    StackSelection s;
    s.kind = StackSelection::Kind::Node;
    s.dir = dir_;
    s.path = node_path(tree, node);
    const TreeNode &n = tree.nodes[node];
    s.label = n.frame < ctx.snap.frames.size() ? fmt::short_function(fmt::frame_function(ctx.snap.frames[n.frame]), 60)
                                               : "<no stack>";
    s.label += std::string(dir_ == TreeDirection::BottomUp ? " (bottom-up, " : " (top-down, ") +
               std::to_string(n.stack_end - n.stack_begin) + " stacks)";
    ctx.ui.selection = std::move(s);
}

void TreeView::draw(ViewContext &ctx) {
    const Theme &th = ctx.theme;
    ui::search_box(&ctx.ui.search, &ctx.ui.focus_search, ImGui::GetFontSize() * 18);
    const CallTree &tree = shown_tree(ctx);
    const bool searching = search_.active() && !ctx.ui.search.empty();
    sync(ctx, tree);
    if (searching) {
        ImGui::SameLine(0, 16);
        ui::text_colored(search_.stacks_matched ? th.match : th.warning, "%s of %s stacks match",
                         fmt::count(tree.stacks.size()).c_str(), fmt::count(ctx.tree(dir_).stacks.size()).c_str());
    }
    if (tree.empty()) {
        if (searching)
            ui::empty_state("No stack matches the search", "Search by function, source file or module; clear it to see every stack");
        else
            ui::empty_state("No retained memory", "Stacks appear here once a key holds, leaks or has reclaimed memory");
        return;
    }
    if (rows_dirty_) rebuild_rows(tree);

    const Figures &total = tree.root().fig;
    ImGui::TextDisabled("%s", dir_ == TreeDirection::BottomUp ? "Allocation sites first; expand to see who called them."
                                                               : "Entry points first; expand down to the allocation sites.");
    ImGui::SameLine(0, 20);
    ImGui::Text("%s stacks, %s outstanding, %s leaked, %s reclaimed", fmt::count(tree.stacks.size()).c_str(),
                fmt::bytes(total.bytes_of(Retention::Outstanding)).c_str(), fmt::bytes(total.bytes_of(Retention::Leaked)).c_str(),
                fmt::bytes(total.bytes_of(Retention::Reclaimed)).c_str());
    ImGui::SameLine(0, 20);
    if (ImGui::SmallButton("Expand hot path")) expand_hot_path(tree, 12);
    ImGui::SameLine();
    if (ImGui::SmallButton("Collapse all")) {
        expanded_.clear();
        expanded_.insert(0);
        rows_dirty_ = true;
    }
    ui::blocks_age_note(ctx.snap, ctx.m.source.blocks_ms, ctx.m.source.kind == SourceKind::Live);
    if (rows_dirty_) rebuild_rows(tree);

    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter | ImGuiTableFlags_BordersInnerV |
                                  ImGuiTableFlags_Resizable | ImGuiTableFlags_ScrollY | ImGuiTableFlags_Hideable |
                                  ImGuiTableFlags_SizingFixedFit;
    if (!ImGui::BeginTable("tree", 8, flags, ImGui::GetContentRegionAvail())) return;
    const float em = ImGui::GetFontSize();
    ImGui::TableSetupScrollFreeze(1, 1);
    ImGui::TableSetupColumn("Function", ImGuiTableColumnFlags_WidthStretch | ImGuiTableColumnFlags_NoHide, 3.0f);
    ImGui::TableSetupColumn("Location", ImGuiTableColumnFlags_WidthStretch, 1.0f);
    ImGui::TableSetupColumn("Module", ImGuiTableColumnFlags_WidthFixed, em * 10.0f);
    ImGui::TableSetupColumn("Share", ImGuiTableColumnFlags_WidthFixed, em * 6.0f);
    ImGui::TableSetupColumn("Outstanding", ImGuiTableColumnFlags_WidthFixed, em * 5.6f);
    ImGui::TableSetupColumn("Leaked", ImGuiTableColumnFlags_WidthFixed, em * 5.2f);
    ImGui::TableSetupColumn("Reclaimed", ImGuiTableColumnFlags_WidthFixed, em * 5.2f);
    ImGui::TableSetupColumn("Blocks", ImGuiTableColumnFlags_WidthFixed, em * 5.0f);
    ImGui::TableHeadersRow();

    // Keyboard: up/down move, right/left expand/collapse, enter shows the blocks.
    int selected_row = -1;
    for (size_t i = 0; i < rows_.size(); ++i)
        if (rows_[i].node == selected_) selected_row = int(i);
    if (ImGui::IsWindowFocused(ImGuiFocusedFlags_ChildWindows) && !ImGui::GetIO().WantTextInput && selected_row >= 0) {
        const uint32_t node = selected_;
        if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_DownArrow)) && selected_row + 1 < int(rows_.size())) {
            select(ctx, tree, rows_[size_t(selected_row + 1)].node);
            scroll_to_selected_ = true;
        } else if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_UpArrow)) && selected_row > 0) {
            select(ctx, tree, rows_[size_t(selected_row - 1)].node);
            scroll_to_selected_ = true;
        } else if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_RightArrow)) && !expanded_.count(node)) {
            toggle(node);
        } else if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_LeftArrow)) && expanded_.count(node)) {
            toggle(node);
        } else if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Enter))) {
            ctx.ui.select_tab(Tab::Blocks);
        }
    }

    const float row_h = ImGui::GetTextLineHeightWithSpacing();
    if (scroll_to_selected_) {
        for (size_t i = 0; i < rows_.size(); ++i)
            if (rows_[i].node == selected_) {
                const float y = float(i) * row_h;
                if (y < ImGui::GetScrollY() + row_h || y > ImGui::GetScrollY() + ImGui::GetWindowHeight() - 3 * row_h)
                    ImGui::SetScrollY(y - ImGui::GetWindowHeight() * 0.4f);
            }
        scroll_to_selected_ = false;
    }

    const double total_bytes = double(std::max<uint64_t>(1, total.total_bytes()));
    uint32_t toggle_node = kNoNode;
    ImGuiListClipper clipper;
    clipper.Begin(int(rows_.size()), row_h);
    while (clipper.Step()) {
        for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
            const Row &r = rows_[size_t(i)];
            const TreeNode &n = tree.nodes[r.node];
            ImGui::PushID(int(r.node));
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            const ImVec2 row_start = ImGui::GetCursorScreenPos();
            const float indent = float(r.depth) * ImGui::GetStyle().IndentSpacing;
            const bool is_sel = r.node == selected_;
            if (ImGui::Selectable("##row", is_sel, ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap |
                                                       ImGuiSelectableFlags_AllowDoubleClick)) {
                select(ctx, tree, r.node);
                if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) {
                    if (n.child_count) toggle_node = r.node;
                }
            }
            if (ImGui::BeginPopupContextItem("node menu")) {
                select(ctx, tree, r.node);
                if (ImGui::MenuItem("Show blocks", "Enter")) ctx.ui.select_tab(Tab::Blocks);
                if (ImGui::MenuItem("Expand hot path below")) {
                    uint32_t c = r.node;
                    for (int k = 0; k < 16; ++k) {
                        expanded_.insert(c);
                        if (!tree.nodes[c].child_count) break;
                        c = tree.child(tree.nodes[c], 0);
                    }
                    rows_dirty_ = true;
                }
                if (n.frame < ctx.snap.frames.size() && ImGui::MenuItem("Copy function name"))
                    ImGui::SetClipboardText(ctx.snap.frames[n.frame].function.c_str());
                ImGui::EndPopup();
            }
            ImGui::SameLine(indent);
            if (n.child_count) {
                const ImVec2 p = ImGui::GetCursorScreenPos();
                const float h = ImGui::GetTextLineHeight(), s = h * 0.30f;
                const ImVec2 c(p.x + h * 0.5f, p.y + h * 0.5f);
                ImDrawList *dl = ImGui::GetWindowDrawList();
                const ImU32 col = ImGui::GetColorU32(ImGuiCol_Text, 0.75f);
                if (expanded_.count(r.node))
                    dl->AddTriangleFilled(ImVec2(c.x - s, c.y - s * 0.6f), ImVec2(c.x + s, c.y - s * 0.6f), ImVec2(c.x, c.y + s * 0.8f), col);
                else
                    dl->AddTriangleFilled(ImVec2(c.x - s * 0.6f, c.y - s), ImVec2(c.x - s * 0.6f, c.y + s), ImVec2(c.x + s * 0.8f, c.y), col);
                if (ImGui::InvisibleButton("toggle", ImVec2(h, h))) toggle_node = r.node;
                ImGui::SameLine(0, 2);
            } else {
                ImGui::Dummy(ImVec2(ImGui::GetTextLineHeight(), ImGui::GetTextLineHeight()));
                ImGui::SameLine(0, 2);
            }
            if (searching && search_.frame(n.frame)) {
                // A matching frame: a mark at the row's left edge.
                ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(row_start.x - 3, row_start.y),
                                                          ImVec2(row_start.x + 1, row_start.y + ImGui::GetTextLineHeight()), th.match);
            }
            ui::frame_cells(th, ctx.snap, n.frame, n.mixed_lines);
            ImGui::TableNextColumn();
            char share[24];
            std::snprintf(share, sizeof share, "%.1f%%", 100.0 * double(n.fig.total_bytes()) / total_bytes);
            ui::bar_cell(double(n.fig.total_bytes()) / total_bytes, th.accent, share);
            ImGui::TableNextColumn();
            ui::bytes_cell(n.fig.bytes_of(Retention::Outstanding), th.outstanding);
            ImGui::TableNextColumn();
            ui::bytes_cell(n.fig.bytes_of(Retention::Leaked), th.leaked);
            ImGui::TableNextColumn();
            ui::bytes_cell(n.fig.bytes_of(Retention::Reclaimed), th.reclaimed);
            ImGui::TableNextColumn();
            ui::count_cell(n.fig.total_blocks());
            ImGui::PopID();
        }
    }
    ImGui::EndTable();
    if (toggle_node != kNoNode) toggle(toggle_node);
}

} // namespace

std::unique_ptr<View> make_tree_view(TreeDirection dir) { return std::make_unique<TreeView>(dir); }

} // namespace nm::gui
