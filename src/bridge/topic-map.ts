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

  /** The remote filter of every device's command topics. */
  remoteCommandFilter(commandLevel: string): string {
    return `${this.remote}+/${commandLevel}/#`;
  }
}

function withSlash(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}
