/**
 * The validator's reading of the enricher's lookups, with its memo of views already read: the
 * same answer text read twice is one view, and a different outcome, source or text is read anew.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readLookups } from '../../processors/validator/lookups.ts';
import type { LookupResult } from '../../schemas/types.ts';

const parcel = (overrides: Partial<LookupResult> = {}): LookupResult => ({
  lookup: 'parcel',
  outcome: 'found',
  source: 'https://gis.example.gov/Parcels/FeatureServer/0',
  fetchedAt: 0,
  cacheHit: true,
  attempt: 1,
  data: JSON.stringify({ apn: '0001-234', landUse: 'R1' }),
  ...overrides,
});

test('the same lookup answer read twice is one view; another source, outcome or text is read again', () => {
  const first = readLookups([parcel()]).parcel;
  assert.deepEqual(first, { status: 'found', data: { apn: '0001-234', landUse: 'R1' }, source: 'https://gis.example.gov/Parcels/FeatureServer/0' });
  assert.equal(readLookups([parcel()]).parcel, first, 'the second reading is the first view');

  const elsewhere = readLookups([parcel({ source: 'https://other.example.gov/Parcels' })]).parcel;
  assert.deepEqual(elsewhere, { status: 'found', data: { apn: '0001-234', landUse: 'R1' }, source: 'https://other.example.gov/Parcels' });

  const notFound = readLookups([parcel({ outcome: 'not_found' })]).parcel;
  assert.equal(notFound.status, 'not_found');

  const otherText = readLookups([parcel({ data: JSON.stringify({ apn: '0009-876', landUse: null }) })]).parcel;
  assert.deepEqual(otherText.status === 'found' && otherText.data, { apn: '0009-876', landUse: null });
});

test('an answer of the wrong shape is unavailable every time it is read, memo or not', () => {
  const bad = parcel({ data: JSON.stringify({ apn: '' }) });
  for (let i = 0; i < 2; i++) {
    const view = readLookups([bad]).parcel;
    assert.equal(view.status, 'unavailable');
    assert.match(view.status === 'unavailable' ? view.problem : '', /parcel lookup data is not in the expected shape/);
  }
  assert.equal(readLookups([parcel({ data: 'not json' })]).parcel.status, 'unavailable');
});
