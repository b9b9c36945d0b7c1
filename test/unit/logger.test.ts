import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger, moduleLogger } from '../../src/log/logger.js';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

t.test('NDJSON lines with module bindings, level filtering and ISO time', async (t) => {
  const sink = capture();
  const log = createLogger({ level: 'info', pretty: 'never', fd: 1, destination: sink.stream });
  moduleLogger(log, 'qualify').info({ step: 'rtt' }, 'started');
  log.debug('hidden');
  const [line, ...rest] = sink.lines();
  t.equal(rest.length, 0, 'debug filtered at info');
  t.match(line, { level: 30, module: 'qualify', step: 'rtt', msg: 'started', name: 'usmp-edge' });
  t.match(String(line?.['time']), /^\d{4}-\d\d-\d\dT/);
});

t.test('secrets are redacted at any depth we log', async (t) => {
  const sink = capture();
  const log = createLogger({ level: 'info', pretty: 'never', fd: 1, destination: sink.stream });
  log.info({ password: 'p1', upstream: { password: 'p2', token: 't3' }, router: { session: { private_key: 'k4' } } }, 'x');
  const text = JSON.stringify(sink.lines());
  for (const secret of ['p1', 'p2', 't3', 'k4']) t.notMatch(text, new RegExp(`"${secret}"`), `${secret} redacted`);
  t.match(text, /\[Redacted\]/);
});
