import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';

// POST of one report to the collector's intake. Returns the status and the collector's answer;
// throws only when no answer came (network, TLS, timeout), which the uploader retries.

export interface CollectorAnswer {
  status: number;
  body: { status?: string; error?: { code?: string; reason?: string } };
}

export type PostReport = (reportText: string) => Promise<CollectorAnswer>;

export const INTAKE_PATH = '/api/v1/reports';

export function collectorClient(baseUrl: string, caFile = '', timeoutMs = 30_000): PostReport {
  const url = new URL(INTAKE_PATH, baseUrl);
  const ca = caFile ? readFileSync(caFile) : undefined;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return (reportText) =>
    new Promise<CollectorAnswer>((resolve, reject) => {
      const req = send(url, { method: 'POST', headers: { 'content-type': 'application/json' }, timeout: timeoutMs, ...(ca ? { ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          let body: CollectorAnswer['body'];
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as CollectorAnswer['body'];
          } catch {
            body = { error: { reason: Buffer.concat(chunks).toString('utf8').slice(0, 200) } };
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} in ${timeoutMs / 1000} s`)));
      req.on('error', reject);
      req.end(reportText);
    });
}
