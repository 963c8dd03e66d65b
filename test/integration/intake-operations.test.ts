/**
 * The intake as operated on the real stack: backpressure from the windower group's real lag,
 * per-client rate limits shared by two instances through Redis, graceful shutdown under load
 * (every 202 is on the raw topic), and `permitflow intake` stopping cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createApiKey } from '../../connectors/intake/api-keys.ts';
import { startIntake } from '../../connectors/intake/server.ts';
import { createKafka } from '../../lib/kafka.ts';
import { eventually, intakeOnStack, logger } from '../support/intake-stack.ts';
import { sampleApplications } from '../support/samples.ts';
import { freePort } from '../support/ports.ts';
import { spawnCli } from '../support/cli.ts';

const unique = () => JSON.stringify({ ...sampleApplications()[0]!, sourceReference: `IT-${randomBytes(6).toString('hex')}` });
const post = (url: string, key: string, body = unique()) =>
  fetch(`${url}/v1/submissions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });

test('lag of the windower group above the threshold sheds POSTs with 503 and Retry-After; consuming it reopens the intake', async (t) => {
  const s = await intakeOnStack(t, { INTAKE_LAG_THRESHOLD: '3', INTAKE_LAG_POLL_MS: '200', INTAKE_RETRY_AFTER_MAX_S: '30' });
  let accepted = 0;
  for (let i = 0; i < 4; i++) accepted += (await post(s.intake.url, s.keys.portal)).status === 202 ? 1 : 0;
  assert.equal(accepted, 4);

  // No windower consumes this namespace: its lag is the records above, over the threshold, and nothing drains.
  // Until the next lag poll the intake still accepts.
  const shed = await eventually('a 503', async () => {
    const res = await post(s.intake.url, s.keys.portal);
    if (res.status === 202) accepted++;
    return res.status === 503 ? res : undefined;
  });
  assert.equal(shed.headers.get('retry-after'), '30', 'not draining: the maximum');
  assert.equal(((await shed.json()) as { type: string }).type, 'urn:permitflow:problem:backpressure');
  assert.equal(await s.rawCount(), accepted, 'a shed request writes nothing');

  const admin = createKafka(s.config, logger).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const topic = s.topology.topics.raw.name;
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.setOffsets({ groupId: s.topology.group('windower'), topic, partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })) });
  await eventually('the intake to reopen', async () => ((await post(s.intake.url, s.keys.portal)).status === 202 ? true : undefined));
});

test("a client's rate limit is shared by two intake instances through Redis", async (t) => {
  const s = await intakeOnStack(t);
  const second = await startIntake(s.config, { logger, port: 0 });
  t.after(() => second.close());
  const limited = createApiKey(s.config.intake.apiKeysFile, { client: 'limited-tool', scopes: ['submit'], rateLimitPerSecond: 3 });
  // Both instances pick the new key up from the watched file.
  for (const url of [s.intake.url, second.url]) await eventually(`the new key at ${url}`, async () => ((await post(url, limited.key)).status !== 401 ? true : undefined));

  // Use up the budget on the first instance; within the same one-second window the second refuses too.
  let sharedRefusal: Response | undefined;
  for (let attempt = 0; attempt < 3 && !sharedRefusal; attempt++) {
    await eventually('the first instance to refuse', async () => ((await post(s.intake.url, limited.key)).status === 429 ? true : undefined), 5000);
    const res = await post(second.url, limited.key);
    if (res.status === 429) sharedRefusal = res;
  }
  assert.ok(sharedRefusal, 'the second instance never saw the budget spent on the first');
  assert.ok(Number(sharedRefusal.headers.get('retry-after')) >= 1);
  // Other clients are not affected.
  assert.equal((await post(second.url, s.keys.portal)).status, 202);
});

test('graceful shutdown under load: every request answered 202 is on the raw topic', async (t) => {
  const s = await intakeOnStack(t);
  const draining = await startIntake(s.config, { logger, port: 0 });
  let firstDone!: () => void;
  const oneAnswered = new Promise<void>((r) => (firstDone = r));
  const requests = Array.from({ length: 40 }, () =>
    post(draining.url, s.keys.portal)
      .then((res) => res.status, () => 'refused' as const)
      .finally(() => firstDone()),
  );
  await oneAnswered;
  await draining.close();
  const outcomes = await Promise.all(requests);
  const accepted = outcomes.filter((o) => o === 202).length;
  assert.ok(accepted >= 1);
  assert.deepEqual(outcomes.filter((o) => o !== 202 && o !== 503 && o !== 'refused'), [], 'only 202, 503 while closing, or a refused connection');
  assert.equal(await s.rawCount(), accepted);
});


test('`permitflow intake` serves, and on SIGTERM finishes, flushes and exits 0', async (t) => {
  const s = await intakeOnStack(t);
  const port = await freePort();
  const { child, exited, stderr } = spawnCli(t, ['intake'], { LOG_LEVEL: 'warn', PERMITFLOW_TOPIC_NAMESPACE: s.config.topology.namespace, PERMITFLOW_PARTITIONS: String(s.config.topology.partitions), INTAKE_PORT: String(port), INTAKE_API_KEYS_FILE: s.config.intake.apiKeysFile });

  const url = `http://127.0.0.1:${port}`;
  await eventually('the CLI intake to be ready', () => fetch(`${url}/readyz`).then((r) => (r.ok ? true : undefined), () => undefined), 60_000);
  assert.equal((await post(url, s.keys.portal)).status, 202);
  child.kill('SIGTERM');
  const [code, signal] = await exited;
  assert.equal(signal, null, stderr());
  assert.equal(code, 0, stderr());
  assert.equal(await s.rawCount(), 1);
});
