/* probe_expert.c - an expert built outside the tree against an installed nmleak (pkg-config or the
 * CMake package). It leaks one block from leaky_site, and prints where libnmapi and the agent were
 * loaded from, so the install test can check that they come from the install, not the build tree. */
#include <netmon.h>
#include <stdio.h>
#include <string.h>

BOOL WINAPI Register(PEXPERTENUMINFO pInfo) {
    strncpy(pInfo->szName, "install-probe", EXPERTSTRINGLENGTH - 1);
    strncpy(pInfo->szDescription, "Leaks one block for the install test", EXPERTSTRINGLENGTH - 1);
    return TRUE;
}

__attribute__((noinline)) static void *leaky_site(HEXPERTKEY hKey) {
    DWORD err = 0;
    void *p = ExpertAllocMemory(hKey, 4321, &err);
    if (p) memset(p, 0x5a, 4321);
    return p;
}

static void print_loaded(void) {
    char line[4096];
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return;
    while (fgets(line, sizeof line, maps)) {
        const char *path = strchr(line, '/');
        if (!path) continue;
        if (strstr(path, "libnmapi.so") || strstr(path, "libnmleak-agent.so")) printf("probe-loaded %s", path);
    }
    fclose(maps);
}

BOOL WINAPI Run(HEXPERTKEY hKey, PEXPERTCONFIG pConfig, PEXPERTSTARTUPINFO pStartup, DWORD flags, HWND hWnd) {
    (void)pConfig; (void)pStartup; (void)flags; (void)hWnd;
    print_loaded();
    fflush(stdout);
    return leaky_site(hKey) != NULL; /* never freed: a leak at the key's close */
}
