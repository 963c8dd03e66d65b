/** The decider's declaration: the one place its inputs and outputs are written. */
import { declareProcessor } from '../../topology/contract.ts';

export const DECIDER = declareProcessor({
  id: 'decider',
  kind: 'processor',
  inputs: ['validated'],
  outputs: ['accepted', 'rejected', 'dlq'],
  stores: [],
  retries: [],
  description: 'Accept or reject with reasons',
});
