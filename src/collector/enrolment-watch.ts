import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { EnrolledKeys, loadEnrolments } from '../report/enrolled-keys.js';

// The enrolled appliances, re-read when the file changes (`collector enroll` takes effect at
// the next report, no restart). A damaged file is refused with its reason and the previous
// list kept; with no previous list, intake answers 503 until the file is fixed.

export function watchedEnrolments(path: string, log: Logger): () => EnrolledKeys {
  let keys: EnrolledKeys | undefined;
  let seenMtime = -1;
  let lastError: Error | undefined;
  return () => {
    let mtime: number;
    try {
      mtime = statSync(path).mtimeMs;
    } catch {
      mtime = 0;
    }
    if (mtime !== seenMtime) {
      seenMtime = mtime;
      try {
        keys = new EnrolledKeys(mtime === 0 ? [] : loadEnrolments(path));
        lastError = undefined;
        log.info({ event: 'collector.enrolments_loaded', path, appliances: keys.size }, `${keys.size} enrolled appliance key(s)`);
        const incomplete = keys.incomplete();
        if (incomplete.length > 0) {
          // named, and refused until set: a key without its establishment would speak for any site
          log.warn(
            { event: 'collector.enrolments_incomplete', path, keys: incomplete.map((e) => ({ key_id: e.key_id, appliance_id: e.appliance_id })) },
            `${incomplete.length} enrolled key(s) have no establishment code; their reports are refused until it is set (usmp-edge collector enroll … --establishment-code CODE): ${incomplete.map((e) => `${e.appliance_id} (${e.key_id})`).join(', ')}`,
          );
        }
      } catch (err) {
        lastError = err as Error;
        log.error(
          { event: 'collector.enrolments_refused', path, err: lastError.message },
          `enrolment file refused, ${keys ? 'keeping the previous list' : 'no report can be accepted'}`,
        );
      }
    }
    if (!keys) throw lastError ?? new Error(`no enrolment list at ${path}`);
    return keys;
  };
}
