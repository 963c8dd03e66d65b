/**
 * Every validator rule, table-driven: each case changes one thing about an application that
 * otherwise passes, and names exactly the findings it must produce (so a rule that fires when
 * it should not fails too). Rules come from the shipped us-or-cedar-county rule sets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { loadFeeSchedule, type FeeAnswer } from '../../domain/fee-schedule.ts';
import { lookupFees } from '../../connectors/lookups/fees.ts';
import type { ParcelAnswer } from '../../connectors/lookups/parcel.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { scheduleFeeQuoter, type FeeQuoter } from '../../processors/validator/fee-quoter.ts';
import { validate, type Validation } from '../../processors/validator/validate.ts';
import type { Attachment, PermitApplication } from '../../schemas/types.ts';
import { alderCreek, attachment, FEES, foundAs, HISTORY, lookups, notFound, outside, OVERLAYS, ruleSets, ZONING } from './validator-fixtures.ts';

const AT = Date.parse('2026-11-20T12:00:00Z');
const DEFAULT_ATTACHMENTS = [attachment('site-plan'), attachment('drawings')];

/** A quoter that must not be asked unless the case says so. */
const noQuoter: FeeQuoter = { quote: () => Promise.reject(new Error('the fee schedule was asked although the record carries a quote')) };
const quoter = (answer: FeeAnswer): FeeQuoter => ({ quote: () => Promise.resolve(answer) });

interface Case {
  name: string;
  application?: (a: PermitApplication) => void;
  attachments?: Attachment[];
  lookups?: Parameters<typeof lookups>[0];
  fees?: FeeQuoter;
  expect: string[];
  check?: (v: Validation) => void;
}

const openPermit = (permitType: string, status: string) => ({ ...HISTORY, permits: [...HISTORY.permits, { ...HISTORY.permits[0]!, permitNumber: 'X2026-00001', permitType, status }] });
const flood = (zone: string, subtype: string | null, sfha: boolean) => foundAs({ ...OVERLAYS, flood: { zone, subtype, specialFloodHazardArea: sfha, baseFloodElevationFt: sfha ? 412 : null } });

