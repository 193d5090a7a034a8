// floor-tftpd: a reference for tftp-bench.sh (d), not a TFTP server anyone should run.
//
// It answers read requests with the least work a TFTP server can do, to measure how fast the
// 50 parallel curl clients of (d) can go on this machine when the server costs next to
// nothing: one thread per CPU, each with its own epoll loop over its transfers, one connected
// socket per transfer, blocks sent straight from an mmap of the file (no read copy), and
// nothing else: no retransmission, no windowsize, no access checks, no path checks, no
// logging. A lost packet stalls its transfer for good. Build: cc -O2 -pthread.
//
//   floor-tftpd ROOT LISTEN_IPV4 [THREADS]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct transfer {
    int fd;
    uint32_t block;    // the block sent last; 0 while the OACK waits for its ACK
    uint32_t blocks;   // the last block number: size / blksize + 1 (the short or empty one)
    size_t blksize, size;
    const char *data;
};

static const char *root;
static struct sockaddr_in listen_addr;
static int listen_fd;

static void send_block(const struct transfer *t) {
    uint8_t header[4] = {0, 3, (t->block >> 8) & 0xff, t->block & 0xff};
    size_t offset = (size_t)(t->block - 1) * t->blksize;
    size_t left = offset >= t->size ? 0 : t->size - offset;
    struct iovec iov[2] = {{header, 4}, {(void *)(t->data + offset), left < t->blksize ? left : t->blksize}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    sendmsg(t->fd, &msg, 0);
}

// Starts a transfer for the read request in buf[0..len), or returns NULL.
static struct transfer *start(uint8_t *buf, ssize_t len, const struct sockaddr_in *client,
                              char *cached_name, const char **cached, size_t *cached_size) {
    if (len < 4 || buf[0] != 0 || buf[1] != 1) return NULL;
    buf[len] = 0;
    char *name = (char *)buf + 2, *end = (char *)buf + len;
    char *option = name + strlen(name) + 1;
    if (option >= end) return NULL;  // no mode
    option += strlen(option) + 1;    // skip the mode
    size_t blksize = 512;
    int want_blksize = 0, want_tsize = 0;
    while (option < end) {
        char *value = option + strlen(option) + 1;
        if (value >= end) break;
        if (!strcasecmp(option, "blksize")) blksize = strtoul(value, NULL, 10), want_blksize = 1;
        if (!strcasecmp(option, "tsize")) want_tsize = 1;
        option = value + strlen(value) + 1;
    }
    if (blksize < 8 || blksize > 65464) return NULL;
    if (strcmp(name, cached_name) != 0) {  // every client of (d) reads the same file
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root, name);
        int file = open(path, O_RDONLY);
        if (file < 0) return NULL;
        struct stat st;
        fstat(file, &st);
        const char *data = st.st_size ? mmap(NULL, st.st_size, PROT_READ, MAP_SHARED | MAP_POPULATE, file, 0) : "";
        close(file);
        if (data == MAP_FAILED) return NULL;
        *cached = data, *cached_size = st.st_size;
        snprintf(cached_name, 512, "%s", name);
    }
    struct transfer *t = calloc(1, sizeof *t);
    t->data = *cached, t->size = *cached_size, t->blksize = blksize;
    t->blocks = t->size / blksize + 1;
    t->fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in local = listen_addr;
    local.sin_port = 0;
    bind(t->fd, (const void *)&local, sizeof local);
    connect(t->fd, (const void *)client, sizeof *client);
    if (want_blksize || want_tsize) {
        char oack[128] = {0, 6};
        int n = 2;
        if (want_blksize) n += 1 + sprintf(oack + n, "blksize"), n += 1 + sprintf(oack + n, "%zu", blksize);
        if (want_tsize) n += 1 + sprintf(oack + n, "tsize"), n += 1 + sprintf(oack + n, "%zu", t->size);
        send(t->fd, oack, n, 0);
    } else {
        t->block = 1;
        send_block(t);
    }
    return t;
}

static void *serve(void *unused) {
    (void)unused;
    char cached_name[512] = "";
    const char *cached = NULL;
    size_t cached_size = 0;
    int ep = epoll_create1(0);
    // Every thread watches the listening socket; EPOLLEXCLUSIVE wakes one of them per request.
    struct epoll_event listen_event = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &listen_event);
    struct epoll_event events[64];
    uint8_t buf[2048];
    for (;;) {
        int ready = epoll_wait(ep, events, 64, -1);
        for (int i = 0; i < ready; i++) {
            struct transfer *t = events[i].data.ptr;
            if (!t) {
                struct sockaddr_in client;
                socklen_t client_len = sizeof client;
                ssize_t len = recvfrom(listen_fd, buf, sizeof buf - 1, MSG_DONTWAIT, (void *)&client, &client_len);
                t = start(buf, len, &client, cached_name, &cached, &cached_size);
                if (!t) continue;
                struct epoll_event event = {.events = EPOLLIN, .data.ptr = t};
                epoll_ctl(ep, EPOLL_CTL_ADD, t->fd, &event);
                continue;
            }
            ssize_t len = recv(t->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (len < 4 || buf[1] != 4 || (uint32_t)((buf[2] << 8) | buf[3]) != (t->block & 0xffff)) continue;
            if (t->block == t->blocks) {
                close(t->fd);  // also leaves the epoll set
                free(t);
                continue;
            }
            t->block++;
            send_block(t);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: floor-tftpd ROOT LISTEN_IPV4 [THREADS]\n");
        return 2;
    }
    root = argv[1];
    listen_addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(69)};
    if (inet_pton(AF_INET, argv[2], &listen_addr.sin_addr) != 1) {
        fprintf(stderr, "floor-tftpd: not an IPv4 address: %s\n", argv[2]);
        return 2;
    }
    listen_fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (bind(listen_fd, (const void *)&listen_addr, sizeof listen_addr) != 0) {
        perror("floor-tftpd: bind");
        return 1;
    }
    long threads = argc > 3 ? atol(argv[3]) : sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 1; i < threads; i++) {
        pthread_t thread;
        pthread_create(&thread, NULL, serve, NULL);
    }
    serve(NULL);
}
