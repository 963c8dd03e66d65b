/**
 * The read model's declaration. A sink: connectors/read-model/ implements it (commits to
 * PostgreSQL, not Kafka), and `cli/processors.ts` starts it beside the runtime.
 */
import { declareProcessor } from '../../topology/contract.ts';

export const READ_MODEL = declareProcessor({
  id: 'read-model',
  kind: 'sink',
  inputs: ['received', 'chunked', 'enriched', 'validated', 'accepted', 'rejected', 'batches', 'dlq'],
  outputs: [],
  stores: [],
  retries: [],
  description: 'PostgreSQL audit timeline and current status',
});
