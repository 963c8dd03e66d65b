/**
 * Idempotency-Key (IETF httpapi draft) for POST /v1/submissions, kept in Redis per client.
 *
 * States of a key: absent → in-flight (reserved by one request, with the body's fingerprint and
 * a token) → completed (the first response, kept for the TTL). A request that finds the key:
 *   - with another fingerprint: 422, whatever the state;
 *   - in flight: 409 (the first request is still running);
 *   - completed: the stored response is replayed.
 * A failed request releases its reservation (only if it still holds it, by token), so the client
 * can retry with the same key. The in-flight marker has its own short TTL, so a crashed intake
 * does not lock a key for the whole retention.
 *
 * Every entry expires (the TTL), and a client keeps at most `maxKeysPerClient` of them: past it,
 * its oldest are forgotten. A forgotten key's retry runs again and produces the same submission
 * hash, which the windower drops as a duplicate: forgetting costs a duplicate raw record, never
 * a lost or doubled submission.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sha256Hex } from '../../domain/hashing.ts';

/** The response replayed for a completed key. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type Reservation =
  | { kind: 'reserved'; token: string }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'in-flight' }
  | { kind: 'mismatch' };

export interface IdempotencyScope {
  client: string;
  key: string;
}

export interface IdempotencyStore {
  reserve(scope: IdempotencyScope, fingerprint: string): Promise<Reservation>;
  complete(scope: IdempotencyScope, fingerprint: string, token: string, response: StoredResponse): Promise<void>;
  release(scope: IdempotencyScope, token: string): Promise<void>;
}

/** What a key's entry holds, as stored. */
export type Entry = { state: 'in-flight'; fingerprint: string; token: string } | { state: 'completed'; fingerprint: string; token: string; response: StoredResponse };

/** The decision for a request that found an entry (shared by every store implementation). */
export function decide(entry: Entry, fingerprint: string): Exclude<Reservation, { kind: 'reserved' }> {
  if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' };
  if (entry.state === 'in-flight') return { kind: 'in-flight' };
  return { kind: 'replay', response: entry.response };
}

export const newToken = (): string => randomBytes(12).toString('base64url');

/**
 * The key as sent: an RFC 8941 sf-string (`"..."`, as the draft specifies) or, leniently, a bare
 * token. Undefined for a malformed key.
 */
export function parseIdempotencyKey(header: string): string | undefined {
  const raw = header.trim();
  const value = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1) : raw;
  return KEY_VALUE.test(value) ? value : undefined;
}

/** Printable ASCII but `"` and `\`, 1-255 characters: what an sf-string may hold unescaped. */
const KEY_CHARS = '[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,255}';
const KEY_VALUE = new RegExp(`^${KEY_CHARS}$`);

/** The header values parseIdempotencyKey accepts, as the OpenAPI document declares them. */
export const IDEMPOTENCY_KEY_PATTERN = `^("${KEY_CHARS}"|${KEY_CHARS})$`;

/** Fingerprint of a request: the canonical payload's hash and each attachment's identity. */
export function fingerprintOf(payloadHash: string, attachments: readonly { sha256: string; name: string; kind: string; contentType: string }[]): string {
  if (attachments.length === 0) return payloadHash;
  const parts = attachments.map((a) => `${a.kind}\u0000${a.name}\u0000${a.contentType}\u0000${a.sha256}`).sort();
  return sha256Hex([payloadHash, ...parts].join('\u0001'));
}

// Reserve atomically: SET if absent, else return what is there. A new key joins the client's
// index (a sorted set by time): keys older than the TTL leave it, and past the client's bound
// its oldest keys are forgotten, so one client's unique keys cannot fill Redis for all.
const RESERVE = `
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local now = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
redis.call('ZADD', KEYS[2], now, KEYS[1])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if excess > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], excess)
  for i = 1, #oldest, 2 do
    -- Keys of the same millisecond tie: never forget the one just reserved.
    if oldest[i] == KEYS[1] then redis.call('ZADD', KEYS[2], now, KEYS[1]) else redis.call('DEL', oldest[i]) end
  end
end
redis.call('PEXPIRE', KEYS[2], ttl)
return false`;

// Complete or release only while our own reservation still holds the key.
const IF_OWNER = `
local current = redis.call('GET', KEYS[1])
if not current or cjson.decode(current).token ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1`;

export interface RedisIdempotencyOptions {
  prefix: string;
  ttlMs: number;
  inFlightTtlMs: number;
  /** Keys kept per client; past it the client's oldest are forgotten (default: no bound). */
  maxKeysPerClient?: number;
  clock?: () => number;
}

export function redisIdempotencyStore(redis: Redis, options: RedisIdempotencyOptions): IdempotencyStore {
  // The client's key is hashed: it is chosen by the client and may be long or odd.
  const keyOf = (s: IdempotencyScope) => `${options.prefix}:${s.client}:${sha256Hex(s.key)}`;
  // `~` cannot start a hex digest, so the index never collides with a key.
  const indexOf = (s: IdempotencyScope) => `${options.prefix}:${s.client}:~index`;
  const clock = options.clock ?? Date.now;
  const maxKeys = String(options.maxKeysPerClient ?? Number.MAX_SAFE_INTEGER);
  return {
    async reserve(scope, fingerprint) {
      const token = newToken();
      const marker: Entry = { state: 'in-flight', fingerprint, token };
      const found = (await redis.eval(RESERVE, 2, keyOf(scope), indexOf(scope), JSON.stringify(marker), String(options.inFlightTtlMs), String(clock()), String(options.ttlMs), maxKeys)) as string | null;
      if (found === null) return { kind: 'reserved', token };
      return decide(JSON.parse(found) as Entry, fingerprint);
    },
    async complete(scope, fingerprint, token, response) {
      const entry: Entry = { state: 'completed', fingerprint, token, response };
      await redis.eval(IF_OWNER, 1, keyOf(scope), token, JSON.stringify(entry), String(options.ttlMs));
    },
    async release(scope, token) {
      await redis.eval(IF_OWNER, 1, keyOf(scope), token, '', '0');
    },
  };
}

export type IdempotencyRefusal = 'in-flight' | 'mismatch';

/**
 * Runs `first` at most once per key: reserves the key, runs, stores the response; a repeat gets
 * the stored response (`replayed`), or a refusal. Without a key, just runs. A failure of `first`
 * releases the reservation and propagates. Storing the response is best effort: the work is done
 * either way, and an unstored key only expires.
 */
export async function runIdempotently(
  store: IdempotencyStore,
  scope: IdempotencyScope | undefined,
  fingerprint: string,
  first: () => Promise<StoredResponse>,
  onStoreError: (err: unknown) => void,
): Promise<{ response: StoredResponse; replayed: boolean } | { refused: IdempotencyRefusal }> {
  if (!scope) return { response: await first(), replayed: false };
  const reservation = await store.reserve(scope, fingerprint);
  if (reservation.kind === 'replay') return { response: reservation.response, replayed: true };
  if (reservation.kind !== 'reserved') return { refused: reservation.kind };
  let response: StoredResponse;
  try {
    response = await first();
  } catch (err) {
    await store.release(scope, reservation.token).catch(onStoreError);
    throw err;
  }
  await store.complete(scope, fingerprint, reservation.token, response).catch(onStoreError);
  return { response, replayed: false };
}
