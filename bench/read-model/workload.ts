/**
 * The read-model bench's workload: pre-built sink records of whole submissions (every state,
 * the batch manifests), grouped as Kafka fetches, built before the clock starts.
 */
import { stateRecord, type StateRecord } from '../../connectors/read-model/records.ts';
import type { SinkRecord } from '../../connectors/read-model/write.ts';
import { sha256Hex as sha } from '../../domain/hashing.ts';
import type { BatchManifest, PayloadRef, StateHeader } from '../../schemas/types.ts';

/** Submissions per windower batch (manifest). */
const WINDOW = 500;

const PAYLOAD: PayloadRef = { contentType: 'application/json', size: 900, sha256: sha('p'), inline: null, objectKey: `raw/${sha('p')}` };

export interface Fetch {
  topic: string;
  records: SinkRecord[];
}

/** Every state record of `submissions` submissions (windows of 500, 70% accepted), grouped as Kafka fetches of `fetchSize`. */
export function workload(submissions: number, fetchSize: number): { fetches: Fetch[]; stateRecords: number } {
  const byTopic = new Map<string, SinkRecord[]>();
  const add = (topic: string, record: SinkRecord) => {
    const list = byTopic.get(topic);
    if (list) list.push(record);
    else byTopic.set(topic, [record]);
  };
  const offsets = new Map<string, bigint>();
  const next = (topic: string) => {
    const o = offsets.get(topic) ?? 0n;
    offsets.set(topic, o + 1n);
    return o;
  };
  for (let w = 0; w * WINDOW < submissions; w++) {
    const batchId = `bench-batch-${w}`;
    const members: string[] = [];
    for (let i = w * WINDOW; i < Math.min(submissions, (w + 1) * WINDOW); i++) {
      const hash = sha(`bench/${i}`);
      members.push(hash);
      const header = (state: StateHeader['state']): StateHeader => ({ submissionHash: hash, state, batchId: state === 'received' ? null : batchId, idempotencyKey: hash, at: Date.now(), workerId: 'bench', attempt: 1, traceparent: `00-${hash.slice(0, 32)}-${hash.slice(32, 48)}-01` });
      const findings = [{ code: 'FEE_UNDERPAID', severity: 'ERROR' as const, field: '/payment/amountPaid', message: 'Pay the remaining $10.00 (fee schedule 2026.11).', ruleSetVersion: 'us-or-cedar-county@2026.11' }];
      const accepted = i % 10 < 7;
      const records: StateRecord[] = [
        { header: header('received'), source: 'http', sourceClient: 'portal', sourceReference: `REF-${i}`, receivedAt: Date.now(), rawOffset: i, payload: PAYLOAD, attachments: [] },
        { header: header('chunked'), batchSize: WINDOW, sourceReference: `REF-${i}`, receivedAt: Date.now(), payload: PAYLOAD, attachments: [] },
        { header: header('enriched'), payload: PAYLOAD, attachments: [], lookups: ['parcel', 'zoning', 'overlays', 'fees', 'history'].map((lookup) => ({ lookup, outcome: 'found' as const, source: 'https://gis.example', fetchedAt: 1, cacheHit: false, attempt: 1, data: null })) },
        { header: header('validated'), payload: PAYLOAD, ruleSetVersion: 'us-or-cedar-county@2026.11', findings: accepted ? [] : findings, computedFeeCents: 118425, paidFeeCents: 118425 },
        accepted
          ? { header: header('accepted'), jurisdiction: 'us-or-cedar-county', permitType: 'Building', parcelNumber: '17-04-22-00-01400', reviewTrack: 'standard', computedFeeCents: 118425, warnings: [] }
          : { header: header('rejected'), reasons: [{ code: findings[0]!.code, field: findings[0]!.field, message: findings[0]!.message }] },
      ];
      for (const r of records) {
        const topic = `bench.state.${r.header.state}`;
        add(topic, { kind: 'state', offset: next(topic), ...stateRecord(r) });
      }
    }
    const manifest: BatchManifest = { batchId, idempotencyKey: sha(batchId), partition: 0, members, count: members.length, bytes: 0, openedAt: Date.now(), closedAt: Date.now(), closeReason: 'COUNT', firstOffset: 0, lastOffset: 0, archiveKey: null, workerId: 'bench' };
    add('bench.batches', { kind: 'manifest', offset: next('bench.batches'), manifest });
  }
  const fetches: Fetch[] = [];
  for (const [topic, records] of byTopic) for (let i = 0; i < records.length; i += fetchSize) fetches.push({ topic, records: records.slice(i, i + fetchSize) });
  const stateRecords = [...byTopic.values()].flat().filter((r) => r.kind === 'state').length;
  return { fetches, stateRecords };
}
