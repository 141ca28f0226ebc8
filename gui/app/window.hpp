// window.hpp - the GLFW window with its OpenGL 3 context and ImGui backends, and offscreen capture to PNG.
#pragma once

#include <memory>
#include <string>

struct GLFWwindow;

namespace nm::gui {

class Window {
public:
    struct Options {
        int width = 1600;
        int height = 1000;
        bool visible = true;   // false: a hidden window rendering into an offscreen framebuffer
        std::string title = "nmleak";
    };

    // Initializes GLFW, the GL context and ImGui's GLFW/OpenGL3 backends (the ImGui context must
    // exist). Null with a one-line *error when there is no display or no usable OpenGL.
    static std::unique_ptr<Window> create(const Options &options, std::string *error);
    ~Window();
    Window(const Window &) = delete;
    Window &operator=(const Window &) = delete;

    bool should_close() const;
    // Waits for input (or a wake-up from another thread) at most timeout_s; 0 polls.
    void wait_events(double timeout_s);
    static void wake(); // from any thread: glfwPostEmptyEvent
    void new_frame();   // backends' NewFrame + ImGui::NewFrame
    void render();      // ImGui::Render, draw, swap (or finish, offscreen)
    // Reads the last rendered frame and writes it as PNG. False with *error.
    bool write_png(const std::string &path, std::string *error);
    // Offscreen only: the mouse as a script wants it (position, left button), since a hidden
    // window gets no input. Without a position the mouse is off-screen.
    void set_scripted_mouse(bool present, float x, float y, bool left_down) {
        mouse_present_ = present;
        mouse_x_ = x;
        mouse_y_ = y;
        mouse_down_ = left_down;
    }
    int width() const { return fb_w_; }
    int height() const { return fb_h_; }
    GLFWwindow *handle() const { return window_; }

private:
    Window() = default;
    bool create_offscreen(std::string *error);

    GLFWwindow *window_ = nullptr;
    bool offscreen_ = false;
    unsigned fbo_ = 0, color_rb_ = 0;
    int fb_w_ = 0, fb_h_ = 0;
    bool imgui_glfw_ = false, imgui_gl_ = false;
    bool mouse_present_ = false, mouse_down_ = false;
    float mouse_x_ = 0, mouse_y_ = 0;
};

} // namespace nm::gui
