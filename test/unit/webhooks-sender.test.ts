/**
 * The webhook sender against local receivers (stand-ins for integrators): Standard Webhooks
 * signatures a receiver verifies with the reference implementation, and the SSRF guard
 * (loopback, link-local metadata address, names resolving to loopback, redirects, timeouts).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { Webhook } from 'standardwebhooks';
import { backoffMs } from '../../connectors/webhooks/dispatcher.ts';
import { eventId, eventOf } from '../../connectors/webhooks/events.ts';
import { createWebhookSender, type SenderOptions } from '../../connectors/webhooks/sender.ts';
import { SCHEMA_OF_EVENT, WEBHOOK_SCHEMAS } from '../../connectors/webhooks/openapi.ts';
import { newSecret } from '../../connectors/webhooks/store.ts';
import { checkUrl, refusalOf } from '../../connectors/webhooks/target-guard.ts';

interface Receiver {
  url: string;
  /** Connections accepted: a refused target must never open one. */
  connections: number;
  requests: Array<{ headers: IncomingMessage['headers']; body: string }>;
}

async function receiver(t: TestContext, answer: (req: IncomingMessage) => { status: number; headers?: Record<string, string> } | 'hang' = () => ({ status: 204 })): Promise<Receiver> {
  const state: Receiver = { url: '', connections: 0, requests: [] };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const reply = answer(req);
      if (reply === 'hang') return;
      res.writeHead(reply.status, reply.headers).end();
    });
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())).then(() => server.closeAllConnections()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return state;
}

// ajv-formats is CommonJS: its default export is the module object under Node's ESM loader.
const addFormats = addFormatsModule as unknown as (typeof addFormatsModule)['default'];

const LOOPBACK_ALLOWED: SenderOptions = { allowPrivateTargets: ['127.0.0.0/8'], allowHttp: true, timeoutMs: 2_000 };
const PUBLIC_ONLY: SenderOptions = { allowPrivateTargets: [], allowHttp: true, timeoutMs: 2_000 };

function sender(t: TestContext, options: SenderOptions) {
  const s = createWebhookSender(options);
  t.after(() => s.close());
  return s;
}

const body = JSON.stringify({ type: 'submission.accepted', timestamp: new Date(0).toISOString(), data: { submissionId: 'a'.repeat(64) } });

describe('webhook target guard', () => {
  it('refuses loopback, private, link-local and unspecified addresses, and allows what the allow-list names', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '0.0.0.0', '::1', 'fe80::1', 'fc00::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254', '100.64.0.1']) {
      assert.ok(refusalOf(address, PUBLIC_ONLY), `${address} must be refused`);
    }
    assert.equal(refusalOf('93.184.216.34', PUBLIC_ONLY), undefined);
    assert.equal(refusalOf('2606:4700::1111', PUBLIC_ONLY), undefined);
    assert.equal(refusalOf('127.0.0.1', LOOPBACK_ALLOWED), undefined);
    assert.equal(refusalOf('::ffff:127.0.0.1', LOOPBACK_ALLOWED), undefined, 'an IPv4-mapped address is checked as its IPv4');
    assert.ok(refusalOf('10.0.0.1', LOOPBACK_ALLOWED), 'the allow-list names loopback only');
    assert.ok(refusalOf('169.254.169.254', LOOPBACK_ALLOWED));
  });

  it('allows https only unless plain http is allowed, and no credentials in the URL', () => {
    assert.throws(() => checkUrl('http://93.184.216.34/', { ...PUBLIC_ONLY, allowHttp: false }), /https only/);
    assert.throws(() => checkUrl('https://user:pw@93.184.216.34/', PUBLIC_ONLY), /credentials/);
    assert.throws(() => checkUrl('ftp://93.184.216.34/', PUBLIC_ONLY), /not allowed/);
    assert.equal(checkUrl('https://93.184.216.34/x', { ...PUBLIC_ONLY, allowHttp: false }).pathname, '/x');
  });
});

