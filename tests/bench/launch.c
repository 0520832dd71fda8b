// launch: runs a command once and prints "<wall ms> <peak resident KiB> <exit code>" on stdout,
// for `npm run bench`. Why not the bench's own spawn: Bun (like Go) starts children with
// vfork-style clone(CLONE_VM), and Linux carries the parent's peak RSS over exec into the
// child's ru_maxrss, so every child would report at least the bench process's own ~50 MiB.
// Here the child is a real fork() of this ~1 MiB program, so ru_maxrss is the command's own
// peak (plus at most this program's size), and the wall time spans fork to wait4 only.
// The command's stdout goes to /dev/null; its stderr is passed through.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: launch COMMAND [ARGS...]\n");
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    perror("launch: fork");
    return 2;
  }
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1);
    execvp(argv[1], argv + 1);
    perror("launch: exec");
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) {
    perror("launch: wait4");
    return 2;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("%.3f %ld %d\n", ms, ru.ru_maxrss, code);
  return 0;
}
