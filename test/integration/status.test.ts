/**
 * `permitflow status` on the real stack: the windower's lag is the submissions waiting on the
 * raw topic, then drains to 0 with its position moving by as many; in-flight records come from
 * a Prometheus endpoint (this process's registry, where the in-process stages keep their
 * gauges) and an endpoint that is down shows as such; a dead letter on the DLQ counts for its
 * stage from the topic and, once the read model applied it, from PostgreSQL, never twice; and
 * `npx permitflow status --once --json` prints the same as a child process. On a terminal the
 * view redraws until q or SIGTERM, and gives the terminal back.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Partitioners } from 'kafkajs';
import { register } from 'prom-client';
import { collectStatus, createRateHistory, type StageStatus, type StatusSnapshot } from '../../cli/status/snapshot.ts';
import { openStatusSources } from '../../cli/status/sources.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { DeadLetter } from '../../schemas/types.ts';
import type { ProcessorId, Topology } from '../../topology/topics.ts';
import { logger, readModelConfig } from './read-model-helpers.ts';
import { produceSubmissions, startStages, syntheticEnvelope, waitFor } from '../support/pipeline.ts';
import { testConfig, testTopology } from '../support/stack.ts';

const run = promisify(execFile);

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
}

/** A metrics URL on which nothing listens: a port that was just free. */
async function closedUrl(): Promise<string> {
  const server = createServer();
  const url = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return url;
}

const stage = (s: StatusSnapshot, id: ProcessorId): StageStatus => s.stages.find((x) => x.stage === id)!;

function deadLetter(topology: Topology, stageId: 'enricher' | 'file-drop', n: number): DeadLetter {
  const envelope = syntheticEnvelope(1000 + n);
  return {
    submissionHash: envelope.submissionHash,
    batchId: null,
    stage: stageId === 'file-drop' ? 'importer' : stageId,
    consumerGroup: topology.group(stageId),
    errorClass: 'PF_TEST_OUTAGE',
    errorMessage: 'a dependency was down',
    errorChain: ['PF_TEST_OUTAGE: a dependency was down'],
    attempt: 4,
    firstFailureAt: Date.now() - 1000,
    lastFailureAt: Date.now(),
    originalTopic: topology.topics.chunked.name,
    originalPartition: 0,
    originalOffset: n,
    originalTimestamp: Date.now(),
    originalKey: Buffer.from(envelope.submissionHash),
    originalValue: Buffer.from('{}'),
    originalHeaders: {},
    traceId: null,
    workerId: 'test',
    parked: false,
  };
}

