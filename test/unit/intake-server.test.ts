/**
 * Limits that only a real socket exercises (loopback, in-memory dependencies): huge headers,
 * slow-loris clients, broken multipart framing, and a graceful close that finishes in-flight
 * requests while refusing new connections.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { multipartBody, testIntake, type TestIntake } from '../support/intake.ts';
import { sampleApplications } from '../support/samples.ts';

async function listening(t: TestContext, env: Record<string, string> = {}): Promise<{ intake: TestIntake; port: number }> {
  const intake = await testIntake({ INTAKE_HEADERS_TIMEOUT_MS: '800', INTAKE_REQUEST_TIMEOUT_MS: '1500', ...env });
  await intake.app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => intake.app.close());
  const address = intake.app.server.address();
  assert.ok(address && typeof address === 'object');
  return { intake, port: address.port };
}

interface Exchange {
  socket: Socket;
  /** Everything the server sent, once it closed the connection. */
  closed: Promise<{ data: string; afterMs: number }>;
}

function open(port: number): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect({ host: '127.0.0.1', port }, () => {
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
      const closed = new Promise<{ data: string; afterMs: number }>((r) => socket.on('close', () => r({ data, afterMs: Date.now() - started })));
      resolve({ socket, closed });
    });
    socket.on('error', reject);
  });
}

async function healthy(port: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(res.status, 200);
}

test('a header block over the limit is answered 431 and the connection closed', async (t) => {
  const { port } = await listening(t, { INTAKE_MAX_HEADER_BYTES: '8192' });
  const { socket, closed } = await open(port);
  socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: ${'a'.repeat(10_000)}\r\n\r\n`);
  const { data } = await closed;
  assert.match(data, /^HTTP\/1\.1 431 /);
  await healthy(port);
});

test('a slow-loris client dribbling headers is answered 408 and disconnected after the headers timeout', async (t) => {
  const { port } = await listening(t);
  const { socket, closed } = await open(port);
  socket.write('POST /v1/submissions HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 100);
  t.after(() => clearInterval(drip));
  const { data, afterMs } = await closed;
  clearInterval(drip);
  assert.match(data, /^HTTP\/1\.1 408 /);
  assert.ok(afterMs < 3000, `closed after ${afterMs} ms`);
  await healthy(port);
});

test('a client that stops sending its body is answered 408 after the request timeout, and nothing is produced', async (t) => {
  const { port, intake } = await listening(t);
  const { socket, closed } = await open(port);
  socket.write(`POST /v1/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${intake.keys.portal}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"jurisdiction":`);
  const { data, afterMs } = await closed;
  assert.match(data, /^HTTP\/1\.1 408 /);
  assert.ok(afterMs < 4000, `closed after ${afterMs} ms`);
  assert.deepEqual(intake.sink.envelopes, []);
  await healthy(port);
});

test('multipart cut before its closing boundary is 400 and stores nothing', async (t) => {
  const { port, intake } = await listening(t);
  const form = await multipartBody(sampleApplications()[0], [{ field: 'drawings', name: 'd.pdf', type: 'application/pdf', bytes: Buffer.from('%PDF-1.7 drawing') }]);
  const body = form.payload.subarray(0, form.payload.length - 20);
  const res = await fetch(`http://127.0.0.1:${port}/v1/submissions`, { method: 'POST', headers: { authorization: `Bearer ${intake.keys.portal}`, 'content-type': form.contentType }, body });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { type: string }).type, 'urn:permitflow:problem:invalid-multipart');
  assert.deepEqual(intake.store.puts, []);
  assert.deepEqual(intake.sink.envelopes, []);
});

test('close() lets an in-flight request finish (202, Connection: close) and refuses new connections', async (t) => {
  const { port, intake } = await listening(t);
  const body = JSON.stringify(sampleApplications()[0]);
  const { socket, closed } = await open(port);
  // Send everything but the last byte: the request is in flight, its handler not yet run.
  socket.write(`POST /v1/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${intake.keys.portal}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, -1)}`);
  // The request is in flight once its guards ran (the rate limiter saw it).
  const deadline = Date.now() + 5000;
  while (intake.rateLimiter.calls.length === 0) {
    assert.ok(Date.now() < deadline, 'the request never reached the app');
    await new Promise((r) => setTimeout(r, 10));
  }
  const closing = intake.app.close();

  // New connections are refused once the listener is closed.
  for (;;) {
    const refused = await fetch(`http://127.0.0.1:${port}/healthz`).then(() => false, () => true);
    if (refused) break;
    assert.ok(Date.now() < deadline, 'the listener never closed');
    await new Promise((r) => setTimeout(r, 20));
  }
  socket.write(body.slice(-1));
  const { data } = await closed;
  await closing;
  assert.match(data, /^HTTP\/1\.1 202 /);
  assert.match(data, /\r\nconnection: close\r\n/i);
  assert.equal(intake.sink.envelopes.length, 1);
});
