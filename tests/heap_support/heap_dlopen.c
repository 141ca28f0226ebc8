/* heap_dlopen.c - loads a plugin, calls it, unloads it, and loads it again. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int total = 0;
    for (int round = 0; round < 2; ++round) {
        void *h = dlopen(argv[1], RTLD_NOW);
        if (!h) {
            fprintf(stderr, "%s\n", dlerror());
            return 1;
        }
        int (*work)(int) = (int (*)(int))dlsym(h, "plugin_work");
        total += work(21);
        dlclose(h);
    }
    static char *volatile own __attribute__((used));
    own = malloc(333); /* the main program's own leak (volatile: the compiler may not drop it) */
    own = NULL;
    printf("heap_dlopen %d\n", total);
    return 0;
}
