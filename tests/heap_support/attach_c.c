/* attach_c.c - an ordinary C program with threads for `nmleak attach` (no libnmapi): blocks made
 * before the attach, 4 workers that keep allocating and checking their data, and commands on
 * stdin (one answer line each):
 *   status         -> "status iterations=N errors=E"
 *   free-old       -> frees the blocks made before the attach: "freed-old N"
 *   leak N         -> N blocks of 4242 bytes from nmt_attach_c_leak, kept: "leaked N"
 *   plugin PATH    -> dlopen PATH and call its plugin_work(): "plugin R" (its leak: 777 bytes)
 *   fork N         -> N children forked while the workers allocate, each allocating: "forked OK"
 *   whose-malloc   -> the file the executable's GOT entry for malloc points into: "malloc-in F"
 *   misuse         -> 7 bad frees from nmt_attach_c_misuse (only while nmleak is attached: glibc
 *                     alone would abort): "misused 7 realloc=null|ptr"
 *   quit           -> stops the workers, runs a fixed workload: "done errors=E checksum=C"
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OLD_BLOCKS 1000
static char *old_blocks[OLD_BLOCKS];
static atomic_int stop;
static atomic_ulong iterations, errors;
static void *leaks[100000];
static int nleaks;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    return x ^ (x >> 29);
}

/* One round of every malloc-family call, each block filled and checked before it is freed. */
static uint64_t round_of(uint64_t seed) {
    uint64_t sum = 0;
    size_t n = 16 + mix(seed) % 3000;
    unsigned char *a = malloc(n);
    memset(a, (int)(seed & 0xff), n);
    a = realloc(a, n * 2);
    for (size_t i = 0; i < n; ++i)
        if (a[i] != (unsigned char)(seed & 0xff)) atomic_fetch_add(&errors, 1);
    uint32_t *c = calloc(64, sizeof *c);
    for (int i = 0; i < 64; ++i) {
        if (c[i]) atomic_fetch_add(&errors, 1);
        c[i] = (uint32_t)(seed + i);
        sum += c[i];
    }
    void *al = NULL;
    if (posix_memalign(&al, 64, 200) != 0 || ((uintptr_t)al & 63)) atomic_fetch_add(&errors, 1);
    void *aa = aligned_alloc(128, 256);
    void *ma = memalign(32, 100);
    char *s = strdup("attach me if you can");
    sum += strlen(s) + n;
    char *ra = reallocarray(NULL, 10, 16);
    if (!ra || malloc_usable_size(ra) < 160) atomic_fetch_add(&errors, 1);
    free(ra);
    free(s);
    free(ma);
    free(aa);
    free(al);
    free(c);
    free(a);
    return sum;
}

static void *worker(void *arg) {
    uint64_t seed = (uint64_t)(uintptr_t)arg * 1000003u;
    while (!atomic_load(&stop)) {
        round_of(seed++);
        /* Leave the CPU to others now and then (the agent's snapshots, on 2 shared cores). */
        if (atomic_fetch_add(&iterations, 1) % 64 == 0) {
            struct timespec pause = {0, 200000};
            nanosleep(&pause, NULL);
        }
    }
    return NULL;
}

/* Read back through a volatile, the compiler cannot see where a pointer came from (no warning
 * for the frees below, which are the point). */
static void *volatile g_hold;
static void *launder(void *p) {
    g_hold = p;
    return g_hold;
}

static char not_heap[64] __attribute__((aligned(16)));

/* A double free, two frees into the middle of a block (16-byte aligned and not), frees of a
 * global, of a stack buffer and of an address nothing maps, and a realloc of a freed block. The
 * realloc must fail; the other frees must do nothing. */
