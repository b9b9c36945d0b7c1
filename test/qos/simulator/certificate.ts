import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A throwaway CA and router certificate for the simulator's api-ssl (Node cannot make X.509).

export interface TestPki {
  caFile: string;
  key: string;
  cert: string;
  dir: string;
  cleanup(): void;
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'usmp-pki-'));
  const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:router.lab\n');
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=usmp test CA', '-keyout', 'ca.key', '-out', 'ca.pem']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=router.lab', '-keyout', 'router.key', '-out', 'router.csr']);
  run(['x509', '-req', '-in', 'router.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'router.pem', '-extfile', 'san.ext']);
  return { dir, caFile: join(dir, 'ca.pem'), key: readFileSync(join(dir, 'router.key'), 'utf8'), cert: readFileSync(join(dir, 'router.pem'), 'utf8'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
