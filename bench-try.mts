import { openCollectorDatabase } from './src/collector/sql/open-database.ts';
import { SqlTelemetryStore } from './src/collector/sql-telemetry-store.ts';
import { siteFixture } from './test/fixtures/national-reports.ts';
import { summaryOf } from './test/fixtures/telemetry-documents.ts';
import { PostgresServer } from './test/fixtures/postgres-server.ts';
const sites = Array.from({ length: 10 }, (_, i) => siteFixture(i));
const h0 = Math.floor(Date.now() / 3.6e6) * 3.6e6;
async function load(db) {
  const store = new SqlTelemetryStore(db);
  const t0 = Date.now(); let n = 0;
  for (let b = 0; b < 10; b++) {
    const docs = [];
    for (let k = 0; k < 1000; k++) { const i = b * 1000 + k; docs.push(summaryOf(sites[i % 10]!, i, h0 - Math.floor(i / 10) * 3.6e6)); }
    await store.addMany(docs, new Date()); n += docs.length;
  }
  return (n / ((Date.now() - t0) / 1000)).toFixed(0);
}
const pg = await PostgresServer.start();
const a = await pg.createDatabase('bench');
const p = await openCollectorDatabase({ kind: 'postgres', url: a.url, password: a.password, poolSize: 4, onPoolError: console.error });
console.log('pg addMany/s', await load(p)); await p.close(); await pg.stop();
