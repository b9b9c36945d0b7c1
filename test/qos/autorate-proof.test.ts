import t from 'tap';
import { ADDRESSES, Lab, labUnavailableReason, startIperfServer } from '../lab/index.js';
import { startResponder } from '../lab/cli-in-lab.js';
import { writeQosConfig } from './fixtures.js';
import { VERIFY_LIMITS } from '../../src/qos/verify.js';
import { autoratePolicy, bestEffortBeforeMbps, calmAfterS, regainedAfterS, runPhase, VOICE_PORT } from './autorate-scenario.js';

// Fixed shaping against autorate, side by side in one lab: the 20/20 Mbit/s link halves while
// best effort saturates it; the call in the video class is timed throughout (autorate-scenario.ts).

const unavailable = labUnavailableReason();

await t.test('autorate follows a link that halves and comes back; fixed shaping does not', unavailable ? { skip: unavailable } : {}, async (t) => {
  const lab = await Lab.create({ up: { rateMbit: 20, bufferMs: 50 }, down: { rateMbit: 20, bufferMs: 50 }, wireSizedPackets: true });
  const config = writeQosConfig(autoratePolicy(false));
  t.teardown(async () => {
    await lab.destroy();
    config.cleanup();
  });
  await startResponder(lab, ['--iperf-pool', '1']);
  lab.spawn('hospital', ['irtt', 'server', '-b', `${ADDRESSES.hospital}:${VOICE_PORT}`, '-i', '0']);
  await startIperfServer(lab, 5301);
  await startIperfServer(lab, 5302);

  const fixed = await runPhase(lab, config, { autorate: false, halvedS: 15, restoredS: 0 });
  t.comment(`fixed: call +ms per 5 s: ${fixed.increaseMs.map((w) => w.ms).join(' ')} (halved at ${fixed.halveAtS.toFixed(1)} s)`);
  const fixedHalved = fixed.increaseMs.filter((w) => w.fromS >= fixed.halveAtS + 5);
  t.ok(
    fixedHalved.every((w) => w.ms > VERIFY_LIMITS.rttIncreaseMs),
    `fixed shaping: once halved, the call waits in the modem's queue (+${fixedHalved.map((w) => w.ms).join(', +')} ms)`,
  );

  const auto = await runPhase(lab, config, { autorate: true, halvedS: 35, restoredS: 40 });
  t.comment(
    `autorate: call +ms per 5 s: ${auto.increaseMs.map((w) => w.ms).join(' ')} (halved at ${auto.halveAtS.toFixed(1)} s, restored at ${auto.restoreAtS?.toFixed(1)} s)`,
  );
  t.comment(
    `autorate: ${auto.changes} rate changes; the last: ${auto.rates
      .slice(-12)
      .map((r) => `${r.atS}s ${r.direction} ${r.mbps}`)
      .join('; ')}`,
  );
  const calm = calmAfterS(auto, VERIFY_LIMITS.rttIncreaseMs);
  t.ok(calm !== undefined && calm <= 30, `autorate: the call is back under ${VERIFY_LIMITS.rttIncreaseMs} ms ${calm} s after the halving, and stays`);
  const regained = regainedAfterS(auto, 0.9);
  t.ok(
    regained !== undefined && regained <= 60,
    `link restored: best effort regains 90 % of its ${bestEffortBeforeMbps(auto).toFixed(1)} Mbit/s (up+down) ${regained} s later`,
  );
});
