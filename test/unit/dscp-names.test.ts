import t from 'tap';
import { DSCP_BY_NAME, dscpName, dscpValue } from '../../src/measure/dscp-names.js';

// One table for every DSCP name: values from RFC 2474 (CSn = n << 3), RFC 2597 (AFxy =
// 8x + 2y), RFC 3246 (EF 46) and RFC 5865 (VOICE-ADMIT 44).

t.test('values follow the RFCs', async (t) => {
  for (let n = 0; n <= 7; n++) t.equal(DSCP_BY_NAME[`CS${n}`], n << 3, `CS${n}`);
  for (let x = 1; x <= 4; x++) for (let y = 1; y <= 3; y++) t.equal(DSCP_BY_NAME[`AF${x}${y}`], 8 * x + 2 * y, `AF${x}${y}`);
  t.equal(DSCP_BY_NAME['EF'], 46);
  t.equal(DSCP_BY_NAME['VA'], 44);
});

t.test('names both ways', async (t) => {
  t.equal(dscpName(12), 'AF12', 'AF12 is named, as the policy names it');
  t.equal(dscpName(46), 'EF');
  t.equal(dscpName(5), 'DSCP 5');
  t.equal(dscpValue('af41'), 34);
  t.equal(dscpValue('toString'), undefined, 'no inherited name');
  t.equal(dscpValue('XX'), undefined);
  for (const [name, value] of Object.entries(DSCP_BY_NAME)) t.equal(dscpValue(dscpName(value)), value, `${name} round-trips`);
});
