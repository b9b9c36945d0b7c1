import { UsmpError } from '../errors.js';
import { systemRunner } from '../exec/process-runner.js';
import type { LoadedConfig } from '../config/load.js';
import { runStampSession } from '../measure/stamp/sender.js';
import { configuredCredentials } from '../responder/appliance-credentials.js';
import type { BackendName, QosBackend } from './backend.js';
import { LinuxQosBackend } from './linux/backend.js';
import { parsePolicy, type QosPolicy } from './policy.js';
import { RouterOsQosBackend } from './routeros/backend.js';
import { autorateSettings } from './autorate/settings.js';
import { readAutorateFile } from './autorate/state-file.js';
import { connectRouter } from './routeros/connect.js';

// Builds the configured policy and backend from the loaded configuration.

export function policyFromConfig(config: LoadedConfig): QosPolicy {
  const qos = config.values.qos;
  if (qos.classes.length === 0 || qos.up_mbps === 0 || qos.down_mbps === 0) {
    throw new UsmpError('USMP_E_QOS_NO_POLICY', `no QoS policy in ${config.source ?? 'the configuration'} (qos.classes is empty or the link rates are 0)`);
  }
  const { policy, problems } = parsePolicy(qos);
  if (!policy) throw new UsmpError('USMP_E_CONFIG_INVALID', 'the QoS policy is not valid', { details: { problems } });
  if (qos.autorate.enabled) {
    // The rates autorate set last are the ones in force (within the bounds configured now).
    const file = readAutorateFile(qos.state_dir);
    const settings = autorateSettings(qos.autorate, policy);
    if (file) {
      policy.autorateMbps = {
        up: Math.min(settings.maxMbps.up, Math.max(settings.floorMbps.up, file.rates_mbps.up)),
        down: Math.min(settings.maxMbps.down, Math.max(settings.floorMbps.down, file.rates_mbps.down)),
      };
    }
  }
  return policy;
}

/** The hospital responder probed to confirm a change; '' when none is configured (plan, status). */
export function configuredCheckTarget(config: LoadedConfig): string {
  return config.values.qos.check_target || config.values.qualify.target;
}

export function checkTarget(config: LoadedConfig): string {
  const target = config.values.qos.check_target || config.values.qualify.target;
  if (!target)
    throw new UsmpError('USMP_E_QOS_NO_POLICY', 'no hospital address to confirm a change against', {
      hint: 'set qos.check_target (or qualify.target) to the hospital responder',
    });
  return target;
}

export async function backendFromConfig(config: LoadedConfig, name: BackendName = config.values.qos.backend): Promise<QosBackend> {
  const qos = config.values.qos;
  if (name === 'linux') {
    const credentials = configuredCredentials(config.secrets);
    return new LinuxQosBackend({
      runner: systemRunner,
      interfaces: { wan: qos.linux.wan_interface, lan: qos.linux.lan_interface },
      stateDir: qos.state_dir,
      nftFamily: config.values.deployment.mode === 'inline-bridge' ? 'bridge' : 'inet',
      checkTarget: configuredCheckTarget(config),
      checkPort: qos.check_port,
      probe: async (target, port) => {
        const s = await runStampSession({
          ...(credentials ? { credential: credentials.stamp } : {}),
          target,
          port,
          count: 20,
          intervalMs: 20,
          size: 44,
          waitMs: 1000,
        });
        return { sent: s.sent, received: s.records.filter((r) => r.receivedNs !== undefined).length };
      },
    });
  }
  const ros = qos.routeros;
  if (!ros.host) throw new UsmpError('USMP_E_CONFIG_INVALID', 'qos.routeros.host is empty', { hint: 'set qos.routeros.host, username and password_file' });
  const session = await connectRouter({
    host: ros.host,
    port: ros.port,
    tls: ros.tls,
    caFile: ros.ca_file,
    username: ros.username,
    password: config.secrets.get('qos.routeros.password') ?? '',
    commandTimeoutMs: ros.command_timeout_ms,
  });
  const backend = new RouterOsQosBackend({
    session,
    interfaces: { wan: ros.wan_interface, lan: ros.lan_interface, ...(ros.queue_kind ? { queueKind: ros.queue_kind } : {}) },
    checkTarget: configuredCheckTarget(config),
    username: ros.username,
  });
  try {
    await backend.prepare();
  } catch (err) {
    await backend.close();
    throw err;
  }
  return backend;
}
