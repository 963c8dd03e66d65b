/** The archiver's declaration (issue 18a). A sink: connectors/audit/ implements it. */
import { declareProcessor } from '../../topology/contract.ts';

export const ARCHIVER = declareProcessor({
  id: 'archiver',
  kind: 'sink',
  // Everything a compacted topic would lose, and the DLQ, whose retention ends: the audit record.
  inputs: ['received', 'chunked', 'batches', 'enriched', 'validated', 'accepted', 'rejected', 'dlq'],
  outputs: [],
  stores: [],
  retries: [],
  description: 'Hash-chained, signed audit segments of every state topic, the manifests and the DLQ in the object store',
});
