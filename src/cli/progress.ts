import type { ProgressEvent } from '../qualify/run.js';

// Progress of a long run on stderr: one line rewritten in place on a terminal; in logs and CI,
// a line when a step starts or ends and at most one figure line every 5 s.

const PLAIN_FIGURE_EVERY_S = 5;

export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): (e: ProgressEvent) => void {
  const tty = stream.isTTY === true;
  let lastStep = -1;
  let lastFigureAt = -Infinity;
  return (e) => {
    const line = `[${e.elapsedS.toFixed(0).padStart(3)} s] ${e.done ? 'done' : `step ${e.index}/${e.total} ${e.label}`}${e.detail ? ` — ${e.detail}` : ''}`;
    if (tty) {
      stream.write(`\r\x1b[2K${line}${e.done ? '\n' : ''}`);
      return;
    }
    const newStep = e.index !== lastStep || e.done === true;
    if (!newStep && e.elapsedS - lastFigureAt < PLAIN_FIGURE_EVERY_S) return;
    lastStep = e.index;
    lastFigureAt = e.elapsedS;
    stream.write(`${line}\n`);
  };
}
