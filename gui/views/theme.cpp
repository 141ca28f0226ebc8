// theme.cpp - fonts, style and semantic colours (theme.hpp).
#include "theme.hpp"

#include "widgets.hpp"

#include <sys/stat.h>

#include <cmath>

namespace nm::gui {
namespace {

bool file_exists(const char *path) {
    struct stat st{};
    return stat(path, &st) == 0;
}

const char *find_font(const char *const *candidates) {
    for (const char *const *p = candidates; *p; ++p)
        if (file_exists(*p)) return *p;
    return nullptr;
}

// A colour from hue/saturation/value, as ImGui expects.
ImU32 hsv(float h, float s, float v, float a = 1.0f) {
    float r, g, b;
    ImGui::ColorConvertHSVtoRGB(h, s, v, r, g, b);
    return ImGui::ColorConvertFloat4ToU32(ImVec4(r, g, b, a));
}

void set_style() {
    ImGuiStyle &st = ImGui::GetStyle();
    ImGui::StyleColorsDark(&st);
    st.WindowPadding = ImVec2(8, 6);
    st.FramePadding = ImVec2(6, 3);
    st.CellPadding = ImVec2(6, 2);
    st.ItemSpacing = ImVec2(8, 4);
    st.ItemInnerSpacing = ImVec2(5, 4);
    st.IndentSpacing = 14;
    st.ScrollbarSize = 13;
    st.GrabMinSize = 10;
    st.WindowBorderSize = 0;
    st.ChildBorderSize = 1;
    st.PopupBorderSize = 1;
    st.FrameBorderSize = 0;
    st.TabBorderSize = 0;
    st.WindowRounding = 0;
    st.ChildRounding = 2;
    st.FrameRounding = 3;
    st.PopupRounding = 3;
    st.ScrollbarRounding = 3;
    st.GrabRounding = 3;
    st.TabRounding = 3;

    ImVec4 *c = st.Colors;
    const ImVec4 bg(0.105f, 0.110f, 0.122f, 1.0f);
    const ImVec4 panel(0.135f, 0.142f, 0.157f, 1.0f);
    const ImVec4 raised(0.180f, 0.188f, 0.208f, 1.0f);
    const ImVec4 hover(0.235f, 0.250f, 0.282f, 1.0f);
    const ImVec4 accent(0.259f, 0.522f, 0.957f, 1.0f);
    c[ImGuiCol_Text] = ImVec4(0.87f, 0.88f, 0.90f, 1.0f);
    c[ImGuiCol_TextDisabled] = ImVec4(0.50f, 0.52f, 0.56f, 1.0f);
    // Window and child backgrounds are left to glClear (same colour): with a software rasterizer
    // (Mesa llvmpipe under Xvfb) every full-window quad costs milliseconds of fill.
    (void)bg;
    c[ImGuiCol_WindowBg] = ImVec4(0, 0, 0, 0);
    c[ImGuiCol_ChildBg] = ImVec4(0, 0, 0, 0);
    c[ImGuiCol_PopupBg] = ImVec4(0.12f, 0.125f, 0.14f, 0.98f);
    c[ImGuiCol_Border] = ImVec4(0.22f, 0.23f, 0.26f, 1.0f);
    c[ImGuiCol_FrameBg] = raised;
    c[ImGuiCol_FrameBgHovered] = hover;
    c[ImGuiCol_FrameBgActive] = ImVec4(0.27f, 0.29f, 0.33f, 1.0f);
    c[ImGuiCol_TitleBg] = panel;
    c[ImGuiCol_TitleBgActive] = panel;
    c[ImGuiCol_MenuBarBg] = panel;
    c[ImGuiCol_ScrollbarBg] = bg;
    c[ImGuiCol_ScrollbarGrab] = raised;
    c[ImGuiCol_ScrollbarGrabHovered] = hover;
    c[ImGuiCol_CheckMark] = accent;
    c[ImGuiCol_SliderGrab] = accent;
    c[ImGuiCol_Button] = raised;
    c[ImGuiCol_ButtonHovered] = hover;
    c[ImGuiCol_ButtonActive] = ImVec4(0.20f, 0.40f, 0.75f, 1.0f);
    c[ImGuiCol_Header] = ImVec4(0.20f, 0.36f, 0.62f, 0.55f);
    c[ImGuiCol_HeaderHovered] = ImVec4(0.24f, 0.40f, 0.68f, 0.45f);
    c[ImGuiCol_HeaderActive] = ImVec4(0.24f, 0.44f, 0.75f, 0.70f);
    c[ImGuiCol_Separator] = ImVec4(0.22f, 0.23f, 0.26f, 1.0f);
    c[ImGuiCol_SeparatorHovered] = accent;
    c[ImGuiCol_Tab] = panel;
    c[ImGuiCol_TabHovered] = hover;
    c[ImGuiCol_TabActive] = ImVec4(0.20f, 0.30f, 0.47f, 1.0f);
    c[ImGuiCol_TabUnfocused] = panel;
    c[ImGuiCol_TabUnfocusedActive] = ImVec4(0.20f, 0.30f, 0.47f, 1.0f);
    c[ImGuiCol_TableHeaderBg] = panel;
    c[ImGuiCol_TableBorderStrong] = ImVec4(0.24f, 0.25f, 0.28f, 1.0f);
    c[ImGuiCol_TableBorderLight] = ImVec4(0.18f, 0.19f, 0.21f, 1.0f);
    c[ImGuiCol_TableRowBg] = ImVec4(0, 0, 0, 0);
    c[ImGuiCol_TableRowBgAlt] = ImVec4(1, 1, 1, 0.025f);
    c[ImGuiCol_TextSelectedBg] = ImVec4(0.26f, 0.52f, 0.96f, 0.35f);
    c[ImGuiCol_NavHighlight] = accent;
    c[ImGuiCol_ModalWindowDimBg] = ImVec4(0, 0, 0, 0.45f);
}

} // namespace

ImVec4 to_vec4(ImU32 c) { return ImGui::ColorConvertU32ToFloat4(c); }

ImU32 Theme::key_color(uint64_t expert_id, float alpha) const {
    // Golden-ratio hue steps give neighbours (consecutive ids) far-apart hues.
    const float h = std::fmod(0.58f + float(expert_id) * 0.618034f, 1.0f);
    return hsv(h, 0.50f, 0.88f, alpha);
}

ImU32 Theme::retention_color(Retention r) const {
    switch (r) {
    case Retention::Outstanding: return outstanding;
    case Retention::Leaked: return leaked;
    case Retention::Reclaimed: return reclaimed;
    }
    return text;
}

ImU32 Theme::outcome_color(model::Outcome o) const {
    switch (o) {
    case model::Outcome::Done: return leaked;
    case model::Outcome::Failed: return warning;
    case model::Outcome::Terminated: return reclaimed;
    case model::Outcome::Crashed: return error;
    case model::Outcome::Timeout: return warning;
    }
    return text;
}

ImU32 Theme::state_color(const model::Expert &e, bool process_ended) const {
    return process_ended && e.state != model::ExpertState::Closed ? dim : state_color(e);
}

ImU32 Theme::state_color(const model::Expert &e) const {
    switch (e.state) {
    case model::ExpertState::Running: return ok;
    case model::ExpertState::TerminateRequested: return warning;
    case model::ExpertState::Closed:
        if (e.outcome == model::Outcome::Done) return e.cleanups.empty() || e.cleanups[0].blocks == 0 ? dim : leaked;
        return outcome_color(e.outcome);
    }
    return text;
}

Theme setup_theme(float scale) {
    Theme t;
    ImGuiIO &io = ImGui::GetIO();
    static const char *const sans[] = {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", nullptr};
    static const char *const sans_bold[] = {"/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", nullptr};
    static const char *const mono[] = {"/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", nullptr};
    // Latin, plus the arrows, triangles and bullets the views use.
    static const ImWchar ranges[] = {0x0020, 0x00FF, 0x2013, 0x2026, 0x2190, 0x2193, 0x2212, 0x2212,
                                     0x25A0, 0x25CF, 0};
    const char *s = find_font(sans), *b = find_font(sans_bold), *m = find_font(mono);
    ImFontConfig cfg;
    cfg.OversampleH = 2;
    cfg.OversampleV = 1;
    if (s && m) {
        t.ui = io.Fonts->AddFontFromFileTTF(s, 14.0f * scale, &cfg, ranges);
        t.mono = io.Fonts->AddFontFromFileTTF(m, 13.0f * scale, &cfg, ranges);
        t.bold = b ? io.Fonts->AddFontFromFileTTF(b, 14.0f * scale, &cfg, ranges) : t.ui;
        t.unicode = t.ui && t.mono;
    }
    if (!t.ui || !t.mono) {
        io.Fonts->Clear();
        ImFontConfig def;
        def.SizePixels = 13.0f * scale;
        t.ui = t.mono = t.bold = io.Fonts->AddFontDefault(&def);
        t.unicode = false;
    }
    ui::set_unicode(t.unicode);
    set_style();
    ImGui::GetStyle().ScaleAllSizes(scale);

    t.outstanding = IM_COL32(86, 168, 245, 255); // blue: still held, may yet be freed
    t.leaked = IM_COL32(240, 96, 80, 255);       // red: held at a clean close
    t.reclaimed = IM_COL32(232, 178, 64, 255);   // amber: a forced cleanup freed it
    t.misuse = IM_COL32(214, 112, 214, 255);     // magenta
    t.ok = IM_COL32(110, 200, 120, 255);
    t.warning = IM_COL32(236, 180, 70, 255);
    t.error = IM_COL32(240, 90, 80, 255);
    t.dim = IM_COL32(128, 132, 142, 255);
    t.text = IM_COL32(222, 224, 230, 255);
    t.grid = IM_COL32(255, 255, 255, 22);
    t.accent = IM_COL32(66, 133, 244, 255);
    t.grew = IM_COL32(240, 110, 90, 255);
    t.shrank = IM_COL32(110, 200, 120, 255);
    t.match = IM_COL32(236, 64, 212, 255); // vivid magenta: nothing else in the flame graph is this hue
    return t;
}

} // namespace nm::gui
