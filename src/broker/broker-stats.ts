// Counters the broker and bridge keep, for the logs and /metrics (metrics-server.ts).
// Reasons are a closed list so a metrics label can never grow without bound.

export const REJECT_REASONS = [
  'unknown_device',
  'wrong_password',
  'no_credentials',
  'client_id_mismatch',
  'certificate_mismatch',
  'too_many_connections',
  'connect_rate',
  'acl',
  'oversized',
  'malformed',
  'flood',
  'outbox_full',
  'outbox_io',
  'subscribe_acl',
  'slow_client',
  'outbox_share',
  'retained',
  'unauthenticated_limit',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

export class BrokerStats {
  connectionsAccepted = 0;
  publishesIn = 0;
  bytesIn = 0;
  readonly rejected = new Map<RejectReason, number>(REJECT_REASONS.map((r) => [r, 0]));

  reject(reason: RejectReason): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  snapshot(): { connections_accepted: number; publishes_in: number; bytes_in: number; rejected: Record<string, number> } {
    return {
      connections_accepted: this.connectionsAccepted,
      publishes_in: this.publishesIn,
      bytes_in: this.bytesIn,
      rejected: Object.fromEntries([...this.rejected].filter(([, n]) => n > 0)),
    };
  }
}
