/** The enricher's declaration: the one place its inputs, outputs and retry topics are written. */
import { declareProcessor } from '../../topology/contract.ts';

export const ENRICHER = declareProcessor({
  id: 'enricher',
  kind: 'processor',
  inputs: ['chunked', 'retryEnrich1', 'retryEnrich2', 'retryEnrich3'],
  outputs: ['enriched', 'retryEnrich1', 'retryEnrich2', 'retryEnrich3', 'dlq'],
  stores: [],
  retries: ['retryEnrich1', 'retryEnrich2', 'retryEnrich3'],
  description: 'Parcel, zoning, overlay, fee and history lookups',
});
