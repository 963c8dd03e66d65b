/**
 * The enrichment lookups against the ArcGIS and SODA fixture servers and the real Redis:
 * answers for every sample application, findings (not_found, outside_jurisdiction) that are
 * not errors, and the shared response cache (fresh hits, default TTL, ETag revalidation) with
 * the in-process cache in front of it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import type { LookupName } from '../../connectors/lookups/index.ts';
import type { LookupResult, PermitApplication } from '../../schemas/types.ts';
import { SITES } from '../fixtures/lookups/cedar-county.ts';
import { startLookupsHarness } from '../fixtures/lookups/harness.ts';
import { purgeKeys } from '../support/redis.ts';
import { sampleApplications } from '../support/samples.ts';

const byName = (results: LookupResult[]): Record<LookupName, LookupResult & { json: Record<string, unknown> }> =>
  Object.fromEntries(results.map((r) => [r.lookup, { ...r, json: r.data === null ? {} : (JSON.parse(r.data) as Record<string, unknown>) }])) as never;

const [alderCreek, willowBend, mainStreet, riverRoad, haydenBridge] = sampleApplications() as [PermitApplication, PermitApplication, PermitApplication, PermitApplication, PermitApplication];

test('every lookup answers for a sample application, with provenance', async (t) => {
  const harness = await startLookupsHarness(t);
  const lookups = await harness.lookups();
  const before = Date.now();
  const results = await lookups.lookupAll(alderCreek);

  assert.deepEqual(results.map((r) => r.lookup), ['parcel', 'zoning', 'overlays', 'fees', 'history']);
  const r = byName(results);
  for (const result of results) assert.equal(result.outcome, 'found', `${result.lookup}: ${result.data}`);

  assert.equal(r.parcel.json.apn, SITES.alderCreek.apn);
  assert.equal(r.parcel.json.matchedBy, 'apn');
  assert.equal(r.parcel.json.address, '1842 NE ALDER CREEK RD');
  assert.deepEqual(r.parcel.json.centroid, { lat: SITES.alderCreek.lat, lon: SITES.alderCreek.lon });
  assert.equal(r.zoning.json.zoneCode, 'R-1');
  assert.equal(r.zoning.json.locatedBy, 'parcel-centroid');
  assert.deepEqual(r.overlays.json.flood, { zone: 'X', subtype: 'AREA OF MINIMAL FLOOD HAZARD', specialFloodHazardArea: false, baseFloodElevationFt: null });
  assert.deepEqual(r.overlays.json.historicDistricts, []);
  assert.deepEqual(r.overlays.json.environmental, []);
  // $842.00 + 37 × $9.25 under the version in force on the application date: what the applicant paid.
  assert.equal(r.fees.json.feeCents, 118425);
  assert.equal(r.fees.json.scheduleVersion, '2026.11');
  assert.match(r.fees.source, /^file:\/\/.*fee-schedule\.yaml#2026\.11$/);
  assert.deepEqual((r.history.json.permits as Array<{ permitNumber: string }>).map((p) => p.permitNumber), ['ROF2019-00655', 'MEC2011-00310']);
  assert.equal(r.history.json.failedInspections, 0);

  for (const result of [r.parcel, r.zoning, r.overlays, r.history]) {
    assert.equal(result.cacheHit, false);
    assert.equal(result.attempt, 1);
    assert.ok(result.fetchedAt >= before && result.fetchedAt <= Date.now(), `${result.lookup} fetchedAt`);
  }
  assert.match(r.parcel.source, new RegExp(`^${harness.arcgis.origin}/arcgis/rest/services/CedarCounty/Parcels/FeatureServer/0/query$`));
  assert.equal(r.overlays.source.split(' ').length, 3);
  assert.ok(r.history.source.startsWith(harness.soda.origin));
});

test('the other sample applications get their parcel, zoning, overlays and history', async (t) => {
  const harness = await startLookupsHarness(t);
  const lookups = await harness.lookups();

  const willow = byName(await lookups.lookupAll(willowBend));
  assert.equal(willow.zoning.json.zoneCode, 'R-1');
  assert.equal((willow.overlays.json.flood as { subtype: string }).subtype, '0.2 PCT ANNUAL CHANCE FLOOD HAZARD');
  assert.deepEqual(willow.overlays.json.environmental, [{ type: 'Riparian Setback', name: 'Willow Creek riparian corridor', codeSection: 'CFDC 4.3.120' }]);
  assert.deepEqual(willow.history.json.openPermits, ['ELE2025-01877']);
  assert.equal(willow.history.json.failedInspections, 1);
  assert.equal(willow.fees.json.feeCents, 31200);

  const main = byName(await lookups.lookupAll(mainStreet));
  assert.equal(main.zoning.json.zoneCode, 'C-2');
  assert.deepEqual(main.overlays.json.historicDistricts, [{ name: 'Downtown Cedar Falls Historic District', nrhpReference: '89001234' }]);
  assert.equal(main.history.json.failedInspections, 1);

  const river = byName(await lookups.lookupAll(riverRoad));
  assert.equal(river.zoning.json.zoneCode, 'RR-5');
  assert.deepEqual(river.overlays.json.flood, { zone: 'AE', subtype: null, specialFloodHazardArea: true, baseFloodElevationFt: 412 });
  assert.equal(river.fees.json.feeCents, 15000);

  // No APN and no parcel at the site (right of way): the parcel is not found, but the point
  // still places the site in zoning and overlays, and inside the county.
  const hayden = byName(await lookups.lookupAll(haydenBridge));
  assert.equal(hayden.parcel.outcome, 'not_found');
  assert.deepEqual(hayden.parcel.json.searchedBy, ['address', 'point']);
  assert.equal(hayden.zoning.outcome, 'found');
  assert.equal(hayden.zoning.json.zoneCode, 'I-1');
  assert.equal(hayden.zoning.json.locatedBy, 'site-coordinates');
  assert.equal((hayden.overlays.json.flood as { subtype: string }).subtype, 'FLOODWAY');
  assert.equal((hayden.overlays.json.environmental as unknown[]).length, 1);
  assert.equal(hayden.history.outcome, 'not_found');
  assert.equal(hayden.fees.outcome, 'found');
});

test('an unknown parcel is a not_found finding, not an error', async (t) => {
  const harness = await startLookupsHarness(t);
  const lookups = await harness.lookups();
  const unknown: PermitApplication = {
    ...alderCreek,
    site: { address: { line1: '9 Nowhere Ln', city: 'Cedar Falls', state: 'OR', postalCode: '97402' }, parcelNumber: '17-04-22-00-99999', latitude: null, longitude: null },
  };
  const r = byName(await lookups.lookupAll(unknown));
  assert.equal(r.parcel.outcome, 'not_found');
  assert.deepEqual(r.parcel.json, { requestedApn: '17-04-22-00-99999', searchedBy: ['apn', 'address'] });
  assert.equal(r.zoning.outcome, 'not_found');
  assert.equal(r.overlays.outcome, 'not_found');
  assert.equal(r.history.outcome, 'not_found');
  assert.equal(r.fees.outcome, 'found', 'the fee depends on type and valuation only');
});

test('a wrong APN with a known address finds the parcel by address and reports the APN given', async (t) => {
  const harness = await startLookupsHarness(t);
  const lookups = await harness.lookups();
  const typo: PermitApplication = { ...alderCreek, site: { ...alderCreek.site, parcelNumber: '17-04-22-00-01401' } };
  const r = byName(await lookups.lookupAll(typo));
  assert.equal(r.parcel.outcome, 'found');
  assert.equal(r.parcel.json.apn, SITES.alderCreek.apn);
  assert.equal(r.parcel.json.matchedBy, 'address');
  assert.equal(r.parcel.json.requestedApn, '17-04-22-00-01401');
});

test('a site outside the county is an outside_jurisdiction finding for every lookup', async (t) => {
  const harness = await startLookupsHarness(t);
  const lookups = await harness.lookups();
  const salem: PermitApplication = {
    ...alderCreek,
    site: { address: { line1: '555 Court St NE', city: 'Salem', state: 'OR', postalCode: '97301' }, parcelNumber: null, latitude: SITES.salem.lat, longitude: SITES.salem.lon },
  };
  const results = await lookups.lookupAll(salem);
  for (const result of results) assert.equal(result.outcome, 'outside_jurisdiction', result.lookup);
  assert.equal(harness.arcgis.count((q) => q.path.includes('/Boundary/')), 1, 'the boundary layer decided');

  const filedElsewhere = await lookups.lookupAll({ ...alderCreek, jurisdiction: 'us-or-lane-county' });
  for (const result of filedElsewhere) assert.equal(result.outcome, 'outside_jurisdiction', result.lookup);
});

test('a repeated parcel is served from the shared cache: one request per query', async (t) => {
  const harness = await startLookupsHarness(t);
  const first = await harness.lookups();
  const second = await harness.lookups(); // another instance, same Redis
  const fresh = byName(await first.lookupAll(alderCreek));
  const requestsAfterFirst = harness.arcgis.count() + harness.soda.count();

  const cached = byName(await second.lookupAll(alderCreek));
  assert.equal(harness.arcgis.count() + harness.soda.count(), requestsAfterFirst, 'no request the second time');
  assert.equal(harness.arcgis.count((q) => q.path.endsWith('/Parcels/FeatureServer/0/query')), 1);
  for (const name of ['parcel', 'zoning', 'overlays', 'history'] as const) {
    assert.equal(cached[name].cacheHit, true, name);
    assert.equal(cached[name].fetchedAt, fresh[name].fetchedAt, `${name} keeps the time it was fetched`);
    assert.equal(cached[name].data, fresh[name].data, name);
  }
});

test('a fresh answer is served from the process memory in front of Redis; with that memory off, Redis is asked', async (t) => {
  const harness = await startLookupsHarness(t);
  const redis = new Redis(harness.config.redis.url);
  t.after(() => redis.quit());
  const remembering = await harness.lookups();
  const forgetful = await harness.lookups({ LOOKUPS_MEMORY_CACHE_MB: '0' });
  const fresh = byName(await remembering.lookupAll(alderCreek));
  const requests = () => harness.arcgis.count() + harness.soda.count();
  const requestsAfterFirst = requests();

  // The shared cache forgets everything: only the first instance's memory still holds the answers.
  await purgeKeys(redis, harness.config.lookups.redisKeyPrefix);
  const remembered = byName(await remembering.lookupAll(alderCreek));
  assert.equal(requests(), requestsAfterFirst, 'no request: every answer came from memory');
  for (const name of ['parcel', 'zoning', 'overlays', 'history'] as const) {
    assert.equal(remembered[name].cacheHit, true, name);
    assert.equal(remembered[name].fetchedAt, fresh[name].fetchedAt, `${name} keeps the time it was fetched`);
    assert.equal(remembered[name].data, fresh[name].data, name);
  }

  await forgetful.lookupAll(alderCreek);
  assert.ok(requests() > requestsAfterFirst, 'without the memory cache the emptied Redis sends the lookups to the APIs');
});

test('the process memory answers only while the answer is fresh: past its max-age the API is asked again', async (t) => {
  const harness = await startLookupsHarness(t, {}, { arcgisCacheControl: 'max-age=1' });
  const lookups = await harness.lookups();
  const parcelQueries = () => harness.arcgis.count((q) => q.path.endsWith('/Parcels/FeatureServer/0/query'));
  await lookups.lookupAll(alderCreek);
  await lookups.lookupAll(alderCreek);
  assert.equal(parcelQueries(), 1, 'fresh: the second lookup was answered from the cache');
  // Expiry is the behaviour under test: no event to wait for but the clock.
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  const later = byName(await lookups.lookupAll(alderCreek));
  assert.equal(parcelQueries(), 2, 'stale: the parcel API was asked again, neither memory nor Redis answered alone');
  assert.equal(later.parcel.outcome, 'found');
});

test('an answer that must be revalidated is confirmed with If-None-Match and a 304', async (t) => {
  const harness = await startLookupsHarness(t, {}, { arcgisCacheControl: 'no-cache' });
  const lookups = await harness.lookups();
  const fresh = byName(await lookups.lookupAll(alderCreek));
  const parcelQueries = (q: { path: string }) => q.path.endsWith('/Parcels/FeatureServer/0/query');

  const revalidated = byName(await lookups.lookupAll(alderCreek));
  const parcelRequests = harness.arcgis.requests.filter(parcelQueries);
  assert.equal(parcelRequests.length, 2);
  assert.equal(parcelRequests[1]!.conditional, true);
  assert.equal(harness.arcgis.count((q) => parcelQueries(q) && q.status === 304), 1);
  assert.equal(revalidated.parcel.cacheHit, true, 'the body came from the cache');
  assert.ok(revalidated.parcel.fetchedAt >= fresh.parcel.fetchedAt, 'the origin confirmed it again');
  assert.equal(revalidated.parcel.data, fresh.parcel.data);
  assert.equal(harness.soda.count((q) => q.conditional), 0, 'SODA answers (no Cache-Control) stayed fresh for the default TTL');
});

test('an answer marked no-store is never cached', async (t) => {
  const harness = await startLookupsHarness(t, {}, { arcgisCacheControl: 'no-store' });
  const lookups = await harness.lookups();
  await lookups.lookupAll(alderCreek);
  const again = byName(await lookups.lookupAll(alderCreek));
  assert.equal(harness.arcgis.count((q) => q.path.endsWith('/Parcels/FeatureServer/0/query')), 2);
  assert.equal(harness.arcgis.count((q) => q.conditional), 0);
  assert.equal(again.parcel.cacheHit, false);
});
