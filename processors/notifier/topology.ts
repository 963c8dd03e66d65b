/** The notifier's declaration (issue 18b). A sink: connectors/webhooks/ implements it. */
import { declareProcessor } from '../../topology/contract.ts';

export const NOTIFIER = declareProcessor({
  id: 'notifier',
  kind: 'sink',
  // The states integrators are told about, and the manifests (batch.completed).
  inputs: ['received', 'accepted', 'rejected', 'batches'],
  outputs: [],
  stores: [],
  retries: [],
  description: 'Signed status webhooks: events queued per subscriber in PostgreSQL, delivered with retries, breakers and dead letters',
});