const CASES: Case[] = [
  { name: 'a complete application has no findings', expect: [], check: (v) => assert.equal(v.ruleSetVersion, 'us-or-cedar-county@2026.11') },

  // Required fields.
  { name: 'description missing', application: (a) => (a.description = '  '), expect: ['REQUIRED_FIELD_MISSING'], check: (v) => assert.equal(v.findings[0]!.field, '/description') },
  { name: 'no email and no phone', application: (a) => (a.applicant = { name: 'M. Okafor' }), expect: ['REQUIRED_FIELD_MISSING'], check: (v) => assert.equal(v.findings[0]!.field, '/applicant/email') },
  { name: 'phone alone is a way to reach the applicant', application: (a) => (a.applicant = { name: 'M. Okafor', phone: '+1-541-555-0100' }), expect: [] },
  { name: 'electrical work without a contractor license', application: (a) => ((a.permitType = 'Electrical'), (a.workClass = 'Alteration'), (a.contractor = null)), expect: ['REQUIRED_FIELD_MISSING'], check: (v) => assert.equal(v.findings[0]!.field, '/contractor/licenseNumber') },
  { name: 'electrical work with a licensed contractor', application: (a) => ((a.permitType = 'Electrical'), (a.workClass = 'Alteration')), attachments: [], expect: [] },
  { name: 'residential building work needs no contractor', application: (a) => (a.contractor = null), expect: [] },
  { name: 'commercial building work needs a licensed contractor', application: (a) => ((a.permitClass = 'Non-Residential'), (a.contractor = null)), expect: ['REQUIRED_FIELD_MISSING'] },
  { name: 'an addition without its added floor area', application: (a) => (a.project.addedSqFt = null), expect: ['REQUIRED_FIELD_MISSING'], check: (v) => assert.equal(v.findings[0]!.field, '/project/addedSqFt') },
  { name: 'a base field missing (permit class)', application: (a) => delete (a as Partial<PermitApplication>).permitClass, expect: ['REQUIRED_FIELD_MISSING'], check: (v) => assert.equal(v.findings[0]!.field, '/permitClass') },
  { name: 'a permit type the county does not issue', application: (a) => (a.permitType = 'Elevator'), expect: ['PERMIT_TYPE_NOT_ISSUED'] },

  // Value ranges.
  { name: 'valuation of zero', application: (a) => (a.project.estimatedCost = 0), expect: ['VALUE_OUT_OF_RANGE'], check: (v) => assert.match(v.findings[0]!.message, /given 0/) },
  { name: 'valuation above the maximum', application: (a) => (a.project.estimatedCost = 100_000_001), expect: ['VALUE_OUT_OF_RANGE'] },
  { name: 'four stories on a residential permit', application: (a) => (a.project.stories = 4), expect: ['VALUE_OUT_OF_RANGE'], check: (v) => assert.equal(v.findings[0]!.field, '/project/stories') },
  { name: 'three stories on a residential permit', application: (a) => (a.project.stories = 3), expect: [] },
  { name: 'four stories on a commercial permit', application: (a) => ((a.permitClass = 'Non-Residential'), (a.project.stories = 4)), expect: [] },
  {
    name: 'grading volume that is not a number',
    application: (a) => ((a.permitType = 'Grading'), (a.workClass = 'New'), (a.extraFields = { cubicYards: 'lots' })),
    attachments: [attachment('site-plan'), attachment('erosion-control-plan')],
    expect: ['VALUE_OUT_OF_RANGE'],
    check: (v) => assert.match(v.findings[0]!.message, /"lots" is not a number/),
  },
  {
    name: 'grading volume in range (a string, as BLDS extra fields are)',
    application: (a) => ((a.permitType = 'Grading'), (a.workClass = 'New'), (a.extraFields = { cubicYards: '2900' })),
    attachments: [attachment('site-plan'), attachment('erosion-control-plan')],
    expect: [],
  },

  // Attachments.
  { name: 'drawings missing', attachments: [attachment('site-plan')], expect: ['ATTACHMENT_REQUIRED'], check: (v) => assert.match(v.findings[0]!.message, /attachment kind: drawings/) },
  { name: 'site plan and drawings missing', attachments: [], expect: ['ATTACHMENT_REQUIRED', 'ATTACHMENT_REQUIRED'] },
  { name: 'a repair needs no drawings', application: (a) => ((a.workClass = 'Repair'), (a.project.addedSqFt = null)), attachments: [], expect: [] },
  { name: 'demolition without an asbestos survey', application: (a) => ((a.permitType = 'Demolition'), (a.workClass = 'Demolition'), (a.project.removedSqFt = 380)), attachments: [], expect: ['ATTACHMENT_REQUIRED'] },
  { name: 'demolition with an asbestos survey', application: (a) => ((a.permitType = 'Demolition'), (a.workClass = 'Demolition'), (a.project.removedSqFt = 380)), attachments: [attachment('asbestos-survey')], expect: [] },

  // Zoning.
  { name: 'a restaurant in a low-density residential zone', application: (a) => (a.project.proposedUse = 'restaurant'), expect: ['ZONING_USE_NOT_PERMITTED'], check: (v) => assert.match(v.findings[0]!.message, /zone R-1 \(Low Density Residential\)/) },
  { name: 'use compared without regard to case', application: (a) => (a.project.proposedUse = 'Duplex'), expect: [] },
  { name: 'a repair does not change the use', application: (a) => ((a.project.proposedUse = 'restaurant'), (a.workClass = 'Repair'), (a.project.addedSqFt = null)), expect: [] },
  { name: 'a district without a use table', lookups: { zoning: foundAs({ ...ZONING, zoneCode: 'Z-9' }) }, expect: ['ZONING_DISTRICT_UNKNOWN'] },
  { name: 'no zoning district at a known parcel', lookups: { zoning: notFound({ reason: 'no zoning district at the location' }) }, expect: ['ZONING_NOT_FOUND'] },

  // Parcel and jurisdiction.
  {
    name: 'an APN unknown to the county',
    lookups: { parcel: notFound({ requestedApn: '99-99', searchedBy: ['apn'] }), zoning: notFound(), overlays: notFound(), history: notFound({ reason: 'parcel not found' }) },
    expect: ['PARCEL_NOT_FOUND'],
    check: (v) => assert.match(v.findings[0]!.message, /17-04-22-00-01400/),
  },
  {
    name: 'no parcel at a site given by coordinates (zoning and overlays still known)',
    application: (a) => (a.site.parcelNumber = null),
    lookups: { parcel: notFound(), history: notFound({ reason: 'parcel not found' }) },
    expect: ['PARCEL_NOT_FOUND'],
    check: (v) => assert.match(v.findings[0]!.message, /give the assessor's parcel number/),
  },
  {
    name: 'a site outside the county: no other site or fee rule applies',
    application: (a) => (a.payment = null),
    lookups: { parcel: outside, zoning: outside, overlays: outside, fees: outside, history: outside },
    expect: ['OUTSIDE_JURISDICTION'],
    check: (v) => assert.equal(v.computedFeeCents, null),
  },
  {
    name: 'a jurisdiction without rule sets',
    application: (a) => (a.jurisdiction = 'us-ca-nowhere'),
    expect: ['JURISDICTION_UNSUPPORTED'],
    check: (v) => assert.deepEqual([v.ruleSetVersion, v.findings[0]!.ruleSetVersion], ['none', 'none']),
  },
  { name: 'no jurisdiction at all', application: (a) => delete (a as Partial<PermitApplication>).jurisdiction, expect: ['REQUIRED_FIELD_MISSING'] },

  // Overlays.
  { name: 'an addition in a special flood hazard area', lookups: { overlays: flood('AE', null, true) }, expect: ['FLOOD_ZONE_ELEVATION_CERTIFICATE'], check: (v) => assert.match(v.findings[0]!.message, /flood zone AE/) },
  { name: 'an addition in a flood zone with an elevation certificate', lookups: { overlays: flood('AE', null, true) }, attachments: [...DEFAULT_ATTACHMENTS, attachment('elevation-certificate')], expect: [] },
  { name: 'an alteration in a flood zone needs no elevation certificate', application: (a) => (a.workClass = 'Alteration'), lookups: { overlays: flood('AE', null, true) }, expect: [] },
  { name: 'the 0.2% annual chance zone is not a special flood hazard area', lookups: { overlays: flood('X', '0.2 PCT ANNUAL CHANCE FLOOD HAZARD', false) }, expect: [] },
  { name: 'an addition in a floodway', lookups: { overlays: flood('AE', 'FLOODWAY', true) }, expect: ['FLOOD_ZONE_ELEVATION_CERTIFICATE', 'FLOODWAY_NO_RISE_CERTIFICATION'] },
  {
    name: 'a historic district flags (does not block) the review',
    lookups: { overlays: foundAs({ ...OVERLAYS, historicDistricts: [{ name: 'Downtown Cedar Falls Historic District', nrhpReference: '89001234' }] }) },
    expect: ['HISTORIC_DISTRICT_REVIEW'],
    check: (v) => assert.deepEqual([v.findings[0]!.severity, v.findings[0]!.field], ['WARNING', '/site']),
  },
  { name: 'a wetland overlay on new construction', lookups: { overlays: foundAs({ ...OVERLAYS, environmental: [{ type: 'Wetland', name: 'LWI site 27', codeSection: 'CFDC 4.3.300' }] }) }, expect: ['ENVIRONMENTAL_OVERLAY_REVIEW'] },
  { name: 'an environmental overlay type the rule does not name', lookups: { overlays: foundAs({ ...OVERLAYS, environmental: [{ type: 'Scenic Corridor', name: 'Hwy 126', codeSection: null }] }) }, expect: [] },

  // Permit history.
  { name: 'an open permit of the same kind on the parcel', lookups: { history: foundAs(openPermit('Building', 'Issued')) }, expect: ['ACTIVE_PERMIT_EXISTS'], check: (v) => assert.match(v.findings[0]!.message, /X2026-00001/) },
  { name: 'an open permit of another kind', lookups: { history: foundAs(openPermit('Electrical', 'Issued')) }, expect: [] },
  { name: 'a finaled permit of the same kind', lookups: { history: foundAs(openPermit('Building', 'Finaled')) }, expect: [] },
  { name: 'a revision of the open permit (its master permit)', application: (a) => (a.masterPermitNumber = 'X2026-00001'), lookups: { history: foundAs(openPermit('Building', 'In Review')) }, expect: [] },

  // Fees.
  { name: 'underpaid', application: (a) => (a.payment = { amountPaid: 1000 }), expect: ['FEE_UNDERPAID'], check: (v) => assert.match(v.findings[0]!.message, /pay the remaining \$184\.25/) },
  { name: 'no payment', application: (a) => (a.payment = null), expect: ['FEE_UNDERPAID'], check: (v) => assert.deepEqual([v.computedFeeCents, v.paidFeeCents], [118425, null]) },
  { name: 'overpaid: noted for a refund, not blocking', application: (a) => (a.payment = { amountPaid: 1200 }), expect: ['FEE_OVERPAID'], check: (v) => assert.equal(v.findings[0]!.severity, 'INFO') },
  { name: 'paid in another currency', application: (a) => (a.payment = { amountPaid: 1184.25, currency: 'CAD' }), expect: ['PAYMENT_CURRENCY_MISMATCH'] },
  { name: 'a permit type missing from the fee schedule', lookups: { fees: notFound({ reason: 'permit-type-not-in-schedule' }) }, expect: ['FEE_NOT_DETERMINED'], check: (v) => assert.equal(v.computedFeeCents, null) },
  {
    name: 'no fee lookup: the schedule is asked instead',
    lookups: { fees: null },
    fees: quoter({ quote: { ...FEES, feeCents: 150000 } }),
    expect: ['FEE_UNDERPAID'],
    check: (v) => assert.equal(v.computedFeeCents, 150000),
  },
  { name: 'no fee lookup and no fee in the schedule', lookups: { fees: null }, fees: quoter({ missing: 'permit-type-not-in-schedule', scheduleVersion: '2026.11' }), expect: ['FEE_NOT_DETERMINED'] },

  // Lookups that cannot be read go to a reviewer.
  { name: 'history lookup missing from the record', lookups: { history: null }, expect: ['LOOKUP_UNAVAILABLE'] },
  { name: 'parcel data in an unexpected shape', lookups: { parcel: foundAs({ parcelId: 7 }) }, expect: ['LOOKUP_UNAVAILABLE'], check: (v) => assert.equal(v.findings[0]!.severity, 'WARNING') },
  { name: 'overlay data that is not JSON', lookups: { overlays: foundAs('{not json') }, expect: ['LOOKUP_UNAVAILABLE'] },
  { name: 'a lookup with an unknown outcome', lookups: { zoning: { outcome: 'maybe' as never, data: null } }, expect: ['LOOKUP_UNAVAILABLE'] },
];

for (const c of CASES) {
  test(`rule: ${c.name}`, async () => {
    const application = alderCreek();
    application.appliedAt = '2026-11-02T16:21:07Z';
    c.application?.(application);
    const result = await validate(
      { application: application as unknown as Record<string, unknown>, attachments: c.attachments ?? DEFAULT_ATTACHMENTS, lookups: lookups(c.lookups), receivedAt: AT },
      { ruleSets, fees: c.fees ?? noQuoter },
    );
    assert.deepEqual(
      result.findings.map((f) => f.code).sort(),
      [...c.expect].sort(),
      result.findings.map((f) => `${f.code} ${f.field}: ${f.message}`).join('\n'),
    );
    for (const f of result.findings) {
      assert.equal(f.ruleSetVersion, result.ruleSetVersion);
      assert.ok(f.message.length > 20, `${f.code} has an actionable message`);
    }
    c.check?.(result);
  });
}

test('the rule set in force when the submission was received applies; a backdated appliedAt buys nothing', async () => {
  const demolition = (appliedAt: string | null) => {
    const a = alderCreek();
    Object.assign(a, { permitType: 'Demolition', workClass: 'Demolition', appliedAt });
    a.project.removedSqFt = 380;
    return a as unknown as Record<string, unknown>;
  };
  const run = (appliedAt: string | null, receivedAt: number) => validate({ application: demolition(appliedAt), attachments: [], lookups: lookups(), receivedAt }, { ruleSets, fees: noQuoter });

  // 2025.07 asked for no asbestos survey; 2026.11 does. Received under 2026.11, claiming August: 2026.11.
  const backdated = await run('2026-08-01T09:00:00Z', AT);
  assert.equal(backdated.ruleSetVersion, 'us-or-cedar-county@2026.11');
  assert.deepEqual(backdated.findings.map((f) => f.code), ['ATTACHMENT_REQUIRED']);
  // Received in August: 2025.07, whatever the applicant claims.
  const august = Date.parse('2026-08-01T00:00:00Z');
  assert.equal((await run('2026-11-05T09:00:00Z', august)).ruleSetVersion, 'us-or-cedar-county@2025.07');
  assert.deepEqual((await run(null, august)).findings, []);
  assert.equal((await run('not a date', AT)).ruleSetVersion, 'us-or-cedar-county@2026.11');
});

test('the fee schedule in force when the submission was received prices it, not the one of a backdated appliedAt', async () => {
  const schedule = await loadFeeSchedule(join(REPO_ROOT, 'test/fixtures/lookups/fee-schedule.yaml'));
  const application = alderCreek();
  application.appliedAt = '2025-08-01T09:00:00Z';
  const parcel = { outsideJurisdiction: false } as ParcelAnswer;
  // The enricher's quote.
  const quoted = lookupFees(schedule, application, parcel, AT);
  assert.equal(quoted.outcome, 'found');
  const quote = JSON.parse(quoted.data!) as { scheduleVersion: string; feeCents: number };
  assert.deepEqual([quote.scheduleVersion, quote.feeCents], ['2026.11', 118425], 'not 2025.07 at 111490');
  // The validator's own quote, when the enriched record carries none.
  const withoutQuote = lookups().filter((l) => l.lookup !== 'fees');
  const validation = await validate({ application: application as unknown as Record<string, unknown>, attachments: DEFAULT_ATTACHMENTS, lookups: withoutQuote, receivedAt: AT }, { ruleSets, fees: scheduleFeeQuoter(schedule) });
  assert.equal(validation.computedFeeCents, 118425, 'the 2026.11 fee, not 2025.07\'s 111490');
  assert.equal(application.appliedAt, '2025-08-01T09:00:00Z', 'appliedAt stays as the applicant gave it');
});
