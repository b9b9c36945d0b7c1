import type { Readable } from 'node:stream';
import { UsmpError } from '../../errors.js';

// What the daemon asks of a capture helper started by the socket unit: one JSON line
// {"iface": …, "filter": …} on the connection. The helper holds CAP_NET_RAW and the daemon does
// not, so the request is checked before anything is opened: an interface name as the kernel
// allows it (IFNAMSIZ − 1 = 15 octets, no '/' or space) and a bounded filter.

export interface CaptureRequest {
  iface: string;
  filter: string;
}

const MAX_REQUEST_OCTETS = 4096;
const IFACE_NAME = /^[A-Za-z0-9_.:@-]{1,15}$/;

export function parseCaptureRequest(line: string): CaptureRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new UsmpError('USMP_E_CAPTURE_REQUEST', 'the capture request is not JSON');
  }
  const { iface, filter } = (value ?? {}) as Record<string, unknown>;
  if (typeof iface !== 'string' || !IFACE_NAME.test(iface))
    throw new UsmpError('USMP_E_CAPTURE_REQUEST', `the capture request names no valid interface (${JSON.stringify(iface)})`);
  if (typeof filter !== 'string' || filter.length > 1024)
    throw new UsmpError('USMP_E_CAPTURE_REQUEST', 'the capture request has no filter string of at most 1024 characters');
  return { iface, filter };
}

/** Reads the first line of `input` within `timeoutMs`. */
export function readCaptureRequest(input: Readable, timeoutMs = 5000): Promise<CaptureRequest> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const finish = (err: Error | undefined, request?: CaptureRequest): void => {
      clearTimeout(timer);
      input.off('data', onData).off('end', onEnd);
      input.pause();
      if (err) reject(err);
      else resolve(request!);
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString('utf8');
      const newline = seen.indexOf('\n');
      if (newline >= 0) {
        try {
          finish(undefined, parseCaptureRequest(seen.slice(0, newline)));
        } catch (err) {
          finish(err as Error);
        }
      } else if (seen.length > MAX_REQUEST_OCTETS)
        finish(new UsmpError('USMP_E_CAPTURE_REQUEST', `the capture request is longer than ${MAX_REQUEST_OCTETS} octets`));
    };
    const onEnd = (): void => finish(new UsmpError('USMP_E_CAPTURE_REQUEST', 'the connection closed before a capture request was read'));
    const timer = setTimeout(() => finish(new UsmpError('USMP_E_CAPTURE_REQUEST', `no capture request within ${timeoutMs} ms`)), timeoutMs);
    input.on('data', onData).once('end', onEnd);
  });
}