describe('webhook sender', () => {
  it('signs per Standard Webhooks: the receiver verifies id, timestamp and signature with the reference implementation', async (t) => {
    const target = await receiver(t);
    const secret = newSecret();
    const id = eventId('submission.accepted', 'a'.repeat(64));
    const result = await sender(t, LOOPBACK_ALLOWED).send({ eventId: id, url: target.url, secret, body });
    assert.deepEqual(result, { ok: true, status: 204 });
    const [request] = target.requests;
    assert.ok(request);
    assert.equal(request.headers['webhook-id'], id);
    assert.ok(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000) < 5);
    assert.match(String(request.headers['webhook-signature']), /^v1,/);
    const verified = new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
    assert.deepEqual(verified, JSON.parse(body));
    // Another secret, or a body changed by one byte, fails verification.
    assert.throws(() => new Webhook(newSecret()).verify(request.body, request.headers as Record<string, string>));
    assert.throws(() => new Webhook(secret).verify(request.body.replace('accepted', 'rejected'), request.headers as Record<string, string>));
  });

  it('refuses loopback when the allow-list does not name it: by IP literal, by a name resolving to it, and IPv4-mapped; no connection is opened', async (t) => {
    const target = await receiver(t);
    const port = new URL(target.url).port;
    const s = sender(t, PUBLIC_ONLY);
    for (const url of [target.url, `http://localhost:${port}/hooks`, `http://[::ffff:127.0.0.1]:${port}/hooks`]) {
      const result = await s.send({ eventId: 'evt_1', url, secret: newSecret(), body });
      assert.equal(result.ok, false, url);
      assert.equal(result.refused, true, url);
      assert.match(result.error ?? '', /webhook target refused: .*(loopback|resolves to)/, url);
    }
    assert.equal(target.connections, 0);
  });

  it('refuses the cloud metadata address 169.254.169.254 even with loopback allowed', async (t) => {
    const result = await sender(t, LOOPBACK_ALLOWED).send({ eventId: 'evt_1', url: 'http://169.254.169.254/latest/meta-data/', secret: newSecret(), body });
    assert.equal(result.refused, true);
    assert.match(result.error ?? '', /169\.254\.169\.254 is a linkLocal address/);
  });

  it('follows no redirect, to a private address or anywhere else', async (t) => {
    const inside = await receiver(t);
    for (const location of ['http://169.254.169.254/latest/meta-data/iam/', inside.url]) {
      const redirecting = await receiver(t, () => ({ status: 307, headers: { location } }));
      const result = await sender(t, LOOPBACK_ALLOWED).send({ eventId: 'evt_1', url: redirecting.url, secret: newSecret(), body });
      assert.equal(result.ok, false);
      assert.equal(result.status, 307);
      assert.match(result.error ?? '', /redirect refused/);
      assert.equal(redirecting.requests.length, 1);
    }
    assert.equal(inside.connections, 0, 'the redirect target was never contacted');
  });

  it('times out a receiver that never answers', async (t) => {
    const hanging = await receiver(t, () => 'hang');
    const started = Date.now();
    const result = await sender(t, { ...LOOPBACK_ALLOWED, timeoutMs: 300 }).send({ eventId: 'evt_1', url: hanging.url, secret: newSecret(), body });
    assert.equal(result.ok, false);
    assert.equal(result.refused, undefined);
    assert.ok(Date.now() - started < 2_000, 'gave up near its timeout');
  });
});

describe('webhook events and backoff', () => {
  it('gives an event an id from what it reports, so a redelivered record yields the same id', () => {
    const header = { submissionHash: 'b'.repeat(64), state: 'rejected' as const, batchId: 'batch-1', idempotencyKey: 'k', at: 1_700_000_000_000, workerId: 'w', attempt: 1, traceparent: null, receivedAt: 1_699_999_999_000 };
    const rejected = { header, reasons: [{ code: 'FEE_UNDERPAID', field: '/fees', message: 'fee underpaid' }] };
    const a = eventOf('rejected', rejected);
    const b = eventOf('rejected', structuredClone(rejected));
    assert.equal(a.id, b.id);
    assert.equal(a.body, b.body);
    assert.notEqual(a.id, eventOf('accepted', { header: { ...header, state: 'accepted' }, jurisdiction: 'j', permitType: 'p', parcelNumber: null, reviewTrack: 'r', computedFeeCents: 1, warnings: [] }).id);
    assert.deepEqual(JSON.parse(a.body), {
      type: 'submission.rejected',
      timestamp: new Date(header.at).toISOString(),
      data: { submissionId: header.submissionHash, state: 'rejected', batchId: 'batch-1', receivedAt: new Date(header.receivedAt).toISOString(), at: new Date(header.at).toISOString(), reasons: rejected.reasons },
    });
  });

  it('builds bodies that match the OpenAPI webhook schemas of their type', () => {
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    const header = { submissionHash: 'c'.repeat(64), batchId: null, idempotencyKey: 'k', at: 1_700_000_000_000, workerId: 'w', attempt: 1, traceparent: null, receivedAt: 1_699_999_999_000 };
    const events = [
      eventOf('received', { header: { ...header, state: 'received' }, source: 'intake', sourceClient: 'portal', sourceReference: 'P-1', receivedAt: header.receivedAt, rawOffset: 4, payload: { contentType: 'application/json', size: 1, sha256: 'c'.repeat(64), inline: null, objectKey: null }, attachments: [] }),
      eventOf('accepted', { header: { ...header, state: 'accepted', batchId: 'b1' }, jurisdiction: 'us-or-cedar-county', permitType: 'building', parcelNumber: null, reviewTrack: 'standard', computedFeeCents: 12_500, warnings: ['W'] }),
      eventOf('rejected', { header: { ...header, state: 'rejected', batchId: 'b1' }, reasons: [{ code: 'FEE_UNDERPAID', field: null, message: 'fee underpaid' }] }),
      eventOf('batches', { batchId: 'b1', idempotencyKey: 'd'.repeat(64), partition: 0, members: ['c'.repeat(64)], count: 1, bytes: 10, openedAt: 1, closedAt: 2, closeReason: 'AGE', firstOffset: 0, lastOffset: 0, archiveKey: null, workerId: 'w' }),
    ];
    for (const event of events) {
      const validate = ajv.compile(WEBHOOK_SCHEMAS[SCHEMA_OF_EVENT[event.type]]);
      assert.ok(validate(JSON.parse(event.body)), `${event.type}: ${JSON.stringify(validate.errors)}`);
    }
  });

  it('backs off exponentially with full jitter, capped', () => {
    const retry = { baseDelayMs: 1_000, maxDelayMs: 60_000 };
    assert.equal(backoffMs(1, retry, () => 0.999999), 999);
    assert.equal(backoffMs(4, retry, () => 0.999999), 7_999);
    assert.equal(backoffMs(40, retry, () => 0.999999), 59_999);
    assert.equal(backoffMs(4, retry, () => 0), 0);
  });
});
