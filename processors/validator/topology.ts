/** The validator's declaration: the one place its inputs and outputs are written. */
import { declareProcessor } from '../../topology/contract.ts';

export const VALIDATOR = declareProcessor({
  id: 'validator',
  kind: 'processor',
  inputs: ['enriched'],
  outputs: ['validated', 'dlq'],
  stores: [],
  retries: [],
  description: 'Jurisdiction rule sets',
});