test('status: lag, drain, in-flight and dead letters per stage, in process and from the CLI as JSON', async (t) => {
  const { config, pool } = await readModelConfig(t, { WINDOW_MAX_COUNT: '2', WINDOW_MAX_AGE_MS: '600000' });
  const topology = await testTopology(t, config);
  const N = 25;

  // This process's Prometheus registry, where the in-process stages below keep their gauges.
  const metricsServer = createServer((_req, res) => {
    void register.metrics().then((text) => res.writeHead(200, { 'content-type': register.contentType }).end(text));
  });
  const metricsUrl = await listen(metricsServer);
  t.after(() => new Promise((resolve) => metricsServer.close(resolve)));
  const downUrl = await closedUrl();

  const opened = openStatusSources(config, topology, { metricsUrls: [metricsUrl, downUrl], scrapeTimeoutMs: 2000, dlqReadTimeoutMs: 60_000 });
  t.after(() => opened.close());
  // A window longer than the test: the rate spans from the first snapshot on.
  const history = createRateHistory(10 * 60_000);
  const collect = () => collectStatus(topology, opened.sources, history);

  await produceSubmissions(config, topology, N);
  const before = await collect();
  assert.deepEqual(before.errors, []);
  assert.equal(before.namespace, config.topology.namespace);
  assert.ok(before.cluster.id, 'the cluster id is read');
  assert.equal(stage(before, 'windower').lag, N);
  assert.equal(stage(before, 'windower').position, 0);
  assert.equal(stage(before, 'windower').members, 0, 'nothing consumes yet');
  assert.ok(stage(before, 'windower').worstPartition!.lag > 0);
  assert.equal(stage(before, 'windower').rate, null, 'one sample: no rate yet');
  assert.equal(stage(before, 'windower').deadLetters, 0);
  assert.equal(stage(before, 'enricher').lag, 0);
  assert.equal(stage(before, 'read-model').deadLetters, null, 'the read model writes no dead letters');
  assert.deepEqual(
    before.metrics.map((m) => [m.url, m.ok]),
    [
      [metricsUrl, true],
      [downUrl, false],
    ],
  );
  assert.equal(before.deadLetters.total, 0);
  assert.equal(before.deadLetters.source, 'read-model+topic');

  await startStages(t, config, ['windower']);
  let drained = before;
  // One collect reads the groups' offsets and the state topics' ends at slightly different
  // moments: a transaction can commit in between, so wait until one snapshot shows both.
  await waitFor('the windower to drain the raw topic', async () => {
    drained = await collect();
    return stage(drained, 'windower').lag === 0 && drained.stateTopics!.find((s) => s.id === 'received')!.offsets >= N;
  });
  const windower = stage(drained, 'windower');
  assert.equal(windower.position! - stage(before, 'windower').position!, N, 'its position moved by the records it consumed');
  assert.ok(windower.rate! > 0, `a positive drain rate, not ${windower.rate}`);
  assert.equal(windower.members, 1);
  assert.equal(windower.inFlight, 0, 'the windower reports its gauge, and has nothing in hand');
  assert.equal(stage(drained, 'enricher').inFlight, null, 'no endpoint reports the enricher');
  assert.ok(drained.stateTopics!.find((s) => s.id === 'received')!.offsets >= N, 'received holds the windower output');
  assert.ok(stage(drained, 'enricher').lag! > 0, 'the chunked submissions wait for the enricher');

  // Dead letters straight onto the DLQ: one of the enricher's, one of the importer's.
  const kafka = createKafka(config, logger);
  const serde = createSerde(createRegistry(config));
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const letters = [deadLetter(topology, 'enricher', 1), deadLetter(topology, 'file-drop', 2)];
  await producer.send({ topic: topology.topics.dlq.name, messages: await Promise.all(letters.map(async (l, i) => ({ key: l.submissionHash, value: await serde.encode(topology.topics.dlq, l), partition: i }))) });
  await producer.disconnect();

  const fromTopic = await collect();
  assert.equal(stage(fromTopic, 'enricher').deadLetters, 1);
  assert.equal(stage(fromTopic, 'windower').deadLetters, 0);
  assert.deepEqual(fromTopic.deadLetters, { total: 2, others: { 'file-drop': 1 }, source: 'read-model+topic', note: null });
  assert.equal(Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM dead_letters')).rows[0]!.n), 0, 'counted from the topic: the read model has none yet');

  // The read model applies them: the count now comes from PostgreSQL, and is not doubled.
  await startStages(t, config, ['read-model']);
  await waitFor('the read model to apply the dead letters', async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM dead_letters')).rows[0]!.n) === 2);
  let applied = fromTopic;
  await waitFor('the read model to catch up', async () => {
    applied = await collect();
    return stage(applied, 'read-model').lag === 0;
  });
  assert.equal(stage(applied, 'enricher').deadLetters, 1);
  assert.equal(applied.deadLetters.total, 2);

  // The command, as a script would run it, with this test's namespace and read model.
  const env = { ...process.env, PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace, PERMITFLOW_PARTITIONS: '3', READ_MODEL_SCHEMA: config.readModel.schema, LOG_LEVEL: 'warn' };
  const args = ['--no-install', 'permitflow', 'status', '--metrics', `${metricsUrl},${downUrl}`];
  const { stdout } = await run('npx', [...args, '--once', '--json'], { cwd: REPO_ROOT, env, timeout: 120_000 });
  const json = JSON.parse(stdout) as StatusSnapshot;
  assert.equal(json.namespace, config.topology.namespace);
  assert.deepEqual(json.errors, []);
  assert.deepEqual(json.stages.map((s) => s.stage), ['extractor', 'windower', 'enricher', 'validator', 'decider', 'read-model', 'notifier', 'archiver']);
  assert.equal(stage(json, 'windower').lag, 0);
  assert.equal(stage(json, 'windower').position, N);
  assert.equal(stage(json, 'windower').group, topology.group('windower'));
  assert.equal(stage(json, 'windower').inFlight, 0, 'read from this process over HTTP');
  assert.equal(stage(json, 'windower').rate, null, 'one snapshot has no rate');
  assert.equal(stage(json, 'enricher').lag, stage(applied, 'enricher').lag, 'nothing consumes the enricher input');
  assert.equal(stage(json, 'enricher').deadLetters, 1);
  assert.deepEqual(json.deadLetters, { total: 2, others: { 'file-drop': 1 }, source: 'read-model+topic', note: null });
  assert.deepEqual(
    json.metrics.map((m) => m.ok),
    [true, false],
  );

  // Without a terminal and without flags it prints one screen and exits.
  const screen = await run('npx', args, { cwd: REPO_ROOT, env, timeout: 120_000 });
  assert.match(screen.stdout, new RegExp(`^permitflow status .* namespace ${config.topology.namespace}$`, 'm'));
  assert.match(screen.stdout, /│ enricher +│ +0 │ +\d+ │ .* │ +– │ +1 │/);
  assert.match(screen.stdout, /^DLQ total 2 \(read model \+ DLQ tail\) · file-drop 1$/m);
  assert.match(screen.stdout, new RegExp(`^metrics not read: ${downUrl.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(ECONNREFUSED\\)$`, 'm'));
});

// `script` (util-linux, in Debian's essential bsdutils) gives the command a pseudo-terminal, as an operator's would be.
test('status on a terminal redraws in place until q or SIGTERM, then exits 0 with the cursor shown', async (t) => {
  const config = await testConfig();
  await testTopology(t, config);
  const env = { ...process.env, PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace, PERMITFLOW_PARTITIONS: '3', LOG_LEVEL: 'warn' };

  for (const quit of ['q', 'SIGTERM'] as const) {
    // `exec`: the status process is script's own child, so the test can signal it.
    const child = spawn('script', ['-qfec', `stty rows 40 cols 160; exec node bin/permitflow.js status --interval 300 --metrics ''`, '/dev/null'], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    t.after(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    });
    let output = '';
    const frames = () => output.split('permitflow status ').length - 1;
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        output += d.toString();
        if (frames() >= 2) resolve();
      });
      void exited.then(() => reject(new Error(`status exited before it redrew: ${output}`)));
    });
    assert.match(output, /q quit · every 0.3 s/);
    if (quit === 'q') {
      child.stdin.write('q');
    } else {
      const pid = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
      assert.ok(pid > 0, 'the status process under script');
      process.kill(pid, 'SIGTERM');
    }
    const [code] = await exited;
    assert.equal(code, 0, `${quit}: ${output.slice(-500)}`);
    assert.ok(output.endsWith('\u001b[?25h'), `${quit}: the cursor is shown again at the end`);
    assert.match(output, new RegExp(`namespace ${config.topology.namespace}`));
  }
});
