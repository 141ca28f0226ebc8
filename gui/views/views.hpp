// views.hpp - the factories of the tabbed views (one file each in gui/views/).
#pragma once

#include "view.hpp"

#include <memory>

namespace nm::gui {

std::unique_ptr<View> make_overview_view();  // "experts": the selected key's record and biggest stacks
std::unique_ptr<View> make_timeline_view();  // outstanding bytes per key over time, cleanup markers
std::unique_ptr<View> make_tree_view(TreeDirection dir); // bottom-up / top-down call trees
std::unique_ptr<View> make_flame_view();     // flame / icicle graph with zoom and search
std::unique_ptr<View> make_blocks_view();    // the live blocks of the selected stack
std::unique_ptr<View> make_treemap_view();   // memory by key and stack
std::unique_ptr<View> make_cleanups_view();  // cleanup log
std::unique_ptr<View> make_misuse_view();    // misuse log
std::unique_ptr<View> make_events_view();    // events experts submitted
std::unique_ptr<View> make_diff_view();      // two snapshots compared
std::unique_ptr<View> make_process_view();   // processes to attach to

} // namespace nm::gui
