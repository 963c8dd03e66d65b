/**
 * `permitflow audit show <submission>`: a submission's full history from the archive alone
 * (no Kafka, registry or PostgreSQL): every state record keyed by its hash, the dead letters
 * naming it and the manifests of the batches it was in, each segment checked against its
 * manifest's SHA-256 on the way.
 */
import { sha256Hex } from '../../domain/hashing.ts';
import type { Topology } from '../../topology/topics.ts';
import { decodeSegment, parseManifest, parseManifestKey, type AuditLine } from './segment.ts';
import type { AuditStore } from './store.ts';
import { archiveChains } from './verify.ts';

export interface HistoryEntry {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  /** The state, `batch` for a manifest, `dead-letter` for the DLQ. */
  kind: string;
  segmentKey: string;
  record: unknown;
}

export interface History {
  submission: string;
  entries: HistoryEntry[];
  /** Segments read whose bytes no longer match their manifest (their records are left out). */
  altered: string[];
}

const stateOf = (record: unknown): string | undefined => (record as { header?: { state?: string } } | null)?.header?.state;

function concerns(line: AuditLine, submission: string): boolean {
  if (line.key === submission) return true;
  const r = line.record as { members?: unknown; submissionHash?: unknown } | null;
  return (Array.isArray(r?.members) && r.members.includes(submission)) || r?.submissionHash === submission;
}

export async function submissionHistory(store: AuditStore, topology: Topology, submission: string): Promise<History> {
  const history: History = { submission, entries: [], altered: [] };
  const dlq = topology.topics.dlq.name;
  const batches = topology.topics.batches.name;
  for (const chain of archiveChains(topology)) {
    const manifests = (await store.list(chain.prefix)).filter((k) => parseManifestKey(k) !== undefined);
    for (const key of manifests) {
      const manifest = parseManifest((await store.get(key))!, key);
      const body = await store.get(manifest.segmentKey);
      if (!body || sha256Hex(body) !== manifest.segmentSha256) {
        history.altered.push(manifest.segmentKey);
        continue;
      }
      for (const line of decodeSegment(body, manifest.segmentKey)) {
        if (!concerns(line, submission)) continue;
        const kind = chain.topic === dlq ? 'dead-letter' : chain.topic === batches ? 'batch' : (stateOf(line.record) ?? 'record');
        history.entries.push({ topic: chain.topic, partition: chain.partition, offset: line.offset, timestamp: line.timestamp, kind, segmentKey: manifest.segmentKey, record: line.record });
      }
    }
  }
  history.entries.sort((a, b) => Number(BigInt(a.timestamp) - BigInt(b.timestamp)) || a.topic.localeCompare(b.topic));
  return history;
}
