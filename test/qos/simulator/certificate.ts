import { TestCa } from '../../fixtures/test-pki.js';

// A throwaway CA and router certificate for the simulator's api-ssl.

export interface TestPki {
  caFile: string;
  key: string;
  cert: string;
  dir: string;
  cleanup(): void;
}

export function makeTestPki(): TestPki {
  const ca = new TestCa();
  const router = ca.issue('router.lab', 'IP:127.0.0.1,DNS:router.lab');
  return { dir: ca.dir, caFile: ca.caFile, key: router.key, cert: router.cert, cleanup: () => ca.cleanup() };
}
