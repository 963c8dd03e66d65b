/**
 * The documented way to run a stage, `./bin/permitflow.js run <stage>` (README, Makefile,
 * service units), receives SIGTERM itself (`npx` would not forward it): the stage finishes,
 * leaves its consumer group and exits 0. A healthy start and stop log no error-level line, the
 * kafkajs coordinator answers of a fresh group included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { waitFor } from '../support/pipeline.ts';
import { testConfig, testTopology } from '../support/stack.ts';
import { spawnCli } from '../support/cli.ts';
import { freePort } from '../support/ports.ts';

interface LogLine {
  level: number;
  msg: string;
  processor?: string;
}

test('SIGTERM to `./bin/permitflow.js run decider` stops it gracefully: group left, exit 0, no error line', async (t) => {
  const config = await testConfig();
  const topology = await testTopology(t, config);
  const { child, exited, stdout, stderr } = spawnCli(t, ['run', 'decider'], { LOG_LEVEL: 'info', PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace, PERMITFLOW_PARTITIONS: String(config.topology.partitions) });
  const lines = (): LogLine[] =>
    stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);

  const admin = createKafka(config, createLogger({ level: 'warn' })).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const group = topology.group('decider');
  const members = async () => (await admin.describeGroups([group])).groups[0]?.members.length ?? 0;

  await waitFor('the decider to run and join its group', async () => lines().some((l) => l.msg === 'running') && (await members()) === 1, 120_000);
  child.kill('SIGTERM');
  const [code, signal] = await exited;

  assert.equal(signal, null, `killed by the signal instead of stopping on it\n${stderr()}`);
  assert.equal(code, 0, stderr());
  assert.ok(lines().some((l) => l.msg === 'stopped'), `no "stopped" line:\n${stdout()}`);
  assert.equal(await members(), 0, 'the decider left its consumer group');
  assert.deepEqual(lines().filter((l) => l.level >= 50), [], 'a healthy start and stop logs no error');
  assert.equal(stderr(), '', 'nothing on stderr (no runtime warnings either)');
});

for (const stage of ['windower', 'all']) {
  test(`\`run ${stage}\` that cannot start exits 1 naming the cause: its metrics endpoint closes too`, { timeout: 60_000 }, async (t) => {
    // A namespace whose topics were never applied. Before, the open metrics endpoint kept the
    // process alive after the error was printed: an orchestrator saw a live, never-ready stage.
    // `run all` includes the sinks (read model, notifier, archiver), which check the deployment
    // like the processors: before, the archiver died of an unhandled KafkaJSProtocolError and
    // the read model of an "unexpected failure" on the consumer's first metadata request.
    const config = await testConfig();
    const port = await freePort();
    const { exited, stderr } = spawnCli(t, ['run', stage], { LOG_LEVEL: 'warn', METRICS_PORT: String(port), PERMITFLOW_TOPIC_NAMESPACE: `${config.topology.namespace}-unapplied` });
    const [code, signal] = await exited;
    assert.equal(signal, null, stderr());
    assert.equal(code, 1, stderr());
    assert.match(stderr(), /^permitflow: processor [a-z-]+ cannot start: topics? .* missing: run `permitflow topology apply`$/m);
    assert.doesNotMatch(stderr(), /unexpected failure|UNKNOWN_TOPIC_OR_PARTITION|^Node\.js v/m);
  });
}
