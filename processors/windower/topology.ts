/** The windower's declaration: the one place its inputs, outputs and stores are written. */
import { declareProcessor } from '../../topology/contract.ts';

export const WINDOWER = declareProcessor({
  id: 'windower',
  kind: 'processor',
  inputs: ['raw'],
  outputs: ['received', 'chunked', 'batches', 'dlq'],
  stores: ['seen-hashes', 'open-window'],
  retries: [],
  description: 'Drops duplicates, emits received, closes batches on count, bytes or age',
});
