// window.cpp - GLFW + OpenGL 3 window, ImGui backends, and the offscreen framebuffer the screenshot mode reads.
#include "window.hpp"

#include "raster.hpp"

#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#include <GL/gl.h>
#include <GL/glext.h>
#include <GLFW/glfw3.h>

#include <stb/stb_image_write.h>

#include <algorithm>
#include <cfloat>
#include <cstdlib>
#include <vector>

namespace nm::gui {
namespace {

std::string g_glfw_error; // the last message GLFW reported

void on_glfw_error(int code, const char *text) {
    g_glfw_error = std::string(text ? text : "unknown error") + " (GLFW error " + std::to_string(code) + ")";
}

// The framebuffer-object entry points are not in GL 1.x headers' exports: load them through GLFW.
struct FboApi {
    PFNGLGENFRAMEBUFFERSPROC GenFramebuffers = nullptr;
    PFNGLBINDFRAMEBUFFERPROC BindFramebuffer = nullptr;
    PFNGLDELETEFRAMEBUFFERSPROC DeleteFramebuffers = nullptr;
    PFNGLGENRENDERBUFFERSPROC GenRenderbuffers = nullptr;
    PFNGLBINDRENDERBUFFERPROC BindRenderbuffer = nullptr;
    PFNGLDELETERENDERBUFFERSPROC DeleteRenderbuffers = nullptr;
    PFNGLRENDERBUFFERSTORAGEPROC RenderbufferStorage = nullptr;
    PFNGLFRAMEBUFFERRENDERBUFFERPROC FramebufferRenderbuffer = nullptr;
    PFNGLCHECKFRAMEBUFFERSTATUSPROC CheckFramebufferStatus = nullptr;
    PFNGLFRAMEBUFFERTEXTURE2DPROC FramebufferTexture2D = nullptr;

    bool load() {
        GenFramebuffers = reinterpret_cast<PFNGLGENFRAMEBUFFERSPROC>(glfwGetProcAddress("glGenFramebuffers"));
        BindFramebuffer = reinterpret_cast<PFNGLBINDFRAMEBUFFERPROC>(glfwGetProcAddress("glBindFramebuffer"));
        DeleteFramebuffers = reinterpret_cast<PFNGLDELETEFRAMEBUFFERSPROC>(glfwGetProcAddress("glDeleteFramebuffers"));
        GenRenderbuffers = reinterpret_cast<PFNGLGENRENDERBUFFERSPROC>(glfwGetProcAddress("glGenRenderbuffers"));
        BindRenderbuffer = reinterpret_cast<PFNGLBINDRENDERBUFFERPROC>(glfwGetProcAddress("glBindRenderbuffer"));
        DeleteRenderbuffers = reinterpret_cast<PFNGLDELETERENDERBUFFERSPROC>(glfwGetProcAddress("glDeleteRenderbuffers"));
        RenderbufferStorage = reinterpret_cast<PFNGLRENDERBUFFERSTORAGEPROC>(glfwGetProcAddress("glRenderbufferStorage"));
        FramebufferRenderbuffer =
            reinterpret_cast<PFNGLFRAMEBUFFERRENDERBUFFERPROC>(glfwGetProcAddress("glFramebufferRenderbuffer"));
        CheckFramebufferStatus =
            reinterpret_cast<PFNGLCHECKFRAMEBUFFERSTATUSPROC>(glfwGetProcAddress("glCheckFramebufferStatus"));
        FramebufferTexture2D = reinterpret_cast<PFNGLFRAMEBUFFERTEXTURE2DPROC>(glfwGetProcAddress("glFramebufferTexture2D"));
        return FramebufferTexture2D && GenFramebuffers && BindFramebuffer && DeleteFramebuffers && GenRenderbuffers && BindRenderbuffer &&
               DeleteRenderbuffers && RenderbufferStorage && FramebufferRenderbuffer && CheckFramebufferStatus;
    }
};
FboApi g_fbo;

// A Raster (raster.hpp) as a texture behind a framebuffer object, drawn by ImGui's own renderer.
class GlRaster final : public Raster {
public:
    ~GlRaster() override {
        if (fbo_) g_fbo.DeleteFramebuffers(1, &fbo_);
        if (tex_) glDeleteTextures(1, &tex_);
    }

