// Deny by default: a device writes only under its own tree and reads only its own command
// topics. With prefix "devices" and device "ecg-1":
//   publish   devices/ecg-1/<anything>        except devices/ecg-1/cmd[/…] (commands come from the hospital)
//   subscribe devices/ecg-1/cmd[/…]           wildcards allowed only below cmd
// and, for the supervision clients named as alert readers only, the monitor's topics
//   subscribe usmp-edge/monitor[/…]           (retained link state, alert events)
// The same rule as mosquitto's `pattern write devices/%u/#` (mosquitto.conf(5), "pattern").

export type AclDecision = { allowed: true } | { allowed: false; reason: string };

export const COMMAND_LEVEL = 'cmd';

export class TopicAcl {
  readonly #prefix: string[];
  readonly #readers: ReadonlySet<string>;
  readonly #monitorRoot: string[];

  constructor(prefix: string, alertReaders: readonly string[] = [], monitorRoot = 'usmp-edge/monitor') {
    this.#prefix = prefix.split('/').filter((level) => level !== '');
    this.#readers = new Set(alertReaders);
    this.#monitorRoot = monitorRoot.split('/').filter((level) => level !== '');
  }

  /** Topic of a device's own tree: devices/<name>. */
  deviceRoot(device: string): string {
    return [...this.#prefix, device].join('/');
  }

  /** The device whose tree `topic` is in (`<prefix>/<device>/…`), or undefined. */
  deviceOf(topic: string): string | undefined {
    const levels = topic.split('/');
    if (levels.length <= this.#prefix.length + 1 || this.#prefix.some((level, i) => levels[i] !== level)) return undefined;
    return levels[this.#prefix.length] || undefined;
  }

  canPublish(device: string, topic: string): AclDecision {
    if (topic.startsWith('$')) return deny(`${topic} is a reserved topic`);
    const levels = topic.split('/');
    const own = [...this.#prefix, device];
    if (levels.length <= own.length || !own.every((level, i) => levels[i] === level)) {
      return deny(`${topic} is outside ${own.join('/')}/`);
    }
    if (levels[own.length] === COMMAND_LEVEL) return deny(`${topic} is a command topic (hospital → device only)`);
    if (levels.some((level) => level === '')) return deny(`${topic} has an empty level`);
    return { allowed: true };
  }

  canSubscribe(device: string, filter: string): AclDecision {
    const levels = filter.split('/');
    if (this.#readers.has(device) && this.#monitorRoot.every((level, i) => levels[i] === level)) return { allowed: true };
    const fixed = [...this.#prefix, device, COMMAND_LEVEL];
    // the levels down to cmd must be literal (no + or # there); below it, anything
    if (fixed.some((level, i) => levels[i] !== level)) return deny(`${filter} is not under ${fixed.join('/')}`);
    return { allowed: true };
  }
}

function deny(reason: string): AclDecision {
  return { allowed: false, reason };
}
