// Watching the other ranks of a distributed job (AxonDistributed): when a rank on this host dies, or the launcher
// stops this one, the process says which rank was lost and exits non-zero instead of waiting in a collective
// for a peer that will never answer. Everything the signal handler runs is async-signal-safe.
#include "include/AxonKernels.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define AXON_MAX_PEERS 4096
static int watch_self, watch_world;
static int watch_pids[AXON_MAX_PEERS];
static unsigned char watch_local[AXON_MAX_PEERS];
static atomic_int watch_on;

// Appends the decimal digits of v (v >= 0) at *p.
static char *put_int(char *p, long v) {
    char digits[24];
    int n = 0;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v > 0 && n < 24);
    while (n > 0) *p++ = digits[--n];
    return p;
}

static char *put_str(char *p, const char *s) {
    while (*s) *p++ = *s++;
    return p;
}

// Whether process pid has ended: gone, or a zombie its parent has not reaped yet.
static int pid_ended(int pid) {
    if (kill(pid, 0) == -1 && errno == ESRCH) return 1;
    char path[48], *p = put_str(path, "/proc/");
    p = put_int(p, pid);
    p = put_str(p, "/stat");
    *p = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;  // no /proc (macOS): kill() alone decides
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *close_paren = strrchr(buf, ')');  // "pid (name) S ...": the name may hold spaces and parentheses
    return close_paren && close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X');
}

// The first rank on this host whose process has ended, or -1.
static int lost_rank(void) {
    for (int r = 0; r < watch_world; r++) {
        if (r != watch_self && watch_local[r] && pid_ended(watch_pids[r])) return r;
    }
    return -1;
}

// "axon: rank S of N: rank R (pid P) was lost; stopping" or, for a signal, "...: stopped by signal G (...)".
static void report_and_exit(int lost, int sig) {
    char msg[256], *p = put_str(msg, "axon: rank ");
    p = put_int(p, watch_self);
    p = put_str(p, " of ");
    p = put_int(p, watch_world);
    p = put_str(p, ": ");
    if (lost >= 0) {
        p = put_str(p, "rank ");
        p = put_int(p, lost);
        p = put_str(p, " (pid ");
        p = put_int(p, watch_pids[lost]);
        p = put_str(p, ") was lost; stopping\n");
    } else {
        p = put_str(p, "stopped by signal ");
        p = put_int(p, sig);
        p = put_str(p, " from the launcher (a rank on another host was lost, or the job was cancelled)\n");
    }
    ssize_t ignored = write(2, msg, (size_t)(p - msg));
    (void)ignored;
    _exit(1);
}

static void on_signal(int sig) {
    if (!atomic_load(&watch_on)) {  // finishing normally: the default action
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    report_and_exit(lost_rank(), sig);
}

static void *watch_loop(void *arg) {
    (void)arg;
    for (;;) {
        usleep(200000);
        if (!atomic_load(&watch_on)) continue;
        int r = lost_rank();
        if (r >= 0 && atomic_load(&watch_on)) report_and_exit(r, 0);
    }
    return 0;
}

int axon_peer_watch_start(int self, int world, const int *pids, const unsigned char *same_host) {
    if (world < 1 || world > AXON_MAX_PEERS || self < 0 || self >= world) return -1;
    static int started;
    watch_self = self;
    watch_world = world;
    for (int r = 0; r < world; r++) {
        watch_pids[r] = pids[r];
        watch_local[r] = same_host[r];
    }
    atomic_store(&watch_on, 1);
    if (started) return 0;
    started = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, 0);
    pthread_t thread;
    if (pthread_create(&thread, 0, watch_loop, 0) != 0) return -1;
    pthread_detach(thread);
    return 0;
}

void axon_peer_watch_stop(void) { atomic_store(&watch_on, 0); }