    ImTextureID render(const ImDrawList &content, ImVec2 origin, ImVec2 size) override {
        const int w = int(size.x + 0.5f), h = int(size.y + 0.5f);
        if (w <= 0 || h <= 0 || !ensure(w, h)) return nullptr;
        GLint previous = 0;
        glGetIntegerv(GL_FRAMEBUFFER_BINDING, &previous);
        g_fbo.BindFramebuffer(GL_FRAMEBUFFER, fbo_);
        glDisable(GL_SCISSOR_TEST);
        glViewport(0, 0, w, h);
        // Opaque, in the window's clear colour: the texture then looks exactly like direct drawing.
        glClearColor(0.105f, 0.110f, 0.122f, 1.0f);
        glClear(GL_COLOR_BUFFER_BIT);
        ImDrawList *lists[1] = {const_cast<ImDrawList *>(&content)};
        ImDrawData dd;
        dd.Valid = true;
        dd.CmdLists = lists;
        dd.CmdListsCount = 1;
        dd.TotalVtxCount = content.VtxBuffer.Size;
        dd.TotalIdxCount = content.IdxBuffer.Size;
        dd.DisplayPos = origin;
        dd.DisplaySize = ImVec2(float(w), float(h));
        dd.FramebufferScale = ImVec2(1, 1);
        ImGui_ImplOpenGL3_RenderDrawData(&dd);
        g_fbo.BindFramebuffer(GL_FRAMEBUFFER, GLuint(previous));
        return reinterpret_cast<ImTextureID>(intptr_t(tex_));
    }

private:
    bool ensure(int w, int h) {
        if (tex_ && w == w_ && h == h_) return true;
        if (!tex_) glGenTextures(1, &tex_);
        if (!fbo_) g_fbo.GenFramebuffers(1, &fbo_);
        GLint bound = 0;
        glGetIntegerv(GL_TEXTURE_BINDING_2D, &bound);
        glBindTexture(GL_TEXTURE_2D, tex_);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
        glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, w, h, 0, GL_RGBA, GL_UNSIGNED_BYTE, nullptr);
        glBindTexture(GL_TEXTURE_2D, GLuint(bound));
        GLint previous = 0;
        glGetIntegerv(GL_FRAMEBUFFER_BINDING, &previous);
        g_fbo.BindFramebuffer(GL_FRAMEBUFFER, fbo_);
        g_fbo.FramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, tex_, 0);
        const bool ok = g_fbo.CheckFramebufferStatus(GL_FRAMEBUFFER) == GL_FRAMEBUFFER_COMPLETE;
        g_fbo.BindFramebuffer(GL_FRAMEBUFFER, GLuint(previous));
        w_ = w;
        h_ = h;
        return ok;
    }

    GLuint tex_ = 0, fbo_ = 0;
    int w_ = 0, h_ = 0;
};

} // namespace

std::unique_ptr<Window> Window::create(const Options &options, std::string *error) {
    glfwSetErrorCallback(on_glfw_error);
    const char *display = std::getenv("DISPLAY");
    const char *wayland = std::getenv("WAYLAND_DISPLAY");
    if ((!display || !*display) && (!wayland || !*wayland)) {
        *error = "no display: DISPLAY is not set (run under xvfb-run -a for headless use)";
        return nullptr;
    }
    if (!glfwInit()) {
        *error = "cannot open the display " + std::string(display ? display : "") + ": " + g_glfw_error;
        return nullptr;
    }
    std::unique_ptr<Window> w(new Window());
    w->offscreen_ = !options.visible;
    glfwWindowHint(GLFW_VISIBLE, options.visible ? GLFW_TRUE : GLFW_FALSE);
    // OpenGL 3.2 core first (GLSL 150); drivers without it get a plain 3.0 context (GLSL 130).
    const char *glsl = "#version 150";
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 2);
    glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
    glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
    w->window_ = glfwCreateWindow(options.width, options.height, options.title.c_str(), nullptr, nullptr);
    if (!w->window_) {
        glfwDefaultWindowHints();
        glfwWindowHint(GLFW_VISIBLE, options.visible ? GLFW_TRUE : GLFW_FALSE);
        glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
        glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
        glsl = "#version 130";
        w->window_ = glfwCreateWindow(options.width, options.height, options.title.c_str(), nullptr, nullptr);
    }
    if (!w->window_) {
        *error = "cannot create an OpenGL 3 window: " + g_glfw_error;
        return nullptr;
    }
    glfwMakeContextCurrent(w->window_);
    glfwSwapInterval(options.visible ? 1 : 0);
    glfwGetFramebufferSize(w->window_, &w->fb_w_, &w->fb_h_);
    if (w->offscreen_) {
        w->fb_w_ = options.width;
        w->fb_h_ = options.height;
        if (!w->create_offscreen(error)) return nullptr;
    }
    if (!w->offscreen_ && !g_fbo.load()) {
        *error = "the OpenGL driver has no framebuffer objects";
        return nullptr;
    }
    set_raster_factory([] { return std::unique_ptr<Raster>(new GlRaster()); });
    w->imgui_glfw_ = ImGui_ImplGlfw_InitForOpenGL(w->window_, true);
    w->imgui_gl_ = w->imgui_glfw_ && ImGui_ImplOpenGL3_Init(glsl);
    if (!w->imgui_gl_) {
        *error = "cannot initialize ImGui's OpenGL 3 renderer";
        return nullptr;
    }
    return w;
}