__attribute__((noinline)) const char *nmt_attach_c_misuse(void) {
    char local[64] __attribute__((aligned(16)));
    char *p = launder(malloc(64));
    free(p);
    free(g_hold);
    char *q = malloc(256);
    memset(q, 'q', 256);
    free(launder(q + 32));
    free(launder(q + 3));
    for (int i = 0; i < 256; ++i)
        if (q[i] != 'q') atomic_fetch_add(&errors, 1);
    free(q);
    free(launder(not_heap + 16));
    memset(local, 0, sizeof local);
    free(launder(local + 16));
    free(launder((void *)(uintptr_t)0x10000));
    char *r = launder(malloc(32));
    free(r);
    void *again = realloc(g_hold, 64);
    return again ? "ptr" : "null";
}

__attribute__((noinline)) void nmt_attach_c_leak(int n) {
    for (int i = 0; i < n && nleaks < 100000; ++i) {
        leaks[nleaks] = malloc(4242);
        memset(leaks[nleaks++], 'L', 4242);
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < OLD_BLOCKS; ++i) {
        old_blocks[i] = malloc(100 + (size_t)i);
        memset(old_blocks[i], 'o', 100 + (size_t)i);
    }
    pthread_t t[4];
    for (int i = 0; i < 4; ++i) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    printf("ready %d worker=%ld\n", (int)getpid(), (long)syscall(SYS_gettid));
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (strcmp(line, "status") == 0) {
            printf("status iterations=%lu errors=%lu\n", atomic_load(&iterations), atomic_load(&errors));
        } else if (strcmp(line, "free-old") == 0) {
            int n = 0;
            for (int i = 0; i < OLD_BLOCKS; ++i) {
                for (size_t j = 0; old_blocks[i] && j < 100 + (size_t)i; ++j)
                    if (old_blocks[i][j] != 'o') atomic_fetch_add(&errors, 1);
                if (old_blocks[i]) ++n;
                free(old_blocks[i]);
                old_blocks[i] = NULL;
            }
            printf("freed-old %d\n", n);
        } else if (strcmp(line, "misuse") == 0) {
            printf("misused 7 realloc=%s\n", nmt_attach_c_misuse());
        } else if (strncmp(line, "leak ", 5) == 0) {
            nmt_attach_c_leak(atoi(line + 5));
            printf("leaked %d\n", atoi(line + 5));
        }
#ifndef NMT_STATIC
        else if (strncmp(line, "plugin ", 7) == 0) {
            void *h = dlopen(line + 7, RTLD_NOW);
            int (*work)(int) = h ? (int (*)(int))dlsym(h, "plugin_work") : NULL;
            printf("plugin %d\n", work ? work(21) : -1);
        }
#endif
#ifndef NMT_STATIC
        /* Where this executable's GOT entry for malloc leads (an address taken through it). */
        else if (strcmp(line, "whose-malloc") == 0) {
            void *(*volatile fp)(size_t) = malloc;
            Dl_info info;
            const char *name = dladdr((void *)(uintptr_t)fp, &info) && info.dli_fname ? info.dli_fname : "?";
            const char *slash = strrchr(name, '/');
            printf("malloc-in %s\n", slash ? slash + 1 : name);
        }
#endif
        /* Forks while the workers allocate: the child allocates too, and exits 0. */
        else if (strncmp(line, "fork ", 5) == 0) {
            int ok = 0, n = atoi(line + 5);
            for (int i = 0; i < n; ++i) {
                fflush(stdout);
                pid_t child = fork();
                if (child == 0) {
                    uint64_t sum = 0;
                    for (uint64_t s = 0; s < 200; ++s) sum += round_of(s);
                    _exit(sum ? 0 : 1);
                }
                int status = -1;
                if (child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0) ++ok;
            }
            printf("forked %d\n", ok);
        }
        else if (strcmp(line, "quit") == 0) {
            break;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; ++i) pthread_join(t[i], NULL);
    uint64_t checksum = 0;
    for (uint64_t s = 0; s < 20000; ++s) checksum += round_of(s);
    printf("done errors=%lu checksum=%llu\n", atomic_load(&errors), (unsigned long long)checksum);
    return 0;
}
