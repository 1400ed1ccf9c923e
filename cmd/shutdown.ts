// The daemons' shutdown signal: SIGINT or SIGTERM aborts the returned signal (an orderly stop);
// a second one exits at once with 130. The process stays alive until then, also while nothing
// else holds the event loop.
export function shutdownOnSignals(log: { info(msg: string): void; warn(msg: string): void }): AbortSignal {
  const shutdown = new AbortController();
  const keepAlive = setInterval(() => {}, 1 << 30);
  shutdown.signal.addEventListener('abort', () => clearInterval(keepAlive), { once: true });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (shutdown.signal.aborted) {
        log.warn(`second ${sig}: exiting now`);
        process.exit(130);
      }
      log.info(`${sig}: shutting down`);
      shutdown.abort();
    });
  }
  return shutdown.signal;
}
