// view.hpp - what every view draws from: the published model, the shared UI state and the session.
//
// A view reads a ModelData (immutable), changes only UiState (selection, tab, dialogs) and asks
// the Session for work; it never touches a file or a socket itself. Per-frame work is bounded by
// what is on screen: long lists go through ImGuiListClipper, trees expand lazily, and anything
// derived from the model (sorted orders, layouts) is cached per model generation.
#pragma once

#include "call_tree.hpp"
#include "model_data.hpp"
#include "processes.hpp"
#include "session.hpp"
#include "theme.hpp"

#include <nmleak/model.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nm::gui {

enum class Tab : int { Overview, Timeline, BottomUp, TopDown, Flame, Blocks, Treemap, Cleanups, Misuse, Events, Diff, Processes, Count };
const char *tab_title(Tab t); // as shown on the tab
const char *tab_name(Tab t);  // as given to --view: "experts", "timeline", "bottom-up", ...
std::optional<Tab> parse_tab(const std::string &name);

// A stack selection: a node of a call tree (as a path of locations, so it survives model
// updates) or one exact stack (from the treemap, the cleanup log or the misuse log).
struct StackSelection {
    enum class Kind : uint8_t { None, Node, Stack } kind = Kind::None;
    TreeDirection dir = TreeDirection::BottomUp;
    std::vector<uint32_t> path; // Node
    uint32_t stack = 0;         // Stack
    std::string label;          // for the blocks view's header
};

enum class Dialog : uint8_t { None, Open, Save, Export, Compare, Attach, Terminate };

struct UiState {
    std::optional<uint64_t> expert_id; // the key every view is filtered to; none: every key
    StackSelection selection;
    Tab tab = Tab::Overview;
    bool tab_forced = true; // the tab bar selects `tab` on the next frame
    Dialog dialog = Dialog::None;
    bool dialog_fresh = false; // opened this frame: focus its input
    bool show_help = false;
    bool show_stats = false;
    std::string path, path2; // dialog inputs
    int export_format = 0;
    uint64_t terminate_id = 0;
    std::string terminate_name;
    uint64_t timeline_hover_ms = 0;
    // The search the flame graph highlights and the call trees and block list filter by
    // (search.hpp): one query for all three, so it follows the user from view to view.
    std::string search;
    bool focus_search = false; // Ctrl+F: the next search box drawn takes the keyboard
    int flame_measure = -1;    // FlameMeasure asked for on the command line; -1: by the data
    int key_kind = -1;         // the experts table shows keys of this model::KeyKind; -1: every kind

    void select_tab(Tab t) {
        tab = t;
        tab_forced = true;
    }
    void select_expert(std::optional<uint64_t> id) {
        if (id != expert_id) selection = StackSelection{};
        expert_id = id;
    }
    void open_dialog(Dialog d) {
        dialog = d;
        dialog_fresh = true;
    }
};

struct ViewContext {
    const ModelData &m;
    const model::Snapshot &snap;
    UiState &ui;
    Session &session;
    ProcessScanner &procs;
    const Theme &theme;
    int expert = -1; // index of ui.expert_id in snap.experts, -1 for every key

    const CallTree &tree(TreeDirection d) const { return m.trees.get(d, expert); }
    const model::Expert *filtered() const { return expert >= 0 ? &snap.experts[size_t(expert)] : nullptr; }
};

class View {
public:
    virtual ~View() = default;
    virtual Tab tab() const = 0;
    virtual void draw(ViewContext &ctx) = 0;
};

} // namespace nm::gui
