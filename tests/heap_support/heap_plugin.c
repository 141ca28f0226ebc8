/* heap_plugin.c - a plugin that heap_dlopen loads: its leak must be charged to this module. */
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) char *plugin_leak(size_t n) {
    char *p = malloc(n);
    memset(p, 'p', n);
    return p;
}

int plugin_work(int x) {
    char *tmp = malloc(64);
    tmp[0] = (char)x;
    int r = tmp[0] * 2;
    free(tmp);
    (void)plugin_leak(777);
    return r;
}
