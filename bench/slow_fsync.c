/* A disk whose flush is slow, for measuring durable ingest as on a slower machine.
 *
 * Delays every fsync() and fdatasync() of the process it is preloaded into by SLOW_FSYNC_US
 * microseconds (default 3000), then does the real one. Build and use:
 *
 *   gcc -shared -fPIC -O2 -o /tmp/slow_fsync.so bench/slow_fsync.c -ldl
 *   LD_PRELOAD=/tmp/slow_fsync.so python -m bench --skip fanout,latency,connections,desktop,mariadb
 *
 * For MariaDB, start a second server with it preloaded (its own --datadir and --port) and point
 * GOCHAT_BENCH_MARIADB_URL at it; README.md, "Performance", has the figures measured so.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static void delay(void) {
    const char *text = getenv("SLOW_FSYNC_US");
    usleep(text ? (useconds_t)atoi(text) : 3000);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    delay();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    delay();
    return real(fd);
}
