import { statSync, type Stats } from 'node:fs';
import { UsmpError } from '../errors.js';

// A secret file is trusted only when nobody but its owner and group can read it, and its owner
// is the user reading it or root (root:usmp-edge 0640 is the packaged layout). What to run is in
// the message: the mode is the usual mistake (a file made by `echo … > file` is 0644).

export interface SecretFileAccess {
  stat?: (path: string) => Stats;
  uid?: number;
}

export function checkSecretFileAccess(file: string, access: SecretFileAccess = {}): void {
  const info = (access.stat ?? statSync)(file);
  const uid = access.uid ?? process.getuid?.() ?? 0;
  const mode = info.mode & 0o777;
  if (mode & 0o007) {
    throw new UsmpError(
      'USMP_E_SECRET_FILE_UNSAFE',
      `secret file ${file} is open to other users (mode ${mode.toString(8).padStart(4, '0')}); run: chmod ${mode & 0o040 ? '640' : '600'} ${file}`,
    );
  }
  if (info.uid !== uid && info.uid !== 0) {
    throw new UsmpError(
      'USMP_E_SECRET_FILE_UNSAFE',
      `secret file ${file} belongs to user ${info.uid}, not to this service's user (${uid}) or root; run: chown ${uid} ${file}`,
    );
  }
}
