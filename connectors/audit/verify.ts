/**
 * `permitflow audit verify`: walks every chain of the namespace and every signed root, from the
 * archive alone, and names the first broken link of each: a segment whose bytes no longer match
 * its manifest, a missing segment, a manifest whose previous-segment hash or start offset does
 * not follow from the one before (deleted or reordered segments), records out of order, and a
 * root whose signature does not verify or whose heads are not in the archive.
 */
import type { KeyObject } from 'node:crypto';
import { sha256Hex } from '../../domain/hashing.ts';
import { PROCESSORS, type Topology } from '../../topology/topics.ts';
import { rootSignatureValid, type SignedRoot } from './roots.ts';
import { decodeSegment, parseManifest, parseManifestKey, parseSegmentKey, partitionPrefix, rootsPrefix, type SegmentManifest } from './segment.ts';
import type { AuditStore } from './store.ts';

export interface Chain {
  topic: string;
  partition: number;
  prefix: string;
}

/** Every chain of the topology's archived topics: one per topic and partition. */
export function archiveChains(topology: Topology): Chain[] {
  return PROCESSORS.archiver.inputs.flatMap((id) => {
    const topic = topology.topics[id];
    return Array.from({ length: topic.partitions }, (_, partition) => ({ topic: topic.name, partition, prefix: partitionPrefix(topic.name, partition) }));
  });
}

export interface Problem {
  /** The object where the chain breaks. */
  key: string;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  /** The first broken link of each broken chain, then of the roots: problems[0] is the first. */
  problems: Problem[];
  /** Not failures: segments no manifest names (a crash remnant the archiver adopted or will). */
  warnings: string[];
  chains: number;
  segments: number;
  records: number;
  roots: number;
  /** Segments written after the newest root: not yet under a signature. */
  unsealedSegments: number;
}

export interface VerifyOptions {
  /** Only segments written and roots sealed at or after this time have their bytes checked; every link is still checked. */
  since?: Date;
}

interface ChainResult {
  manifests: Map<string, SegmentManifest>;
  order: SegmentManifest[];
  problem?: Problem;
  records: number;
}

async function verifyChain(store: AuditStore, chain: Chain, warnings: string[], since: Date | undefined): Promise<ChainResult> {
  const keys = await store.list(chain.prefix);
  const result: ChainResult = { manifests: new Map(), order: [], records: 0 };
  const segmentKeys = new Set(keys.filter((k) => parseSegmentKey(k)));
  const fail = (key: string, message: string): ChainResult => ({ ...result, problem: { key, message } });
  let previous: SegmentManifest | undefined;
  for (const key of keys.filter((k) => parseManifestKey(k) !== undefined)) {
    const bytes = await store.get(key);
    if (!bytes) return fail(key, 'manifest listed but not readable');
    let m: SegmentManifest;
    try {
      m = parseManifest(bytes, key);
    } catch (err) {
      return fail(key, (err as Error).message);
    }
    if (parseManifestKey(key) !== BigInt(m.startOffset) || m.topic !== chain.topic || m.partition !== chain.partition) {
      return fail(key, `manifest says ${m.topic}/${m.partition} from offset ${m.startOffset}, which is not where it is kept`);
    }
    if (previous) {
      if (m.previousSegmentKey !== previous.segmentKey || m.previousSegmentSha256 !== previous.segmentSha256) {
        return fail(m.segmentKey, `chain broken: its manifest names ${m.previousSegmentKey ?? 'no segment'} (sha256 ${m.previousSegmentSha256 ?? '-'}) as previous, but the previous segment is ${previous.segmentKey} (sha256 ${previous.segmentSha256}): a segment was removed, replaced or reordered`);
      }
      if (m.startOffset !== previous.nextOffset) {
        return fail(m.segmentKey, `gap or overlap: starts at offset ${m.startOffset}, the previous segment ${previous.segmentKey} ends before ${previous.nextOffset}`);
      }
    } else if (m.previousSegmentKey !== null) {
      return fail(m.segmentKey, `chain broken: its manifest names ${m.previousSegmentKey} as previous, which is not in the archive (removed?)`);
    }
    const range = parseSegmentKey(m.segmentKey);
    if (!range || !m.segmentKey.startsWith(chain.prefix) || range.first.toString() !== m.firstOffset || range.last.toString() !== m.lastOffset) {
      return fail(m.segmentKey, `segment key does not match its manifest (offsets ${m.firstOffset}-${m.lastOffset})`);
    }
    segmentKeys.delete(m.segmentKey);
    if (!since || new Date(m.writtenAt) >= since) {
      const body = await store.get(m.segmentKey);
      if (!body) return fail(m.segmentKey, 'segment missing: its manifest exists but the object does not (deleted?)');
      const sha = sha256Hex(body);
      if (sha !== m.segmentSha256) return fail(m.segmentKey, `segment altered: sha256 ${sha}, its manifest says ${m.segmentSha256}`);
      let lines;
      try {
        lines = decodeSegment(body, m.segmentKey);
      } catch (err) {
        return fail(m.segmentKey, (err as Error).message);
      }
      let last = BigInt(m.startOffset) - 1n;
      for (const line of lines) {
        const offset = BigInt(line.offset);
        if (offset <= last) return fail(m.segmentKey, `records out of order: offset ${line.offset} after ${last}`);
        last = offset;
      }
      if (lines.length !== m.records || lines[0]?.offset !== m.firstOffset || lines.at(-1)?.offset !== m.lastOffset) {
        return fail(m.segmentKey, `holds ${lines.length} records ${lines[0]?.offset ?? '-'}-${lines.at(-1)?.offset ?? '-'}, its manifest says ${m.records} records ${m.firstOffset}-${m.lastOffset}`);
      }
    }
    result.records += m.records;
    result.manifests.set(m.segmentKey, m);
    result.order.push(m);
    previous = m;
  }
  for (const orphan of segmentKeys) warnings.push(`${orphan}: segment without a manifest (an archiver stopped between the two writes; the next start adopts it)`);
  return result;
}

