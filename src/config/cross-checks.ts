import type { ConfigProblem } from './problems.js';
import type { ConfigValues } from './load.js';

// Checks that involve more than one key live here, and only here.
export function crossCheck(values: ConfigValues): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const upstream = values.bridge.upstream;
  if (upstream.url !== '') {
    if (upstream.username === '') {
      problems.push({ path: 'bridge.upstream.username', message: 'is required when bridge.upstream.url is set (no anonymous MQTT)' });
    }
    if (upstream.password_file === '') {
      problems.push({ path: 'bridge.upstream.password_file', message: 'is required when bridge.upstream.url is set (no anonymous MQTT)' });
    }
  }
  const pool = values.responder;
  if (pool.iperf_pool_size < 1) {
    problems.push({ path: 'responder.iperf_pool_size', message: 'must be at least 1' });
  } else if (pool.iperf_port + pool.iperf_pool_size - 1 > 65535) {
    problems.push({ path: 'responder.iperf_pool_size', message: `pool ${pool.iperf_port}+${pool.iperf_pool_size} runs past port 65535` });
  }
  return problems;
}
