// Local ↔ remote topic names: the local prefix of the devices' tree is swapped for the remote
// one, e.g. devices/ecg-1/hr ↔ usmp/fr-075-fresnes/devices/ecg-1/hr. [like mosquitto's
// `topic pattern out qos local-prefix remote-prefix`, mosquitto.conf(5)]
export class TopicMap {
  readonly local: string;
  readonly remote: string;

  constructor(localPrefix: string, remotePrefix: string) {
    this.local = withSlash(localPrefix);
    this.remote = withSlash(remotePrefix);
  }

  toRemote(topic: string): string | undefined {
    return topic.startsWith(this.local) ? this.remote + topic.slice(this.local.length) : undefined;
  }

  toLocal(topic: string): string | undefined {
    return topic.startsWith(this.remote) ? this.local + topic.slice(this.remote.length) : undefined;
  }

  /**
   * The local topic of a hospital → device command: `<remote>/<device>/<level>[/…]` only, one
   * non-empty device level; anything else the hospital broker sends is not a command.
   */
  commandToLocal(topic: string, commandLevel: string): string | undefined {
    if (!topic.startsWith(this.remote)) return undefined;
    const [device, level] = topic.slice(this.remote.length).split('/');
    // [MQTT-4.7.1-1] wildcards and [MQTT-4.7.3-2] the null character have no place in a topic name
    // eslint-disable-next-line no-control-regex -- U+0000 is the character refused
    if (!device || level !== commandLevel || /[+#\u0000]/.test(topic)) return undefined;
    return this.local + topic.slice(this.remote.length);
  }

  /** The remote filter of every device's command topics. */
  remoteCommandFilter(commandLevel: string): string {
    return `${this.remote}+/${commandLevel}/#`;
  }
}

function withSlash(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}
