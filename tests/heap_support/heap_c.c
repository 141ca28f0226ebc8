/* heap_c.c - an ordinary C program for the whole-heap tests: every malloc-family function, some
 * blocks freed, some leaked in named functions. Prints a checksum of what it computed. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) char *c_leak_malloc(int i) {
    char *p = malloc(1000 + (size_t)i);
    memset(p, 'a' + i % 26, 1000);
    return p;
}

__attribute__((noinline)) char *c_leak_strdup(const char *s) { return strdup(s); }

__attribute__((noinline)) void *c_leak_aligned(void) {
    void *p = NULL;
    if (posix_memalign(&p, 256, 3000) != 0) return NULL;
    return p;
}

int main(void) {
    unsigned long sum = 0;
    for (int i = 0; i < 100; ++i) {
        char *p = c_leak_malloc(i);
        sum += (unsigned char)p[i];
        if (i % 10) free(p); /* 10 leaked */
    }
    int *z = calloc(256, sizeof(int));
    for (int i = 0; i < 256; ++i) sum += (unsigned long)z[i];
    z = reallocarray(z, 512, sizeof(int));
    z = realloc(z, 4096 * sizeof(int));
    z[4095] = 7;
    sum += (unsigned long)z[4095];
    if (malloc_usable_size(z) < 4096 * sizeof(int)) return 3;
    free(z);
    void *a = aligned_alloc(64, 640);
    if ((unsigned long)a % 64) return 4;
    free(a);
    void *m = memalign(128, 100);
    if ((unsigned long)m % 128) return 5;
    free(m);
    void *v = valloc(10);
    free(v);
    void *pv = pvalloc(10);
    free(pv);
    void *al = c_leak_aligned();
    if ((unsigned long)al % 256) return 6;
    char *s = c_leak_strdup("left behind on purpose");
    sum += strlen(s);
    printf("heap_c %lu\n", sum);
    return 0;
}
