/**
 * The ArcGIS and SODA query builders of the connectors, read by the fixture servers' handlers
 * (called directly, no network): both sides of each protocol agree.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arcgisQueryUrl, checkArcgisBody, sqlString } from '../../connectors/lookups/arcgis.ts';
import { PARCEL_FIELDS } from '../../connectors/lookups/fields.ts';
import { LOOKUP_ERRORS } from '../../connectors/lookups/http/errors.ts';
import { normaliseAddress } from '../../connectors/lookups/parcel.ts';
import { soqlString, sodaQueryUrl } from '../../connectors/lookups/soda.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { handleArcgis } from '../fixtures/lookups/arcgis-server.ts';
import { SITES } from '../fixtures/lookups/cedar-county.ts';
import { handleSoda } from '../fixtures/lookups/soda-server.ts';
import { compileWhere, WhereClauseError } from '../fixtures/lookups/where-clause.ts';

const LAYER = 'http://gis.example/arcgis/rest/services/CedarCounty/Parcels/FeatureServer/0';
const PERMITS = 'http://data.example/resource/cfpm-7x2q.json';

interface FeatureSet {
  features: Array<{ attributes: Record<string, unknown>; centroid?: { x: number; y: number }; geometry?: unknown }>;
  fields: Array<{ name: string }>;
}

test('a parcel query by APN asks for attributes and centroid, and the layer answers with one feature', () => {
  const url = arcgisQueryUrl(LAYER, { where: `${PARCEL_FIELDS.apn} = ${sqlString(SITES.alderCreek.apn)}`, outFields: ['APN', 'SITUS_ADDRESS'], returnCentroid: true });
  assert.equal(url.pathname, '/arcgis/rest/services/CedarCounty/Parcels/FeatureServer/0/query');
  assert.equal(url.searchParams.get('f'), 'json');
  assert.equal(url.searchParams.get('returnGeometry'), 'false');
  const reply = handleArcgis(url);
  const body = reply.body as FeatureSet;
  assert.equal(body.features.length, 1);
  assert.deepEqual(body.features[0]!.attributes, { APN: SITES.alderCreek.apn, SITUS_ADDRESS: '1842 NE ALDER CREEK RD' });
  assert.ok(Math.abs(body.features[0]!.centroid!.y - SITES.alderCreek.lat) < 1e-9);
  assert.equal(body.features[0]!.geometry, undefined);
  assert.deepEqual(body.fields.map((f) => f.name), ['APN', 'SITUS_ADDRESS']);
});

test('a point query intersects polygons; returnCountOnly counts', () => {
  const zoning = handleArcgis(arcgisQueryUrl(LAYER.replace('Parcels', 'Zoning'), { point: SITES.mainStreet, outFields: ['ZONE_CODE'] })).body as FeatureSet;
  assert.deepEqual(zoning.features.map((f) => f.attributes.ZONE_CODE), ['C-2']);
  const boundary = LAYER.replace('Parcels', 'Boundary');
  assert.deepEqual(handleArcgis(arcgisQueryUrl(boundary, { point: SITES.haydenBridge, returnCountOnly: true })).body, { count: 1 });
  assert.deepEqual(handleArcgis(arcgisQueryUrl(boundary, { point: SITES.salem, returnCountOnly: true })).body, { count: 0 });
});

test('an address query matches the assessor form of the address, quotes escaped', () => {
  assert.equal(normaliseAddress(' 1842 ne Alder  Creek Rd. '), '1842 NE ALDER CREEK RD');
  const where = `UPPER(SITUS_ADDRESS) = ${sqlString(normaliseAddress('1842 NE Alder Creek Rd'))} AND SITUS_ZIP = '97402'`;
  assert.equal((handleArcgis(arcgisQueryUrl(LAYER, { where })).body as FeatureSet).features.length, 1);
  assert.equal(sqlString("O'Brien Rd"), "'O''Brien Rd'");
  assert.equal((handleArcgis(arcgisQueryUrl(LAYER, { where: `SITUS_ADDRESS = ${sqlString("1 O'Brien Rd")}` })).body as FeatureSet).features.length, 0);
});

test('ArcGIS refuses a bad query with an error object in a 200, which the connector classifies', () => {
  const reply = handleArcgis(arcgisQueryUrl(LAYER, { where: 'OWNER_NAME = 1' }));
  assert.equal(reply.status, 200);
  const target = { api: 'parcels' as const, url: new URL(LAYER) };
  assert.throws(() => checkArcgisBody(reply.body, target), (err: unknown) => err instanceof PermitflowError && err.code === LOOKUP_ERRORS.rejected && !err.retriable);
  assert.throws(() => checkArcgisBody({ error: { code: 503, message: 'busy' } }, target), (err: unknown) => err instanceof PermitflowError && err.code === LOOKUP_ERRORS.unavailable && err.retriable);
  assert.doesNotThrow(() => checkArcgisBody({ features: [] }, target));
  assert.equal((handleArcgis(new URL(`${LAYER}/query?f=json&geometry=1,2&geometryType=esriGeometryPoint&inSR=3857`)).body as { error: { code: number } }).error.code, 400);
});

test('a SODA query filters, orders and limits rows of strings', () => {
  const url = sodaQueryUrl(PERMITS, { where: `parcel_number = ${soqlString(SITES.mainStreet.apn)}`, order: 'issued_date DESC', limit: 2 });
  assert.equal(url.searchParams.get('$where'), "parcel_number = '17-03-31-40-05600'");
  const rows = handleSoda(url).body as Array<Record<string, string>>;
  assert.deepEqual(rows.map((r) => r.permit_number), ['FIR2024-00310', 'SGN2023-00088']);
  assert.equal(typeof rows[0]!.valuation, 'string');
  const simple = handleSoda(new URL(`${PERMITS}?status=Issued`)).body as Array<Record<string, string>>;
  assert.deepEqual(simple.map((r) => r.permit_number), ['ELE2025-01877']);
});

test('SODA answers errors in its own shape', () => {
  assert.deepEqual(handleSoda(new URL(`${PERMITS}?$where=owner = 'x'`)), { status: 400, body: { code: 'query.soql.no-such-column', error: true, message: 'no such field: owner' } });
  assert.equal(handleSoda(new URL('http://data.example/resource/zzzz-0000.json')).status, 404);
  assert.equal(handleSoda(new URL(`${PERMITS}?$where=valuation > 1`)).status, 400);
});

test('the fixture where clause supports equality joined by AND and refuses the rest', () => {
  const matches = compileWhere("UPPER(name) = 'MAIN' AND n = 2", ['name', 'n']);
  assert.equal(matches({ name: 'Main', n: 2 }), true);
  assert.equal(matches({ name: 'Main', n: 3 }), false);
  assert.equal(compileWhere('1=1', [])({}), true);
  assert.equal(compileWhere('1=0', [])({}), false);
  for (const bad of ['name > 1', 'name = 1 OR n = 2', 'name = 1 AND', '', 'unknown = 1']) {
    assert.throws(() => compileWhere(bad, ['name', 'n']), WhereClauseError, bad);
  }
});
