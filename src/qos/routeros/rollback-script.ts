import type { QosObject } from '../objects.js';
import { COMMENT_PREFIX, MENUS, REMOVAL_ORDER, menuOf } from './objects.js';

// The roll-back that lives on the router: a /system script that removes every object of ours
// and re-adds the snapshot, run by a /system scheduler at the confirm deadline unless we
// remove the scheduler first (RouterOS has no commit-confirmed; its Safe Mode undoes only the
// changes of a session that dies, not those of one that cut the link and lived).
// Console syntax; the simulator in test/qos/ runs exactly these line forms.

export const ROLLBACK_NAME = 'usmp-qos-rollback';
/** Confirmed changes leave their roll-back as usmp-qos-previous-<n>: the undo history. */
export const PREVIOUS_PREFIX = 'usmp-qos-previous-';
export const HISTORY_DEPTH = 5;

export function scriptComment(armId: string): string {
  return `${COMMENT_PREFIX}script:${armId}`;
}

/** Where restored mangle rules go: before the site's first rule, as apply places them. */
export const BEFORE_FIRST_FOREIGN = `[:pick [find where !(comment~"^${COMMENT_PREFIX}")] 0]`;
export const BEFORE_FASTTRACK = '[:pick [find where action="fasttrack-connection"] 0]';

export function rollbackScript(snapshot: readonly QosObject[], armId: string, foreignMangle: boolean): string {
  const lines: string[] = [];
  for (const kind of REMOVAL_ORDER) lines.push(`${consolePath(MENUS[kind])} remove [find where comment~"^${COMMENT_PREFIX}"]`);
  for (const kind of [...REMOVAL_ORDER].reverse()) {
    for (const o of snapshot.filter((x) => menuOf(x.key) === kind)) {
      const args = Object.entries(o.props).map(([k, v]) => `${k}=${quote(v)}`);
      if (kind === 'filter') args.push(`place-before=${BEFORE_FASTTRACK}`);
      if (kind === 'mangle' && foreignMangle) args.push(`place-before=${BEFORE_FIRST_FOREIGN}`);
      args.push(`comment=${quote(COMMENT_PREFIX + o.key)}`);
      lines.push(`${consolePath(MENUS[kind])} add ${args.join(' ')}`);
    }
  }
  lines.push(`/system scheduler remove [find where name="${ROLLBACK_NAME}"]`);
  lines.push(`/system script remove [find where comment="${scriptComment(armId)}"]`);
  return `${lines.join('\n')}\n`;
}

/** /ip/firewall/mangle → /ip firewall mangle */
export function consolePath(apiPath: string): string {
  return `/${apiPath.slice(1).split('/').join(' ')}`;
}

/** [ROS scripting "Constants"] inside "…", \ " and $ are escaped. */
function quote(value: string): string {
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}
