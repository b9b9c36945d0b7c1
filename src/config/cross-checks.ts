import type { ConfigProblem } from './problems.js';
import type { ConfigValues } from './load.js';
import { autorateProblems } from '../qos/autorate/settings.js';
import { parsePolicy } from '../qos/policy.js';

// Checks that involve more than one key live here, and only here.
export function crossCheck(values: ConfigValues): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const upstream = values.bridge.upstream;
  if (upstream.url !== '') {
    if (upstream.username === '') {
      problems.push({ path: 'bridge.upstream.username', message: 'is required when bridge.upstream.url is set (no anonymous MQTT)' });
    }
    if (upstream.password_file === '' && upstream.cert_file === '') {
      problems.push({
        path: 'bridge.upstream.password_file',
        message: 'is required when bridge.upstream.url is set (no anonymous MQTT), unless a client certificate (bridge.upstream.cert_file) is given',
      });
    }
    if ((upstream.cert_file === '') !== (upstream.key_file === '')) {
      problems.push({ path: 'bridge.upstream.key_file', message: 'a client certificate needs both bridge.upstream.cert_file and bridge.upstream.key_file' });
    }
  }
  const pool = values.responder;
  if (pool.iperf_pool_size < 1) {
    problems.push({ path: 'responder.iperf_pool_size', message: 'must be at least 1' });
  } else if (pool.iperf_port + pool.iperf_pool_size - 1 > 65535) {
    problems.push({ path: 'responder.iperf_pool_size', message: `pool ${pool.iperf_port}+${pool.iperf_pool_size} runs past port 65535` });
  }
  const station = values.station;
  if (station.session_minutes < 1 || station.session_minutes > 240) problems.push({ path: 'station.session_minutes', message: 'must be within 1..240' });
  if (station.streams < 2 || station.streams > 5)
    problems.push({ path: 'station.streams', message: 'must be within 2..5 (a browser opens 6 connections per server)' });
  const qos = values.qos;
  // A policy is configured as soon as it has classes; then every part of it must hold.
  if (qos.classes.length > 0) {
    const { policy, problems: policyProblems } = parsePolicy(qos);
    problems.push(...policyProblems);
    problems.push(...autorateProblems(qos.autorate, policy, qos.check_target || values.monitor.target || values.qualify.target));
  }
  if (qos.backend === 'linux' && qos.classes.length > 0 && values.deployment.mode === 'one-armed') {
    problems.push({
      path: 'qos.backend',
      message:
        'linux shapes the traffic that crosses the appliance, and in deployment.mode one-armed none does: set deployment.mode to inline-bridge or inline-router (and cable it so), or use qos.backend routeros',
    });
  }
  if (qos.backend === 'linux' && values.deployment.mode !== 'one-armed' && qos.linux.wan_interface === qos.linux.lan_interface) {
    problems.push({
      path: 'qos.linux.lan_interface',
      message: `is the same as qos.linux.wan_interface ("${qos.linux.wan_interface}"); ${values.deployment.mode} needs the unit's side and the site router's side`,
    });
  }
  if (qos.backend === 'routeros' && qos.routeros.host !== '') {
    if (qos.routeros.username === '') problems.push({ path: 'qos.routeros.username', message: 'is required when qos.routeros.host is set' });
    if (qos.routeros.password_file === '') problems.push({ path: 'qos.routeros.password_file', message: 'is required when qos.routeros.host is set' });
  }
  return problems;
}
