/**
 * bench/e2e as a user runs it: it refuses a stack that is down or fixture ports that are taken,
 * with a clear message and exit code 2; a small drain reaches every decision and leaves no topic,
 * registry subject or read-model schema of its own behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { freePort } from '../support/ports.ts';

async function bench(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench/e2e/index.ts'), ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

test('bench e2e refuses to run against a stack whose broker does not answer', async () => {
  const { code, output } = await bench(['--rows', '10', '--only', 'drain-all'], { KAFKA_BROKERS: `127.0.0.1:${await freePort()}` });
  assert.equal(code, 2, output);
  assert.match(output, /the local stack is down: Kafka at 127\.0\.0\.1:\d+ does not answer .*make stack-up/);
});

test('bench e2e refuses to run when a lookup fixture port is taken', async (t) => {
  const config = loadConfig();
  const port = Number(new URL(config.lookups.endpoints.parcels).port);
  const squatter = createServer().listen(port, '127.0.0.1');
  await once(squatter, 'listening');
  t.after(() => squatter.close());
  const { code, output } = await bench(['--rows', '10', '--only', 'drain-all']);
  assert.equal(code, 2, output);
  assert.match(output, new RegExp(`port ${port} is taken: the bench starts its own ArcGIS fixture`));
});

test('a small drain decides every application and leaves nothing of its own behind', async (t) => {
  const config = loadConfig();
  const admin = createKafka(config, createLogger({ level: 'warn' })).admin();
  await admin.connect();
  const db = new pg.Client({ connectionString: config.database.url });
  await db.connect();
  t.after(async () => {
    await admin.disconnect();
    await db.end();
  });
  const benchTopics = async () => new Set((await admin.listTopics()).filter((n) => /^e2e[0-9a-f]{8}\./.test(n)));
  const benchSchemas = async () => new Set((await db.query<{ n: string }>("SELECT nspname AS n FROM pg_namespace WHERE nspname LIKE 'e2e\\_%'")).rows.map((r) => r.n));
  const benchSubjects = async () => new Set(((await (await fetch(`${config.registry.url}/subjects`)).json()) as string[]).filter((s) => /^e2e[0-9a-f]{8}\./.test(s)));
  const before = { topics: await benchTopics(), schemas: await benchSchemas(), subjects: await benchSubjects() };

  const out = mkdtempSync(join(tmpdir(), 'bench-e2e-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const { code, output } = await bench(['--rows', '40', '--only', 'drain-all', '--out', out]);
  assert.equal(code, 0, output);
  const [json] = readdirSync(out).filter((f) => f.endsWith('.json'));
  const results = JSON.parse(readFileSync(join(out, json!), 'utf8')) as { drains: { decided: number; deadLettered: number; decisionsPerSecond: number; spans: { state: string; records: number }[] }[] };
  const [drain] = results.drains;
  assert.equal(drain?.decided, 40, output);
  assert.equal(drain.deadLettered, 0);
  assert.ok(drain.decisionsPerSecond > 0);
  assert.deepEqual(drain.spans.filter((s) => s.state === 'received' || s.state === 'enriched').map((s) => s.records), [40, 40]);
  assert.match(output, /\| permitflow drain, `run all` \(one process\) \| /);

  assert.deepEqual(await benchTopics(), before.topics, 'topics left behind');
  assert.deepEqual(await benchSchemas(), before.schemas, 'read-model schemas left behind');
  assert.deepEqual(await benchSubjects(), before.subjects, 'registry subjects left behind');
});
