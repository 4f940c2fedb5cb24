/*
 * defective-peer: one of tests/helpers/defective_peer.h's echo peers as a
 * process of its own, for tests that need a peer which can crash (the
 * network fuzzer's crash oracle spawns it with --spawn).
 *
 *   defective-peer --defect KEY --listen uds|PATH
 *   defective-peer --defect KEY --listen tcp          (127.0.0.1, a free port)
 *
 * Prints "listening on ADDR" once ready, runs until SIGINT or SIGTERM.
 * Exit 0 when stopped, 2 on bad arguments or when it cannot listen.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "../helpers/defective_peer.h"

int main(int argc, char **argv)
{
    const char *key = "correct", *listen = NULL;
    char addr[160];
    dp_server *s;
    sigset_t set;
    int i, d, sig = 0;

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--defect") == 0) {
            key = argv[i + 1];
        } else if (strcmp(argv[i], "--listen") == 0) {
            listen = argv[i + 1];
        } else {
            break;
        }
    }
    d = dp_defect_parse(key);
    if (i != argc || listen == NULL || d < 0 ||
        (strcmp(listen, "tcp") != 0 && strncmp(listen, "uds|", 4) != 0)) {
        fprintf(stderr,
                "usage: defective-peer --defect KEY --listen uds|PATH|tcp (KEY: correct, abort-opcode, "
                "crash-big-text, hang-hello2, wrong-id-after-more, ...)\n");
        return 2;
    }
    /* Signals are waited for here; the peer's threads must not take them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    s = dp_server_start((dp_defect)d, strcmp(listen, "tcp") == 0 ? NULL : listen + 4, addr, sizeof addr);
    if (s == NULL) {
        fprintf(stderr, "defective-peer: cannot listen on %s\n", listen);
        return 2;
    }
    printf("listening on %s\n", addr);
    fflush(stdout);
    sigwait(&set, &sig);
    dp_server_stop(s);
    return 0;
}