export async function verifyArchive(store: AuditStore, topology: Topology, key: KeyObject, options: VerifyOptions = {}): Promise<VerifyReport> {
  const chains = archiveChains(topology);
  const report: VerifyReport = { ok: true, problems: [], warnings: [], chains: 0, segments: 0, records: 0, roots: 0, unsealedSegments: 0 };
  const results = new Map<string, ChainResult>();
  for (const chain of chains) {
    const r = await verifyChain(store, chain, report.warnings, options.since);
    results.set(`${chain.topic}/${chain.partition}`, r);
    if (r.order.length > 0 || r.problem) report.chains++;
    report.segments += r.order.length;
    report.records += r.records;
    if (r.problem) report.problems.push(r.problem);
  }

  const rootKeys = await store.list(rootsPrefix(topology.options.namespace));
  let previous: { key: string; sha256: string } | null = null;
  let latest: SignedRoot | undefined;
  for (const rootKey of rootKeys) {
    const bytes = await store.get(rootKey);
    const problem = (message: string) => report.problems.push({ key: rootKey, message });
    if (!bytes) {
      problem('root listed but not readable');
      break;
    }
    let signed: SignedRoot;
    try {
      signed = JSON.parse(bytes.toString('utf8')) as SignedRoot;
    } catch {
      problem('root is not JSON');
      break;
    }
    report.roots++;
    const checkBytes = !options.since || new Date(signed.root?.sealedAt ?? 0) >= options.since;
    if (checkBytes && !rootSignatureValid(signed, key)) {
      problem(`signature does not verify with the audit public key (forged, altered, or signed with another key: key id ${signed.keyId})`);
      break;
    }
    if (signed.root.namespace !== topology.options.namespace) {
      problem(`root of namespace ${signed.root.namespace} kept under ${topology.options.namespace}`);
      break;
    }
    if (JSON.stringify(signed.root.previousRoot) !== JSON.stringify(previous)) {
      problem(`root chain broken: names ${signed.root.previousRoot?.key ?? 'no root'} as previous, the previous root is ${previous?.key ?? 'none'}${previous ? ` (sha256 ${previous.sha256})` : ''}`);
      break;
    }
    const headProblem = signed.root.heads
      .map((head) => {
        const m = results.get(`${head.topic}/${head.partition}`)?.manifests.get(head.segmentKey);
        if (!m) return `names ${head.segmentKey} as the head of ${head.topic}/${head.partition}, which is not in the verified chain (removed?)`;
        if (m.segmentSha256 !== head.segmentSha256) return `names ${head.segmentKey} with sha256 ${head.segmentSha256}, the archive holds ${m.segmentSha256}`;
        return undefined;
      })
      .find((p) => p !== undefined);
    if (headProblem) {
      problem(headProblem);
      break;
    }
    previous = { key: rootKey, sha256: sha256Hex(bytes) };
    latest = signed;
  }
  // A chain whose last segment is gone after a root was sealed: the root names a head past the chain's end.
  for (const r of results.values()) {
    const head = latest?.root.heads.find((h) => h.topic === r.order[0]?.topic && h.partition === r.order[0]?.partition);
    const sealedIndex = head ? r.order.findIndex((m) => m.segmentKey === head.segmentKey) : -1;
    report.unsealedSegments += r.order.length - (sealedIndex + 1);
  }
  if (rootKeys.length === 0 && report.segments > 0) report.warnings.push('no signed root yet: segments are chained but not yet under a signature');
  report.ok = report.problems.length === 0;
  return report;
}
