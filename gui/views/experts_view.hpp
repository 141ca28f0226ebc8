// experts_view.hpp - the experts (keys) table at the top of the window: per-key figures, sortable; a
// click filters every other view to that key. A kind filter (expert keys, module keys) above it.
#pragma once

#include "view.hpp"

#include <vector>

namespace nm::gui {

class ExpertsTable {
public:
    // Draws the table in the remaining region of the given height.
    void draw(ViewContext &ctx, float height);

private:
    void sort_rows(const model::Snapshot &snap, ImGuiTableSortSpecs *specs, int kind);
    void kind_filter(ViewContext &ctx);

    std::vector<uint32_t> order_; // expert indices in display order
    uint64_t generation_ = 0;
    const void *source_ = nullptr;
    bool dirty_ = true;
    int sort_column_ = -1;
    bool sort_descending_ = false;
    int kind_shown_ = -1; // the kind filter order_ was built for
};

} // namespace nm::gui
