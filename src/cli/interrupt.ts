/**
 * SIGINT and SIGTERM (Ctrl-C, systemd stopping the unit) do not kill a sync
 * outright: they abort it, so that hooks still run, the snapshot is removed
 * and the target stays marked incomplete. A second signal is only reported.
 */
export function abortOnSignals(log: (line: string) => void): AbortSignal {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log(`${signal}: still cleaning up (hooks, snapshot); kill -9 would leave them behind`);
      return;
    }
    log(`${signal}: stopping and cleaning up`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return controller.signal;
}
