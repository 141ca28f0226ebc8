/* heap_fork.c - forks: one child execs /bin/echo, one exits through exit() with blocks live; the
 * parent frees and leaks, and waits for both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) char *fork_parent_leak(void) { return strdup("parent leak"); }

/* Prints the statuses and the leaked string, whose only pointer dies here. */
__attribute__((noinline)) void report(int st1, int st2) {
    char *l = fork_parent_leak();
    printf("heap_fork %d %d %s\n", st1, st2, l);
    asm volatile("" ::"r"(l) : "memory");
}

/* Overwrites the stack below the caller, where dead frames left copies of the leaked pointer. */
__attribute__((noinline)) void clobber_stack(void) {
    char buf[16384];
    memset(buf, 0, sizeof buf);
    asm volatile("" ::"r"(buf) : "memory");
}

int main(void) {
    char *before = malloc(100);
    strcpy(before, "before fork");
    fflush(stdout);
    pid_t a = fork();
    if (a == 0) {
        execl("/bin/echo", "echo", "child exec", (char *)NULL);
        _exit(127);
    }
    pid_t b = fork();
    if (b == 0) {
        char *c = malloc(50); /* freed by nobody: the child is not the report's process */
        c[0] = 0;
        free(before);
        exit(0);
    }
    int st1 = 0, st2 = 0;
    waitpid(a, &st1, 0);
    waitpid(b, &st2, 0);
    free(before);
    report(WEXITSTATUS(st1), WEXITSTATUS(st2));
    clobber_stack();
    return 0;
}
