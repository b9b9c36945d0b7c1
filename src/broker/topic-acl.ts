// Deny by default: a device writes only under its own tree and reads only its own command
// topics. With prefix "devices" and device "ecg-1":
//   publish   devices/ecg-1/<anything>        except devices/ecg-1/cmd[/…] (commands come from the hospital)
//   subscribe devices/ecg-1/cmd[/…]           wildcards allowed only below cmd
// [issue 5 §1; reference broker-and-bridge.md §8: mosquitto `pattern write devices/%u/#`]

export type AclDecision = { allowed: true } | { allowed: false; reason: string };

export const COMMAND_LEVEL = 'cmd';

export class TopicAcl {
  readonly #prefix: string[];

  constructor(prefix: string) {
    this.#prefix = prefix.split('/').filter((level) => level !== '');
  }

  /** Topic of a device's own tree: devices/<name>. */
  deviceRoot(device: string): string {
    return [...this.#prefix, device].join('/');
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
    const fixed = [...this.#prefix, device, COMMAND_LEVEL];
    for (let i = 0; i < fixed.length; i++) {
      if (levels[i] === '#' && i >= fixed.length) break;
      if (levels[i] !== fixed[i]) return deny(`${filter} is not under ${fixed.join('/')}`);
    }
    return { allowed: true };
  }

  /** The device a topic belongs to (for command topics coming from the hospital), or undefined. */
  deviceOf(topic: string): string | undefined {
    const levels = topic.split('/');
    if (levels.length <= this.#prefix.length || !this.#prefix.every((level, i) => levels[i] === level)) return undefined;
    return levels[this.#prefix.length];
  }
}

function deny(reason: string): AclDecision {
  return { allowed: false, reason };
}