bool Window::create_offscreen(std::string *error) {
    if (!g_fbo.load()) {
        *error = "the OpenGL driver has no framebuffer objects";
        return false;
    }
    g_fbo.GenFramebuffers(1, &fbo_);
    g_fbo.GenRenderbuffers(1, &color_rb_);
    g_fbo.BindRenderbuffer(GL_RENDERBUFFER, color_rb_);
    g_fbo.RenderbufferStorage(GL_RENDERBUFFER, GL_RGBA8, fb_w_, fb_h_);
    g_fbo.BindFramebuffer(GL_FRAMEBUFFER, fbo_);
    g_fbo.FramebufferRenderbuffer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_RENDERBUFFER, color_rb_);
    if (g_fbo.CheckFramebufferStatus(GL_FRAMEBUFFER) != GL_FRAMEBUFFER_COMPLETE) {
        *error = "cannot create an offscreen framebuffer";
        return false;
    }
    return true;
}

Window::~Window() {
    set_raster_factory(nullptr);
    if (imgui_gl_) ImGui_ImplOpenGL3_Shutdown();
    if (imgui_glfw_) ImGui_ImplGlfw_Shutdown();
    if (fbo_) g_fbo.DeleteFramebuffers(1, &fbo_);
    if (color_rb_) g_fbo.DeleteRenderbuffers(1, &color_rb_);
    if (window_) glfwDestroyWindow(window_);
    glfwTerminate();
}

bool Window::should_close() const { return glfwWindowShouldClose(window_); }

void Window::wait_events(double timeout_s) {
    if (timeout_s <= 0) glfwPollEvents();
    else glfwWaitEventsTimeout(timeout_s);
}

void Window::wake() { glfwPostEmptyEvent(); }

void Window::new_frame() {
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    if (offscreen_) {
        // A hidden window has no input: the mouse is off-screen (nothing hovered) unless scripted.
        ImGuiIO &io = ImGui::GetIO();
        io.DisplaySize = ImVec2(float(fb_w_), float(fb_h_));
        io.DisplayFramebufferScale = ImVec2(1, 1);
        io.MousePos = mouse_present_ ? ImVec2(mouse_x_, mouse_y_) : ImVec2(-FLT_MAX, -FLT_MAX);
        io.MouseDown[0] = mouse_present_ && mouse_down_;
    }
    ImGui::NewFrame();
}

void Window::render() {
    ImGui::Render();
    if (offscreen_) {
        g_fbo.BindFramebuffer(GL_FRAMEBUFFER, fbo_);
    } else {
        glfwGetFramebufferSize(window_, &fb_w_, &fb_h_);
    }
    glViewport(0, 0, fb_w_, fb_h_);
    glClearColor(0.105f, 0.110f, 0.122f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    if (offscreen_) glFinish();
    else glfwSwapBuffers(window_);
}

bool Window::write_png(const std::string &path, std::string *error) {
    std::vector<unsigned char> pixels(size_t(fb_w_) * size_t(fb_h_) * 4);
    if (offscreen_) g_fbo.BindFramebuffer(GL_FRAMEBUFFER, fbo_);
    else glReadBuffer(GL_FRONT);
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadPixels(0, 0, fb_w_, fb_h_, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
    if (glGetError() != GL_NO_ERROR) {
        *error = "glReadPixels failed";
        return false;
    }
    // OpenGL's rows go bottom-up; PNG's top-down. The alpha channel is forced opaque.
    std::vector<unsigned char> flipped(pixels.size());
    const size_t row = size_t(fb_w_) * 4;
    for (int y = 0; y < fb_h_; ++y) {
        std::copy_n(pixels.data() + size_t(fb_h_ - 1 - y) * row, row, flipped.data() + size_t(y) * row);
        for (size_t x = 3; x < row; x += 4) flipped[size_t(y) * row + x] = 255;
    }
    if (!stbi_write_png(path.c_str(), fb_w_, fb_h_, 4, flipped.data(), int(row))) {
        *error = "cannot write " + path;
        return false;
    }
    return true;
}

} // namespace nm::gui
