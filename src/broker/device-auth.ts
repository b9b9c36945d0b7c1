import type { TLSSocket } from 'node:tls';
import type { DeviceRegistry } from './device-registry.js';
import { verifyPassword } from './password-hash.js';
import type { RejectReason } from './broker-stats.js';

// Who may connect: an enrolled device, with its own name as user name and client id, and its
// password; on a listener that asks for client certificates, the certificate's CN must be the
// device name too. Unknown device and wrong password give the same CONNACK (4) so the LAN
// cannot learn which names exist [MQTT 3.1.1 §3.2.2.3]; nobody connects without a name and password.

const TIMING_DECOY = `$scrypt$ln=14,r=8,p=5$${'A'.repeat(22)}==$${'A'.repeat(43)}=`;

export type AuthOutcome = { ok: true; device: string } | { ok: false; reason: RejectReason; returnCode: 2 | 4 | 5 };

export async function authenticateDevice(
  registry: DeviceRegistry,
  clientId: string,
  username: string | undefined,
  password: Buffer | undefined,
  tlsSocket: TLSSocket | undefined,
): Promise<AuthOutcome> {
  if (username === undefined || password === undefined) return { ok: false, reason: 'no_credentials', returnCode: 4 };
  const device = registry.get(username);
  if (!device) {
    await verifyPassword(password, TIMING_DECOY); // same time as a wrong password
    return { ok: false, reason: 'unknown_device', returnCode: 4 };
  }
  if (!(await verifyPassword(password, device.passwordHash))) return { ok: false, reason: 'wrong_password', returnCode: 4 };
  if (clientId !== username) return { ok: false, reason: 'client_id_mismatch', returnCode: 2 };
  if (tlsSocket?.authorized) {
    const cn = tlsSocket.getPeerCertificate()?.subject?.CN;
    if (cn !== undefined && cn !== username) return { ok: false, reason: 'certificate_mismatch', returnCode: 5 };
  }
  return { ok: true, device: username };
}
