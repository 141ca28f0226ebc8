// heap_getattr.c - threads whose first heap call is made inside pthread_getattr_np (as Rust's and
// the JVM's runtimes do): glibc calls malloc there (fopen of /proc/self/maps for the main thread,
// realloc of a CPU set for the others) while it holds the thread's own lock.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>

static size_t stack_size(void) {
    pthread_attr_t at;
    size_t size = 0;
    void *lo = 0;
    if (pthread_getattr_np(pthread_self(), &at) == 0) {
        pthread_attr_getstack(&at, &lo, &size);
        pthread_attr_destroy(&at);
    }
    return size;
}

static void *start(void *arg) {
    (void)arg;
    return (void *)stack_size();
}

int main(void) {
    const size_t main_size = stack_size(); // the main thread's first heap call
    size_t sizes = 0;
    for (int i = 0; i < 8; ++i) {
        pthread_t t;
        void *r = 0;
        if (pthread_create(&t, 0, start, 0) != 0) return 1;
        pthread_join(t, &r);
        sizes += (size_t)r != 0;
    }
    printf("main stack known: %d, threads with a known stack: %zu\n", main_size != 0, sizes);
    return 0;
}
