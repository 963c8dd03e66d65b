/** Sample records of every schema, for tests. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalPayload, submissionHashOf } from '../../domain/hashing.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import type { SchemaName } from '../../schemas/index.ts';
import type { PermitApplication, StateHeader, SubmissionEnvelope } from '../../schemas/types.ts';

export function sampleApplications(): PermitApplication[] {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/applications.json'), 'utf8')) as PermitApplication[];
}

export function sampleEnvelope(application: PermitApplication = sampleApplications()[0]!): SubmissionEnvelope {
  const payload = canonicalPayload(application);
  const attachments: SubmissionEnvelope['attachments'] = [
    { name: 'site-plan.pdf', kind: 'site-plan', contentType: 'application/pdf', size: 48211, sha256: 'ab'.repeat(32), objectKey: `attachments/${'ab'.repeat(32)}` },
  ];
  return {
    submissionHash: submissionHashOf(payload.hash, attachments),
    source: 'http',
    sourceClient: 'portal',
    sourceReference: application.sourceReference ?? null,
    receivedAt: Date.parse('2026-11-29T10:00:00Z'),
    payload: { contentType: 'application/json', size: payload.bytes.length, sha256: payload.hash, inline: payload.bytes, objectKey: null },
    attachments,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  };
}

const header = (state: StateHeader['state']): StateHeader => ({
  submissionHash: 'cd'.repeat(32),
  state,
  batchId: state === 'received' ? null : '9f1c2b7e-3d4a-4e5f-8a6b-7c8d9e0f1a2b',
  idempotencyKey: 'ef'.repeat(32),
  at: Date.parse('2026-11-29T10:00:01Z'),
  workerId: 'windower-host-1',
  attempt: 1,
  traceparent: null,
});

/** One valid value per schema. */
export function sampleRecords(): Record<SchemaName, unknown> {
  const envelope = sampleEnvelope();
  return {
    SubmissionEnvelope: envelope,
    SubmissionReceived: { header: header('received'), source: 'http', sourceClient: 'portal', sourceReference: null, receivedAt: envelope.receivedAt, rawOffset: 42, payload: envelope.payload, attachments: envelope.attachments },
    SubmissionChunked: { header: header('chunked'), batchSize: 500, sourceReference: null, receivedAt: envelope.receivedAt, payload: envelope.payload, attachments: [] },
    SubmissionEnriched: {
      header: header('enriched'),
      payload: envelope.payload,
      attachments: [],
      lookups: [{ lookup: 'parcel', outcome: 'found', source: 'http://gis.example/arcgis/rest/services/Parcels/FeatureServer/0', fetchedAt: 1, cacheHit: false, attempt: 1, data: '{"apn":"17-04-22-00-01400"}' }],
    },
    SubmissionValidated: {
      header: header('validated'),
      payload: envelope.payload,
      ruleSetVersion: 'us-or-cedar-county@2026.11',
      findings: [{ code: 'FEE_UNDERPAID', severity: 'ERROR', field: '/payment/amountPaid', message: 'Pay the remaining $12.00', ruleSetVersion: 'us-or-cedar-county@2026.11' }],
      computedFeeCents: 119625,
      paidFeeCents: 118425,
    },
    SubmissionAccepted: { header: header('accepted'), jurisdiction: 'us-or-cedar-county', permitType: 'Building', parcelNumber: '17-04-22-00-01400', reviewTrack: 'standard', computedFeeCents: 118425, warnings: [] },
    SubmissionRejected: { header: header('rejected'), reasons: [{ code: 'ATTACHMENT_REQUIRED', field: '/attachments', message: 'Attach a site plan' }] },
    BatchManifest: {
      batchId: '9f1c2b7e-3d4a-4e5f-8a6b-7c8d9e0f1a2b',
      idempotencyKey: 'ef'.repeat(32),
      partition: 3,
      members: ['cd'.repeat(32)],
      count: 1,
      bytes: 2048,
      openedAt: 1,
      closedAt: 2,
      closeReason: 'AGE',
      firstOffset: 10,
      lastOffset: 10,
      archiveKey: `batches/${'ef'.repeat(32)}.jsonl.gz`,
      workerId: 'windower-host-1',
    },
    DeadLetter: {
      submissionHash: null,
      batchId: null,
      stage: 'windower',
      consumerGroup: 'permitflow.windower',
      errorClass: 'PF_DECODE_FAILED',
      errorMessage: 'not in the Confluent wire format',
      errorChain: ['PF_DECODE_FAILED: not in the Confluent wire format'],
      attempt: 1,
      firstFailureAt: 1,
      lastFailureAt: 1,
      originalTopic: 'permits.submissions.raw',
      originalPartition: 0,
      originalOffset: 7,
      originalTimestamp: 1,
      originalKey: Buffer.from('k'),
      originalValue: Buffer.from('not avro'),
      originalHeaders: {},
      traceId: null,
      workerId: 'windower-host-1',
      parked: false,
    },
    PermitApplication: sampleApplications()[0],
  };
}
