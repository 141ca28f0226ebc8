/* dbgi_prog.c - a program whose debug information lives only in a separate file served by a
 * local debuginfod (tests/integration/test_whole_heap.cpp): the build keeps its DWARF in
 * nmt_dbgi_prog.debug (objcopy --only-keep-debug) and strips the executable (symbols and build
 * ID kept, no .gnu_debuglink). Leaks 4321 bytes in dbgi_leak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) size_t dbgi_leak(void) {
    char *p = malloc(4321);
    memset(p, 'd', 4321);
    asm volatile("" ::"r"(p) : "memory");
    return strlen("dbgi") + (size_t)p[10];
}

/* Overwrites the dead frames below main, where a copy of the lost pointer may still be. */
__attribute__((noinline)) void dbgi_clobber_stack(void) {
    char buf[16384];
    memset(buf, 0, sizeof buf);
    asm volatile("" ::"r"(buf) : "memory");
}

int main(void) {
    const size_t n = dbgi_leak();
    dbgi_clobber_stack();
    printf("dbgi %zu\n", n);
    return 0;
}
