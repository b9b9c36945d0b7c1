import { bufferBytes, type LinkImpairment } from './link-model.js';

// The rate limiter of one direction: htb on the egress of the router's interface, with a
// byte-limited FIFO behind it. htb charges each packet its length from the Ethernet header on
// (no FCS, preamble or gap), so TCP gets at most MSS/(MSS+66) of the rate: 1448/1514 = 95.6 %.
// [tc-htb(8)]

/** The best plain TCP gets through the shaper: MSS 1448 (with timestamps) per 1514-octet frame. */
export const TCP_SHARE_OF_HTB_RATE = 1448 / 1514;

export const SHAPER_HANDLE = '1:';
export const SHAPER_CLASS = '1:10';

/** The root htb qdisc; htb cannot be "replaced" by itself, so add it only when absent. */
export function shaperRootCommand(dev: string, link: LinkImpairment = {}): string[] {
  const t = link.sizeTable;
  const stab = t ? ['stab', 'linklayer', t.linklayer, 'overhead', String(t.overhead), 'mpu', String(t.mpu ?? 0)] : [];
  return ['tc', 'qdisc', 'add', 'dev', dev, 'root', 'handle', SHAPER_HANDLE, ...stab, 'htb', 'default', '10'];
}

/** Is our root there, with the size table asked for (`tc -d qdisc show` prints it)? */
export function hasShaperRoot(tcQdiscShowDetails: string, link: LinkImpairment = {}): boolean {
  if (!/qdisc htb 1: root/.test(tcQdiscShowDetails)) return false;
  const t = link.sizeTable;
  const printed = /linklayer (\w+) overhead (-?\d+)/.exec(tcQdiscShowDetails);
  if (!t) return printed === null;
  return printed !== null && printed[1] === t.linklayer && Number(printed[2]) === t.overhead;
}

/** tc argv lists that set the class and its queue under the root (idempotent). */
export function shaperCommands(dev: string, link: LinkImpairment): string[][] {
  if (link.rateMbit === undefined) return [];
  const rate = `${Math.round(link.rateMbit * 1e6)}bit`;
  // burst of ~1 ms of the rate (at least 4 frames) keeps htb accurate at 100 Mbit/s and more
  // on a virtual machine whose timers are coarse.
  const burstBytes = Math.max(4 * 1514, Math.round((link.rateMbit * 1e6) / 8 / 1000));
  return [
    [
      'tc',
      'class',
      'replace',
      'dev',
      dev,
      'parent',
      SHAPER_HANDLE,
      'classid',
      SHAPER_CLASS,
      'htb',
      'rate',
      rate,
      'ceil',
      rate,
      'burst',
      `${burstBytes}b`,
      'cburst',
      `${burstBytes}b`,
      'quantum',
      '1514',
    ],
    ['tc', 'qdisc', 'replace', 'dev', dev, 'parent', SHAPER_CLASS, 'handle', '10:', 'bfifo', 'limit', `${bufferBytes(link)}b`],
  ];
}

/** Removing the root qdisc restores the device default; "not found" is not an error here. */
export function unshapeCommand(dev: string): string[] {
  return ['tc', 'qdisc', 'del', 'dev', dev, 'root'];
}
