/* heap_c.c - an ordinary C program for the whole-heap tests: every malloc-family function, some
 * blocks freed, some leaked in named functions (nothing points to them any more when it exits).
 * Prints a checksum of what it computed. */
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

/* Leaks a copy of s: its only pointer dies here. Returns its length. */
__attribute__((noinline)) size_t c_leak_strdup(const char *s) {
    char *p = strdup(s);
    size_t n = strlen(p);
    asm volatile("" ::"r"(p) : "memory");
    return n;
}

/* Leaks a 256-aligned block: its only pointer dies here. Returns 1 when it is aligned. */
__attribute__((noinline)) int c_leak_aligned(void) {
    void *p = NULL;
    if (posix_memalign(&p, 256, 3000) != 0) return 0;
    asm volatile("" ::"r"(p) : "memory");
    return (unsigned long)p % 256 == 0;
}

/* Overwrites the stack below the caller, where the dead frames of the leaking calls left copies of
 * the pointers that died: a leak checker that scans the stack (nmleak, LeakSanitizer) would
 * otherwise take a stale copy for a live reference. */
__attribute__((noinline)) void clobber_stack(void) {
    char buf[16384];
    memset(buf, 0, sizeof buf);
    asm volatile("" ::"r"(buf) : "memory");
}

/* --libc-frames: leaks made inside glibc on the program's behalf, so their stacks run through
 * glibc's own code: a qsort comparator that allocates (called back by glibc's msort), a line
 * buffer glibc's getdelim makes, a strdup copy. */
static char *g_kept[3];

__attribute__((noinline)) int c_compare_leak(const void *a, const void *b) {
    if (!g_kept[0]) g_kept[0] = malloc(777);
    return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) size_t c_leak_getline(void) {
    static char text[] = "a line read by glibc's getline\n";
    FILE *f = fmemopen(text, sizeof text - 1, "r");
    if (!f) return 0;
    size_t cap = 0;
    char *line = NULL;
    const ssize_t n = getdelim(&line, &cap, '\n', f); /* getline is an inline wrapper of it */
    fclose(f);
    asm volatile("" ::"r"(line) : "memory");
    return n > 0 ? (size_t)n : 0;
}

static int libc_frames(void) {
    int values[64];
    for (int i = 0; i < 64; ++i) values[i] = (i * 37) % 64;
    qsort(values, 64, sizeof values[0], c_compare_leak);
    size_t sum = (size_t)values[63] + c_leak_getline() + c_leak_strdup("made by glibc's strdup");
    g_kept[0] = NULL; /* the comparator's block is lost from here on */
    clobber_stack();
    printf("libc_frames %zu\n", sum);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--libc-frames") == 0) return libc_frames();
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
    if (!c_leak_aligned()) return 6;
    sum += c_leak_strdup("left behind on purpose");
    clobber_stack();
    printf("heap_c %lu\n", sum);
    return 0;
}
