/* SPDX-License-Identifier: MIT */
/*
 * server: `kstaple serve`, the process.
 *
 * The main thread owns the configuration, the certificates, the staple cache and the fetcher,
 * which runs on the main thread's io_uring loop together with a signalfd and the ticket key
 * timer. `workers` threads each run their own loop with their own SO_REUSEPORT listening
 * socket per listener (multishot accept) and their own connections.
 *
 * Everything a configuration produces (certificates, cache, SSL_CTXs, backend addresses) is one
 * reference-counted generation. Workers and connections hold references; SIGHUP builds a new
 * generation, fetches the staples it lacks, then hands it to the workers (an atomic pointer
 * exchange and a wake-up), so connections in flight keep the generation they started with.
 * Staples are published by the cache's atomic pointer swap and read lock-free by handshakes.
 *
 * Start-up: persisted staples are loaded, missing or stale ones are fetched before the first
 * accept (at most [fetch] startup_wait). SIGTERM/SIGINT: stop accepting, let connections finish
 * for up to [kstaple] drain_timeout, then close what is left; a second signal closes at once.
 */
#ifndef KSTAPLE_SERVER_H
#define KSTAPLE_SERVER_H

#include <stdbool.h>

#include "kstaple/clock.h"
#include "kstaple/common.h"

struct ks_server_opts {
	const char *config_path;
	const struct ks_clock *clk; /* NULL: the real clock */
	bool allow_insecure_keys;   /* --allow-insecure-key-permissions, for this run */
};

/*
 * Run until drained after SIGTERM/SIGINT. Returns 0, or a negative errno when start-up failed
 * (already logged): -EINVAL configuration, -ENOENT/-EACCES/-EKEYREJECTED certificates,
 * -EADDRINUSE and friends for listening sockets, -ENOSYS without io_uring.
 */
KS_MUST_CHECK int ks_server_run(const struct ks_server_opts *opts);

#endif /* KSTAPLE_SERVER_H */
