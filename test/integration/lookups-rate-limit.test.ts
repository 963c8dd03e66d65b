/**
 * The per-API rate limit is shared through Redis: two lookup instances together keep to it, as
 * measured by the fixture servers over every sliding second, and wait for their turn instead
 * of failing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RecordedRequest } from '../fixtures/lookups/fixture-server.ts';
import { startLookupsHarness } from '../fixtures/lookups/harness.ts';
import { sampleApplications } from '../support/samples.ts';

const LIMIT = 10;
/** Requests arriving over the network can bunch by a few milliseconds around a window edge. */
const TOLERANCE = 1;

test('two instances sharing Redis together keep each API within its rate limit', async (t) => {
  const harness = await startLookupsHarness(t, {
    LOOKUPS_PARCELS_RATE_LIMIT: String(LIMIT),
    LOOKUPS_ZONING_RATE_LIMIT: String(LIMIT),
    LOOKUPS_OVERLAYS_RATE_LIMIT: String(LIMIT),
    LOOKUPS_HISTORY_RATE_LIMIT: String(LIMIT),
    LOOKUPS_DEADLINE_MS: '20000',
  });
  // Nothing cached: every lookup goes to the APIs.
  harness.arcgis.setCacheControl('no-store');
  harness.soda.setCacheControl('no-store');
  const instances = [await harness.lookups(), await harness.lookups()];
  const applications = sampleApplications();

  const started = Date.now();
  const results = await Promise.all(instances.flatMap((lookups) => applications.map((application) => lookups.lookupAll(application))));
  const elapsedMs = Date.now() - started;
  assert.equal(results.length, 2 * applications.length, 'every lookup waited for its turn and answered');

  const apis: Record<string, (q: RecordedRequest) => boolean> = {
    parcels: (q) => /\/(Parcels|Boundary)\//.test(q.path),
    zoning: (q) => q.path.includes('/Zoning/'),
    overlays: (q) => q.path.includes('/Overlays/'),
  };
  for (const [api, filter] of Object.entries(apis)) {
    const peak = harness.arcgis.maxRequestsPerSecond(filter);
    t.diagnostic(`${api}: peak ${peak} requests in a sliding second`);
    assert.ok(peak <= LIMIT + TOLERANCE, `${api}: ${peak} requests within one second, limit ${LIMIT}`);
  }
  const historyPeak = harness.soda.maxRequestsPerSecond();
  t.diagnostic(`history: peak ${historyPeak} requests in a sliding second; all lookups took ${elapsedMs} ms`);
  assert.ok(historyPeak <= LIMIT + TOLERANCE, `history: ${historyPeak} requests within one second, limit ${LIMIT}`);

  // 10 lookups × 3 overlay layers = 30 requests at 10/s: the limit, not the fixtures, set the pace.
  const overlayRequests = harness.arcgis.count(apis.overlays);
  assert.equal(overlayRequests, 3 * results.length);
  assert.ok(elapsedMs >= ((overlayRequests - LIMIT) / LIMIT) * 1000, `${overlayRequests} overlay requests took only ${elapsedMs} ms`);
});
