/**
 * The local stack's plumbing, without starting any service: process handling, the env file
 * (read back through loadConfig), generated secrets and MinIO's admin body encryption.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../lib/config.ts';
import { madminEncrypt } from '../../ops/minio/admin.ts';
import { writeEnvFile } from '../../ops/stack/env-file.ts';
import { withTimeout } from '../../lib/timeout.ts';
import { cmdline, descendants, isAlive, portInUse, readPid, spawnDetached, stopProcess, tailLog, waitUntil } from '../../ops/stack/proc.ts';
import { kafkaClusterId, loadSecrets } from '../../ops/stack/secrets.ts';
import { prepareStackDirs, type StackPaths } from '../../ops/stack/service.ts';

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempPaths(): StackPaths {
  const dir = mkdtempSync(join(tmpdir(), 'pf-stack-'));
  tempDirs.push(dir);
  return { dir, logs: join(dir, 'logs'), pids: join(dir, 'pids'), cache: join(dir, 'cache') };
}

test('a detached server gets a pid file and a log, and stop leaves none of its processes behind', async () => {
  const paths = tempPaths();
  const pid = spawnDetached({ paths, name: 'sleeper', command: 'sh', args: ['-c', 'echo started; sleep 300 & sleep 300'], env: { PATH: process.env.PATH } });
  assert.equal(readPid(paths, 'sleeper'), pid);
  await waitUntil(() => (descendants(pid).length >= 2 ? Promise.resolve() : Promise.reject(new Error('children not forked yet'))), { deadline: Date.now() + 5000, intervalMs: 20 });
  const children = descendants(pid);
  assert.match(cmdline(pid) ?? '', /sleep 300/);
  await waitUntil(() => (tailLog(join(paths.logs, 'sleeper.log')).includes('started') ? Promise.resolve() : Promise.reject(new Error('no output yet'))), { deadline: Date.now() + 5000, intervalMs: 20 });
  assert.equal(await stopProcess(pid, 'SIGTERM', 5000), 'stopped');
  for (const p of [pid, ...children]) assert.equal(isAlive(p), false, `pid ${p} still alive`);
});

test('a server ignoring the stop signal is killed after the timeout, with children in other sessions', async () => {
  const paths = tempPaths();
  // The child starts a session of its own, as PostgreSQL backends do, so the group signal misses it.
  const pid = spawnDetached({ paths, name: 'stubborn', command: 'sh', args: ['-c', "trap '' TERM; setsid sleep 300 & while true; do sleep 1; done"], env: { PATH: process.env.PATH } });
  await waitUntil(() => (descendants(pid).length >= 2 ? Promise.resolve() : Promise.reject(new Error('not yet'))), { deadline: Date.now() + 5000, intervalMs: 20 });
  const children = descendants(pid);
  assert.equal(await stopProcess(pid, 'SIGTERM', 300), 'killed');
  for (const p of [pid, ...children]) assert.equal(isAlive(p), false, `pid ${p} still alive`);
});

test('waitUntil gives up at the deadline with the last failure, or early when told', async () => {
  const started = Date.now();
  await assert.rejects(
    waitUntil(() => Promise.reject(new Error('connection refused')), { deadline: Date.now() + 200, intervalMs: 50 }),
    /not ready in time \(last check: connection refused\)/,
  );
  assert.ok(Date.now() - started < 1000);
  await assert.rejects(waitUntil(() => Promise.reject(new Error('x')), { deadline: Date.now() + 60_000, giveUp: () => 'exited' }), /exited/);
  await assert.rejects(withTimeout(new Promise(() => {}), 50, 'probe'), /probe: no answer within 50 ms/);
});

test('portInUse sees a listener on the port', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  assert.equal(await portInUse(port), true);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.equal(await portInUse(port), false);
});

test('tailLog returns the last lines only', () => {
  const file = join(tempPaths().dir, 'x.log');
  writeFileSync(file, Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n'));
  assert.deepEqual(tailLog(file, 3), ['line 97', 'line 98', 'line 99']);
  assert.match(tailLog(join(tmpdir(), 'no-such.log'))[0] ?? '', /no log/);
});

test('secrets are generated once, private, and URL-safe', () => {
  const { dir } = tempPaths();
  assert.equal(loadSecrets(dir, false), undefined);
  const first = loadSecrets(dir, true)!;
  assert.deepEqual(loadSecrets(dir, true), first);
  assert.equal(statSync(join(dir, 'secrets.json')).mode & 0o777, 0o600);
  for (const value of Object.values(first)) assert.match(value, /^[\w-]+$/);
  assert.equal(Buffer.from(first.kafkaClusterId, 'base64url').length, 16);
});

test('a Kafka cluster id never starts with "-", which the storage tool would read as an option', () => {
  // One CI run in 64 drew such an id and `kafka-storage format` refused it.
  const draws = ['-s0ZNPJFUDtuD-KSgXePYg', '-AAAAAAAAAAAAAAAAAAAAA', 's0ZNPJFUDtuD-KSgXePYg-'];
  assert.equal(kafkaClusterId(() => draws.shift()!), 's0ZNPJFUDtuD-KSgXePYg-');
  assert.equal(draws.length, 0);
});

test('the env file written by `up` is what loadConfig reads', () => {
  const file = join(tempPaths().dir, 'stack.env');
  writeEnvFile(file, {
    KAFKA_BROKERS: '127.0.0.1:29092',
    SCHEMA_REGISTRY_URL: 'http://127.0.0.1:28081/apis/ccompat/v7',
    S3_ACCESS_KEY_ID: 'permitflow-app',
    S3_SECRET_ACCESS_KEY: 'a-b_c',
    REDIS_URL: 'redis://:pw_-1@127.0.0.1:26379',
    DATABASE_URL: 'postgres://permitflow:pw@127.0.0.1:25432/permitflow',
  });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const config = loadConfig({ PERMITFLOW_ENV_FILE: file });
  assert.deepEqual(config.kafka.brokers, ['127.0.0.1:29092']);
  assert.equal(config.s3.secretAccessKey, 'a-b_c');
  assert.equal(config.redis.url, 'redis://:pw_-1@127.0.0.1:26379');
  assert.match(readFileSync(file, 'utf8'), /never commit/);
  // The process environment still wins over the file.
  assert.deepEqual(loadConfig({ PERMITFLOW_ENV_FILE: file, KAFKA_BROKERS: 'k:1' }).kafka.brokers, ['k:1']);
});

test("madminEncrypt produces madmin-go's PBKDF2 + AES-GCM sio format", () => {
  const plaintext = Buffer.from(JSON.stringify({ secretKey: 's3cret', status: 'enabled' }));
  const sealed = madminEncrypt('root-password', plaintext);
  const salt = sealed.subarray(0, 32);
  assert.equal(sealed[32], 0x02);
  const nonce = sealed.subarray(33, 41);
  const body = sealed.subarray(41);
  assert.equal(body.length, plaintext.length + 16);
  const key = pbkdf2Sync('root-password', salt, 8192, 32, 'sha256');
  const nonceFor = (seq: number): Buffer => Buffer.concat([nonce, Buffer.from([seq, 0, 0, 0])]);
  // Associated data of the final fragment: 0x80 and the tag of an empty seal at sequence 0.
  const empty = createCipheriv('aes-256-gcm', key, nonceFor(0));
  empty.final();
  const decipher = createDecipheriv('aes-256-gcm', key, nonceFor(1));
  decipher.setAAD(Buffer.concat([Buffer.from([0x80]), empty.getAuthTag()]));
  decipher.setAuthTag(body.subarray(body.length - 16));
  const opened = Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]);
  assert.deepEqual(opened, plaintext);
});

test('the data, log and pid folders are private (0700), also those an older `up` left open, and a symlink in their place is refused', () => {
  const paths = tempPaths();
  const previous = process.umask(0o022);
  try {
    mkdirSync(join(paths.dir, 'kafka'), { mode: 0o755 });
    prepareStackDirs(paths, ['kafka', 'postgres']);
    for (const dir of [paths.logs, paths.pids, join(paths.dir, 'kafka'), join(paths.dir, 'postgres')]) {
      assert.equal((statSync(dir).mode & 0o777).toString(8), '700', dir);
    }
    symlinkSync(tmpdir(), join(paths.dir, 'redis'));
    assert.throws(() => prepareStackDirs(paths, ['redis']), /redis is not a folder \(a symbolic link\)/);
  } finally {
    process.umask(previous);
  }
});
