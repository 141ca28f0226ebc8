// raster.hpp - draw lists rendered once into a texture and shown as an image afterwards.
//
// Why: Mesa's software rasterizer (the GUI under Xvfb) pays per triangle, and a treemap of 10k
// stacks is 40k vertices a frame for a picture that changes only with the model or the window
// size. A view builds the picture into an ImDrawList when it changes, the Raster renders it into
// a texture, and each frame draws one quad. The renderer (app/window.cpp) registers the factory;
// without one, make_raster() returns null and views draw directly.
#pragma once

#include <imgui.h>

#include <functional>
#include <memory>

namespace nm::gui {

class Raster {
public:
    virtual ~Raster() = default;
    // Renders `content` (screen coordinates, inside origin..origin+size) into this raster's
    // texture, replacing what was there. Returns the texture, or null on failure.
    virtual ImTextureID render(const ImDrawList &content, ImVec2 origin, ImVec2 size) = 0;
};

void set_raster_factory(std::function<std::unique_ptr<Raster>()> factory);
std::unique_ptr<Raster> make_raster();

// Draws a raster texture over origin..origin+size (the texture's rows are bottom-up, as OpenGL
// renders them, hence the flipped v).
inline void draw_raster(ImDrawList *dl, ImTextureID tex, ImVec2 origin, ImVec2 size) {
    dl->AddImage(tex, origin, ImVec2(origin.x + size.x, origin.y + size.y), ImVec2(0, 1), ImVec2(1, 0));
}

} // namespace nm::gui
