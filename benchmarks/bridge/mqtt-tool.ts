import mqtt, { type MqttClient } from 'mqtt';

// The benchmark's devices and hospital-side reader, as separate processes (so that they can run
// inside lab namespaces, and do not share a CPU with what they measure in one event loop).
//   publish URL CLIENTS TOTAL WINDOW RATE [USER:PASS,...]  → one JSON line of PUBACK figures
//   subscribe URL USER PASS FILTER TOTAL SESSION            → "ready", then one JSON line
// SEQ_BASE=n numbers the published messages from n; the reader reports seq ≥ 1e9 ("fresh",
// sent during a drain) apart.
// Payload: "<seq> <epoch ms with µs>" padded to 256 octets; latency = arrival − that stamp.

const [mode, ...args] = process.argv.slice(2);
const SEQ_BASE = Number(process.env['SEQ_BASE'] ?? 0);
const FRESH = 1_000_000_000;
const now = () => performance.timeOrigin + performance.now();

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function connect(url: string, options: mqtt.IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 500, connectTimeout: 10_000, ...options });
  return new Promise((resolve) => client.once('connect', () => resolve(client)));
}

if (mode === 'publish') {
  const [url, clientsArg, totalArg, windowArg, rateArg, credsArg] = args as [string, string, string, string, string, string | undefined];
  const creds = (credsArg ?? '')
    .split(',')
    .filter(Boolean)
    .map((c) => c.split(':') as [string, string]);
  const clients = await Promise.all(
    Array.from({ length: Number(clientsArg) }, (_, i) => {
      const [user, pass] = creds[i] ?? [`dev-${i}`, ''];
      // enrolled devices must use their name as client id; shared accounts get one id each
      const clientId = new Set(creds.map((c) => c[0])).size === creds.length ? user : `${user}-${i}`;
      return connect(url, { clientId, ...(pass ? { username: user, password: pass } : {}) });
    }),
  );
  const total = Number(totalArg);
  const window = Number(windowArg);
  const rate = Number(rateArg); // 0: as fast as the window allows
  const acks: number[] = [];
  let next = 0;
  const started = now();
  await Promise.all(
    clients.map(async (client, c) => {
      const topic = `devices/${creds[c]?.[0] ?? `dev-${c}`}/ecg`;
      const worker = async () => {
        for (;;) {
          const index = next++;
          if (index >= total) return;
          const seq = SEQ_BASE + index;
          if (rate > 0) {
            const due = started + (index / rate) * 1000;
            const wait = due - now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          }
          const sent = now();
          const payload = `${seq} ${sent.toFixed(3)} `.padEnd(256, 'x');
          await client.publishAsync(topic, payload, { qos: 1 });
          acks.push(now() - sent);
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.floor(window / clients.length)) }, worker));
    }),
  );
  const elapsed = (now() - started) / 1000;
  acks.sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({ published: total, seconds: elapsed, puback_per_s: total / elapsed, puback_p50_ms: percentile(acks, 50), puback_p99_ms: percentile(acks, 99) })}\n`,
  );
  await Promise.all(clients.map((c) => c.endAsync()));
} else if (mode === 'subscribe') {
  const [url, user, pass, filter, totalArg, session] = args as [string, string, string, string, string, string];
  const total = Number(totalArg);
  const seen = new Set<number>();
  const latencies: number[] = [];
  const fresh: number[] = [];
  let first = 0;
  let last = 0;
  let received = 0;
  const client = await connect(url, {
    clientId: session,
    username: user,
    password: pass,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 3600 },
  });
  await client.subscribeAsync(filter, { qos: 1 });
  process.stdout.write('ready\n');
  // progress for the bounded wait of whoever started us: what arrived so far
  setInterval(() => process.stderr.write(`progress ${seen.size} unique of ${total}, ${received} received\n`), 1000).unref();
  client.on('message', (_topic, payload) => {
    const at = now();
    received++;
    const [seq, stamp] = payload.toString().split(' ');
    if (seen.has(Number(seq))) return;
    seen.add(Number(seq));
    (Number(seq) >= FRESH ? fresh : latencies).push(at - Number(stamp));
    if (seen.size === 1) first = at;
    last = at;
    if (seen.size === total) {
      latencies.sort((a, b) => a - b);
      fresh.sort((a, b) => a - b);
      process.stdout.write(
        `${JSON.stringify({ unique: seen.size, received, first_at: first, last_at: last, e2e_p50_ms: percentile(latencies, 50), e2e_p99_ms: percentile(latencies, 99), fresh_p50_ms: percentile(fresh, 50), fresh_max_ms: fresh.at(-1) ?? NaN })}\n`,
      );
      void client.endAsync().then(() => process.exit(0));
    }
  });
} else {
  process.stderr.write('usage: mqtt-tool.ts publish|subscribe …\n');
  process.exit(2);
}
