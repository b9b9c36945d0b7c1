import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsmpError } from '../errors.js';
import type { ProcessRunner } from '../exec/process-runner.js';

// A TLS certificate of the appliance's own, made on the appliance: self-signed ECDSA P-256, ten
// years. The device broker's (devices pin its SHA-256 fingerprint, printed here, or trust the
// file itself as their CA) and the station test page's (the auditor compares the fingerprint
// the browser shows with the one `qualify --station` prints).
// openssl(1) makes it: Node.js can read X.509 certificates but not write them.

export interface SelfSignedCertificate {
  certFile: string;
  keyFile: string;
  /** SHA-256 of the DER certificate, colon-separated hex (as openssl x509 -fingerprint -sha256 prints it). */
  fingerprint256: string;
  subject: string;
  validTo: string;
  created: boolean;
}

export async function ensureSelfSignedCertificate(o: {
  /** What the certificate is for, in messages: "the broker's certificate". */
  purpose: string;
  /** The configuration keys that name a certificate of one's own instead. */
  ownFilesKey: string;
  certFile: string;
  keyFile: string;
  commonName: string;
  names: readonly string[];
  runner: ProcessRunner;
}): Promise<SelfSignedCertificate> {
  const created = !(existsSync(o.certFile) && existsSync(o.keyFile));
  if (created) {
    for (const dir of new Set([dirname(o.certFile), dirname(o.keyFile)])) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const san = o.names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    const outcome = await o.runner
      .run({
        argv: [
          'openssl',
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '3650',
          '-subj',
          `/CN=${o.commonName.replace(/[/=+,]/g, '-')}`,
          ...(san ? ['-addext', `subjectAltName=${san}`] : []),
          '-keyout',
          o.keyFile,
          '-out',
          o.certFile,
        ],
        timeoutMs: 30_000,
      })
      .catch((err: unknown) => {
        if (err instanceof UsmpError && err.code === 'USMP_E_DEPENDENCY_MISSING')
          throw new UsmpError('USMP_E_DEPENDENCY_MISSING', `openssl is not installed: ${o.purpose} cannot be made`, {
            hint: `apt-get install openssl (as root), or give ${o.ownFilesKey} of your own`,
          });
        throw err;
      });
    if (outcome.code !== 0)
      throw new UsmpError('USMP_E_CONFIG_INVALID', `openssl could not make ${o.purpose}: ${outcome.stderr.trim().split('\n').at(-1) ?? ''}`);
  }
  const cert = new X509Certificate(readFileSync(o.certFile));
  return { certFile: o.certFile, keyFile: o.keyFile, fingerprint256: cert.fingerprint256, subject: cert.subject, validTo: cert.validTo, created };
}
