/* plugin.c - a plugin that allocates through the expert API and is unloaded again (dlclose) while
   its blocks stay: the frames inside it must keep their names in later snapshots
   (tests/unit/test_symbolize_process.cpp). Plain C, so nothing pins it in memory. */
#include <netmon.h>

#include <stddef.h>

__attribute__((noinline)) void *nmt_plugin_alloc(HEXPERTKEY key, size_t n) {
    void *p = ExpertAllocMemory(key, n, NULL);
    __asm__ volatile("" ::: "memory"); /* keep the call from being a tail call */
    return p;
}
