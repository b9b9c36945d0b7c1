import type { QosObject } from '../objects.js';
import { COMMENT_PREFIX, MENUS, REMOVAL_ORDER, menuOf, type Family, type MenuKind } from './objects.js';

// The roll-back that lives on the router: a /system script that removes every object of ours
// and re-adds the snapshot, run by a /system scheduler at the confirm deadline unless we
// remove the scheduler first (RouterOS has no commit-confirmed; its Safe Mode undoes only the
// changes of a session that dies, not those of one that cut the link and lived).
// Console syntax [help.mikrotik.com "Scripting"]; the simulator in test/qos/ runs exactly these
// line forms. The script first removes its scheduler, so that it runs once whatever happens
// after; then every step runs inside :do {} on-error={}, because a command that fails ends a
// script, and one object that cannot be restored must not keep the others from it.

export const ROLLBACK_NAME = 'usmp-qos-rollback';
/** Confirmed changes leave their roll-back as usmp-qos-previous-<n>: the undo history. */
export const PREVIOUS_PREFIX = 'usmp-qos-previous-';
export const HISTORY_DEPTH = 5;
/**
 * The policies the script and its scheduler run with, set explicitly: left out, RouterOS gives
 * them every policy, which an account restricted to read,write,api,test may not grant
 * [help.mikrotik.com "Scripting" §Scheduler, "User" §Groups].
 */
export const SCRIPT_POLICY = 'read,write';

export function scriptComment(armId: string): string {
  return `${COMMENT_PREFIX}script:${armId}`;
}

/**
 * Where restored rules go, as apply places them: mangle rules before the site's first static
 * rule, FastTrack exclusions before the static fasttrack rule. Dynamic rules (FastTrack's
 * counter rule, PPP's change-mss) cannot be named by place-before.
 */
export const BEFORE_FIRST_FOREIGN = `[:pick [find where !(comment~"^${COMMENT_PREFIX}") && dynamic=no] 0]`;
export const BEFORE_FASTTRACK = '[:pick [find where action="fasttrack-connection" && dynamic=no] 0]';

export function rollbackScript(snapshot: readonly QosObject[], armId: string, foreignMangle: Record<Family, boolean>): string {
  const lines: string[] = [`/system scheduler remove [find where name="${ROLLBACK_NAME}"]`];
  for (const kind of REMOVAL_ORDER) lines.push(guarded(`${consolePath(MENUS[kind])} remove [find where comment~"^${COMMENT_PREFIX}"]`, `remove ${kind}`));
  for (const kind of [...REMOVAL_ORDER].reverse()) {
    for (const o of snapshot.filter((x) => menuOf(x.key) === kind)) {
      const args = Object.entries(o.props).map(([k, v]) => `${k}=${quote(v)}`);
      if (kind === 'filter' || kind === 'filter6') args.push(`place-before=${BEFORE_FASTTRACK}`);
      if (isMangle(kind) && foreignMangle[kind === 'mangle' ? 4 : 6]) args.push(`place-before=${BEFORE_FIRST_FOREIGN}`);
      args.push(`comment=${quote(COMMENT_PREFIX + o.key)}`);
      lines.push(guarded(`${consolePath(MENUS[kind])} add ${args.join(' ')}`, `restore ${o.key}`));
    }
  }
  lines.push(`/system script remove [find where comment="${scriptComment(armId)}"]`);
  return `${lines.join('\n')}\n`;
}

function isMangle(kind: MenuKind): boolean {
  return kind === 'mangle' || kind === 'mangle6';
}

function guarded(command: string, what: string): string {
  return `:do { ${command} } on-error={ :log warning ${quote(`usmp-qos roll-back: ${what} failed`)} }`;
}

/** /ip/firewall/mangle → /ip firewall mangle */
export function consolePath(apiPath: string): string {
  return `/${apiPath.slice(1).split('/').join(' ')}`;
}

/** [ROS scripting "Constants"] inside "…", \ " and $ are escaped. */
function quote(value: string): string {
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}
