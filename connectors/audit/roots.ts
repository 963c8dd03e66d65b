/**
 * Signed roots: at each seal (daily by default) the archiver lists the head of every chain of
 * the namespace and signs that list with Ed25519 (node:crypto). A root also names the previous
 * root and its hash, so roots form a chain of their own. The private key comes from
 * configuration (AUDIT_SIGNING_KEY); `audit verify` needs only the public key.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import canonicalizeModule from 'canonicalize';
import { Gauge } from 'prom-client';
import { sha256Hex } from '../../domain/hashing.ts';
import type { Config } from '../../lib/config.ts';
import { ConfigError } from '../../lib/config.ts';
import { AUDIT_PREFIX, parseManifest, rootsPrefix, type SegmentManifest } from './segment.ts';
import type { AuditStore } from './store.ts';

// canonicalize is CommonJS (`module.exports = fn`) but its types declare an ES default export.
const canonicalize = canonicalizeModule as unknown as (typeof canonicalizeModule)['default'];

/**
 * When the newest root of a namespace was sealed, as this process knows it (its own seals, and the
 * archive's newest root at start): PermitflowAuditRootStale fires when no root is signed for
 * longer than a day and its slack.
 */
export const lastRootGauge = new Gauge({ name: 'permitflow_archiver_last_root_timestamp_seconds', help: 'When the newest signed audit root was sealed (Unix seconds; before the first root, when the archiver started), by namespace', labelNames: ['namespace'] });

/** The newest root of `namespace` in the archive, or undefined when none was sealed yet. */
export async function newestRoot(store: AuditStore, namespace: string): Promise<AuditRoot | undefined> {
  const newest = (await store.list(rootsPrefix(namespace))).at(-1);
  const bytes = newest ? await store.get(newest) : undefined;
  return bytes ? (JSON.parse(bytes.toString('utf8')) as SignedRoot).root : undefined;
}

export interface ChainHead {
  topic: string;
  partition: number;
  segmentKey: string;
  segmentSha256: string;
  nextOffset: string;
}

export interface AuditRoot {
  version: 1;
  namespace: string;
  sealedAt: string;
  previousRoot: { key: string; sha256: string } | null;
  heads: ChainHead[];
}

/** What a root object holds: the root, its signature over the root's RFC 8785 form, the key id. */
export interface SignedRoot {
  root: AuditRoot;
  keyId: string;
  signature: string;
}

export function signingKey(config: Config): KeyObject {
  if (!config.audit.signingKey) throw new ConfigError(['AUDIT_SIGNING_KEY: not set (run `permitflow stack up`, which writes one to its env file, or export an Ed25519 PKCS#8 key, base64 DER)']);
  try {
    return createPrivateKey({ key: Buffer.from(config.audit.signingKey, 'base64'), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new ConfigError([`AUDIT_SIGNING_KEY: not an Ed25519 PKCS#8 key in base64 DER (${(err as Error).message})`]);
  }
}

/** The key roots are checked with: AUDIT_PUBLIC_KEY, else the public half of AUDIT_SIGNING_KEY. */
export function verifyingKey(config: Config): KeyObject {
  if (config.audit.publicKey) {
    try {
      return createPublicKey({ key: Buffer.from(config.audit.publicKey, 'base64'), format: 'der', type: 'spki' });
    } catch (err) {
      throw new ConfigError([`AUDIT_PUBLIC_KEY: not an Ed25519 SPKI key in base64 DER (${(err as Error).message})`]);
    }
  }
  if (config.audit.signingKey) return createPublicKey(signingKey(config));
  throw new ConfigError(['AUDIT_PUBLIC_KEY: not set, and no AUDIT_SIGNING_KEY to derive it from']);
}

export const keyIdOf = (key: KeyObject): string => sha256Hex(key.export({ format: 'der', type: 'spki' })).slice(0, 16);

const rootBytes = (root: AuditRoot): Buffer => Buffer.from(canonicalize(root)!, 'utf8');

export function signRoot(root: AuditRoot, key: KeyObject): SignedRoot {
  return { root, keyId: keyIdOf(createPublicKey(key)), signature: sign(null, rootBytes(root), key).toString('base64') };
}

export function rootSignatureValid(signed: SignedRoot, key: KeyObject): boolean {
  try {
    return verify(null, rootBytes(signed.root), key, Buffer.from(signed.signature, 'base64'));
  } catch {
    return false;
  }
}

/** Key of a root sealed at `at`: ISO time without separators, so key order is time order. */
export const rootKey = (namespace: string, at: Date): string => `${rootsPrefix(namespace)}${at.toISOString().replace(/[-:]/g, '')}.json`;

/**
 * Claims the seal of the slot `now` falls in (one per AUDIT_SEAL_INTERVAL_MS): a conditional put,
 * so of several archiver instances exactly one seals each slot and the roots stay one chain.
 */
export async function claimSealSlot(store: AuditStore, namespace: string, slotMs: number, workerId: string, now: Date = new Date()): Promise<boolean> {
  const slot = new Date(Math.floor(now.getTime() / slotMs) * slotMs).toISOString().replace(/[-:]/g, '');
  return (await store.putIfAbsent(`${AUDIT_PREFIX}/_seals/${namespace}/${slot}.claim`, Buffer.from(workerId, 'utf8'), 'text/plain')) === 'created';
}

/** The last manifest of each chain (key order is offset order). */
export async function chainHeads(store: AuditStore, chains: readonly { topic: string; partition: number; prefix: string }[]): Promise<ChainHead[]> {
  const heads: ChainHead[] = [];
  for (const chain of chains) {
    const manifests = (await store.list(chain.prefix)).filter((k) => k.endsWith('.manifest.json'));
    const lastKey = manifests.at(-1);
    if (!lastKey) continue;
    const bytes = await store.get(lastKey);
    if (!bytes) continue;
    const m: SegmentManifest = parseManifest(bytes, lastKey);
    heads.push({ topic: chain.topic, partition: chain.partition, segmentKey: m.segmentKey, segmentSha256: m.segmentSha256, nextOffset: m.nextOffset });
  }
  return heads;
}

/**
 * Signs and writes a root over the current heads of `chains`, naming the newest root before it.
 * The heads come first (the slow part: a list and a get per chain), then the newest root and the
 * seal time, so a root written meanwhile (another archiver's, `audit seal`) becomes this one's
 * previous; only seals within the milliseconds between that list and the put can still fork.
 */
export async function sealRoot(
  store: AuditStore,
  key: KeyObject,
  namespace: string,
  chains: readonly { topic: string; partition: number; prefix: string }[],
  at?: Date,
): Promise<{ key: string; root: AuditRoot; written: boolean }> {
  const heads = await chainHeads(store, chains);
  const existing = await store.list(rootsPrefix(namespace));
  const previousKey = existing.at(-1);
  const previousBytes = previousKey ? await store.get(previousKey) : undefined;
  const now = at ?? new Date();
  const objectKey = rootKey(namespace, now);
  const root: AuditRoot = {
    version: 1,
    namespace,
    sealedAt: now.toISOString(),
    previousRoot: previousKey && previousBytes ? { key: previousKey, sha256: sha256Hex(previousBytes) } : null,
    heads,
  };
  const written = await store.putIfAbsent(objectKey, Buffer.from(`${JSON.stringify(signRoot(root, key), null, 2)}\n`, 'utf8'), 'application/json');
  if (written === 'created') lastRootGauge.set({ namespace }, now.getTime() / 1000);
  return { key: objectKey, root, written: written === 'created' };
}
