/**
 * API keys of the intake's clients (portal, agency systems, clerk tools), kept in a JSON file
 * that holds only their SHA-256 digests. A key is `pfk_<id>_<secret>` with a 256-bit random
 * secret, so a plain SHA-256 is enough (no password stretching needed) and the id finds the
 * record without scanning; digests are compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { PermitflowError } from '../../lib/errors.ts';

/** `read` shows a client its own submissions; `read:any` (clerks, compliance) every submission. */
export const SCOPES = ['submit', 'read', 'read:any'] as const;
export type Scope = (typeof SCOPES)[number];

/** Whether scopes grant `wanted`: `read:any` includes `read`. */
export function grants(scopes: readonly Scope[], wanted: Scope): boolean {
  return scopes.includes(wanted) || (wanted === 'read' && scopes.includes('read:any'));
}

const CLIENT_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

const keyRecord = z.object({
  id: z.string().regex(/^[0-9a-f]{12}$/),
  client: z.string().regex(CLIENT_ID),
  scopes: z.array(z.enum(SCOPES)),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  /** Overrides INTAKE_RATE_LIMIT_PER_S for this key's client. */
  rateLimitPerSecond: z.number().int().positive().nullable().default(null),
});
const keyFile = z.object({ keys: z.array(keyRecord) });

export type ApiKeyRecord = z.infer<typeof keyRecord>;

/** Who a request is, once its key checked out. */
export interface Principal {
  keyId: string;
  client: string;
  scopes: readonly Scope[];
  rateLimitPerSecond: number | null;
}

export interface ApiKeyVerifier {
  /** The principal of a presented key, or undefined for an unknown, revoked or malformed key. */
  verify(presented: string): Principal | undefined;
}

const KEY_FORMAT = /^pfk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();
// Compared against when the id is unknown, so a miss costs the same as a wrong secret.
const DECOY = digest('pfk_000000000000_decoy');

export function verifierOf(records: readonly ApiKeyRecord[]): ApiKeyVerifier {
  const byId = new Map(records.map((r) => [r.id, { record: r, digest: Buffer.from(r.sha256, 'hex') }]));
  return {
    verify(presented) {
      const match = KEY_FORMAT.exec(presented);
      if (!match) return undefined;
      const entry = byId.get(match[1]!);
      const equal = timingSafeEqual(digest(presented), entry?.digest ?? DECOY);
      if (!entry || !equal) return undefined;
      const { id, client, scopes, rateLimitPerSecond } = entry.record;
      return { keyId: id, client, scopes, rateLimitPerSecond };
    },
  };
}

export function readKeyFile(path: string): ApiKeyRecord[] {
  if (!existsSync(path)) return [];
  try {
    return keyFile.parse(JSON.parse(readFileSync(path, 'utf8'))).keys;
  } catch (err) {
    throw PermitflowError.permanent('PF_API_KEYS_INVALID', `${path} is not a valid API key file: ${(err as Error).message}`, { cause: err });
  }
}

function writeKeyFile(path: string, keys: ApiKeyRecord[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** A new key and the record that stores its digest (the key itself is never stored). */
export function generateApiKey(options: { client: string; scopes: Scope[]; rateLimitPerSecond?: number; now?: Date }): { key: string; record: ApiKeyRecord } {
  if (!CLIENT_ID.test(options.client)) {
    throw PermitflowError.permanent('PF_API_KEY_CLIENT', `client id ${JSON.stringify(options.client)}: expected lower-case letters, digits, '.', '_' or '-' (at most 63)`);
  }
  if (options.scopes.length === 0) throw PermitflowError.permanent('PF_API_KEY_SCOPES', `a key needs at least one scope (${SCOPES.join(', ')})`);
  const id = randomBytes(6).toString('hex');
  const key = `pfk_${id}_${randomBytes(32).toString('base64url')}`;
  const record: ApiKeyRecord = {
    id,
    client: options.client,
    scopes: [...new Set(options.scopes)],
    sha256: digest(key).toString('hex'),
    createdAt: (options.now ?? new Date()).toISOString(),
    rateLimitPerSecond: options.rateLimitPerSecond ?? null,
  };
  return { key, record };
}

/** Creates a key, stores its digest, and returns the key itself: the only time it is ever seen. */
export function createApiKey(path: string, options: Parameters<typeof generateApiKey>[0]): { key: string; record: ApiKeyRecord } {
  const keys = readKeyFile(path);
  const created = generateApiKey(options);
  writeKeyFile(path, [...keys, created.record]);
  return created;
}

/** Removes a key by id; false if there was none. */
export function revokeApiKey(path: string, id: string): boolean {
  const keys = readKeyFile(path);
  const kept = keys.filter((k) => k.id !== id);
  if (kept.length === keys.length) return false;
  writeKeyFile(path, kept);
  return true;
}

export interface ApiKeyStore extends ApiKeyVerifier {
  count(): number;
  close(): void;
}

/** What identifies a version of the file: any write changes it (rename-over changes the inode). */
function versionOf(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'absent';
  }
}

/**
 * The key file, watched: a key created or revoked with `permitflow intake keys` takes effect in
 * a running intake within `watchIntervalMs`. A file that turns invalid keeps the previous keys.
 * The version is taken before each read, so a write racing a read is picked up on the next check.
 */
export function watchApiKeys(path: string, options: { watchIntervalMs?: number; onError?: (err: unknown) => void } = {}): ApiKeyStore {
  let version = versionOf(path);
  let records = readKeyFile(path);
  let verifier = verifierOf(records);
  const timer = setInterval(() => {
    const current = versionOf(path);
    if (current === version) return;
    version = current;
    try {
      records = readKeyFile(path);
      verifier = verifierOf(records);
    } catch (err) {
      options.onError?.(err);
    }
  }, options.watchIntervalMs ?? 2000);
  timer.unref();
  return {
    verify: (presented) => verifier.verify(presented),
    count: () => records.length,
    close: () => clearInterval(timer),
  };
}
