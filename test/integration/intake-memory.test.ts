/**
 * Seen failure 3 of issue 14: four parallel 24 MB JSON bodies with 1.4 million `extraFields`
 * keys took the intake from 127 MB to 1.93 GB of RSS (each parsed whole, then ajv's `allErrors`
 * built an error object per key). Now 16 such bodies, as JSON with and without a declared length
 * and as the application part of multipart bodies, leave the intake process under 300 MB (its
 * peak RSS, VmHWM, from /proc) and answering /healthz.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { intakeOnStack, eventually } from '../support/intake-stack.ts';
import { freePort } from '../support/ports.ts';
import { sampleApplications } from '../support/samples.ts';
import { spawnCli } from '../support/cli.ts';

const BODY_BYTES = 24 * 1024 * 1024;
const PARALLEL = 16;
const RSS_LIMIT_BYTES = 300 * 1024 * 1024;

/** An application whose extraFields hold as many short keys as fit in `bytes` (about 1.6 million for 24 MB). */
function hostileBody(bytes: number): Buffer {
  const head = JSON.stringify({ ...sampleApplications()[0]!, extraFields: {} }).replace(/\{\}\}$/, '{');
  const parts: string[] = [head];
  let size = head.length;
  for (let i = 0; size < bytes - 20; i++) {
    const entry = `${i === 0 ? '' : ','}"k${i}":"v"`;
    parts.push(entry);
    size += entry.length;
  }
  parts.push('}}');
  return Buffer.from(parts.join(''));
}

/** Kilobytes of a /proc/<pid>/status field (VmRSS, VmHWM) as bytes. */
function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

test('16 parallel 24 MB hostile bodies leave the intake process under 300 MB RSS and answering /healthz', async (t) => {
  const s = await intakeOnStack(t);
  const port = await freePort();
  const { child, stderr } = spawnCli(t, ['intake'], { LOG_LEVEL: 'warn', PERMITFLOW_TOPIC_NAMESPACE: s.config.topology.namespace, PERMITFLOW_PARTITIONS: String(s.config.topology.partitions), INTAKE_PORT: String(port), INTAKE_API_KEYS_FILE: s.config.intake.apiKeysFile }, { keepChars: 4000 });
  const url = `http://127.0.0.1:${port}`;
  await eventually('the intake to be ready', () => fetch(`${url}/readyz`).then((r) => (r.ok ? true : undefined), () => undefined), 60_000);
  const before = procStatus(child.pid!, 'VmRSS');

  const body = hostileBody(BODY_BYTES);
  assert.ok(body.length > 23 * 1024 * 1024 && body.length <= BODY_BYTES);
  const auth = { authorization: `Bearer ${s.keys.portal}` };
  const form = new FormData();
  form.append('application', new Blob([body], { type: 'application/json' }), 'application.json');
  const multipart = new Request(url, { method: 'POST', body: form });
  const multipartBytes = Buffer.from(await multipart.arrayBuffer());

  const send = (i: number): Promise<number> => {
    const kind = i % 3;
    const init: RequestInit & { duplex?: 'half' } =
      kind === 0
        ? { headers: { ...auth, 'content-type': 'application/json' }, body }
        : kind === 1
          ? // Chunked: no declared length, the parser has to stop reading at the limit.
            { headers: { ...auth, 'content-type': 'application/json' }, body: Readable.toWeb(Readable.from([body])) as ReadableStream, duplex: 'half' }
          : { headers: { ...auth, 'content-type': multipart.headers.get('content-type')! }, body: multipartBytes };
    return fetch(`${url}/v1/submissions`, { method: 'POST', ...init }).then(
      async (r) => {
        await r.arrayBuffer();
        return r.status;
      },
      // The intake may answer 413 and close before the whole body is sent.
      () => 0,
    );
  };
  const statuses = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => send(i)));
  assert.deepEqual(statuses.filter((st) => st !== 413 && st !== 0), [], `only 413 (or the connection closed after it): ${statuses.join(',')}`);
  assert.ok(statuses.filter((st) => st === 413).length >= PARALLEL / 2, `most were answered 413: ${statuses.join(',')}`);

  const health = await fetch(`${url}/healthz`);
  assert.equal(health.status, 200);
  const peak = procStatus(child.pid!, 'VmHWM');
  const after = procStatus(child.pid!, 'VmRSS');
  t.diagnostic(`intake RSS before ${(before / 2 ** 20).toFixed(0)} MB, after ${(after / 2 ** 20).toFixed(0)} MB, peak ${(peak / 2 ** 20).toFixed(0)} MB`);
  assert.ok(peak < RSS_LIMIT_BYTES, `peak RSS ${(peak / 2 ** 20).toFixed(0)} MB (from ${(before / 2 ** 20).toFixed(0)} MB)\n${stderr()}`);
  assert.equal(await s.rawCount(), 0, 'nothing was produced');
});
