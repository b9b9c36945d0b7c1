import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { silentDebugModule } from '../../src/silent-debug.js';

// The `debug` package is replaced by silent loggers unless DEBUG asks for traces, and the MQTT
// packet codec works the same with it (src/silent-debug.ts).

const SILENT_DEBUG = fileURLToPath(new URL('../../dist/silent-debug.js', import.meta.url));

t.test('silent loggers take any arguments, do nothing and say they are off', async (t) => {
  const createDebug = silentDebugModule();
  const log = createDebug('mqttjs:client');
  t.equal(log('publish %s to %s', Buffer.from('x'), 'topic'), undefined);
  t.equal(log.enabled, false);
  t.equal(log.extend('tcp').namespace, 'mqttjs:client:tcp');
  t.equal(createDebug.enabled('anything'), false);
});

/** What `require('debug')` gives the packages once dist/silent-debug.js ran, under `debugEnv`. */
function probe(debugEnv: string | undefined): Promise<{ silent: boolean; roundTrip: string }> {
  const script = `
    await import(${JSON.stringify(SILENT_DEBUG)});
    const { createRequire } = await import('node:module');
    const require = createRequire(${JSON.stringify(SILENT_DEBUG)});
    const mqttPacket = require('mqtt-packet');
    // what the packages that trace get: resolved from where they live
    const debug = createRequire(require.resolve('mqtt-packet'))('debug');
    if (debug !== createRequire(require.resolve('mqtt'))('debug')) throw new Error('mqtt and mqtt-packet load different debug modules');
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    let roundTrip = '';
    parser.on('packet', (p) => (roundTrip = p.topic + ' ' + p.payload.toString() + ' ' + p.properties.userProperties['usmp-msg-id']));
    parser.parse(mqttPacket.generate({ cmd: 'publish', topic: 'hospital/ecg-1/ecg', payload: Buffer.from('beat'), qos: 1, messageId: 7, retain: false, dup: false, properties: { userProperties: { 'usmp-msg-id': 'abc-7' } } }, { protocolVersion: 5 }));
    console.log(JSON.stringify({ silent: typeof debug.humanize !== 'function', roundTrip }));`;
  const env = { ...process.env };
  delete env['DEBUG'];
  if (debugEnv !== undefined) env['DEBUG'] = debugEnv;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { env }, (err, stdout) =>
      err ? reject(new Error(err.message, { cause: err })) : resolve(JSON.parse(stdout) as { silent: boolean; roundTrip: string }),
    );
  });
}

t.test('without DEBUG the packages get the silent module, and MQTT packets still go through', async (t) => {
  const outcome = await probe(undefined);
  t.equal(outcome.silent, true, 'require("debug") is the silent module');
  t.equal(outcome.roundTrip, 'hospital/ecg-1/ecg beat abc-7', 'a PUBLISH with its user property survives generate → parse');
});

t.test('with DEBUG set the real debug package is loaded, so traces still work', async (t) => {
  const outcome = await probe('mqttjs*');
  t.equal(outcome.silent, false, 'require("debug") is the real module');
  t.equal(outcome.roundTrip, 'hospital/ecg-1/ecg beat abc-7');
});
