/** The extractor's declaration: the one place its inputs and outputs are written. */
import { declareProcessor } from '../../topology/contract.ts';

export const EXTRACTOR = declareProcessor({
  id: 'extractor',
  kind: 'processor',
  inputs: ['extract'],
  outputs: ['raw', 'dlq'],
  stores: [],
  retries: [],
  description: 'Reads PDF applications (form fields or OCR) into ordinary raw envelopes',
});
