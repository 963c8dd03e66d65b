/**
 * The decision policy, table-driven: rejection on any ERROR (reasons deduplicated, in finding
 * order), otherwise acceptance on the first matching review track of the rule set.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide } from '../../processors/decider/policy.ts';
import { applicationFacts } from '../../processors/validator/application.ts';
import type { Finding } from '../../schemas/types.ts';
import { alderCreek, ruleSets } from './validator-fixtures.ts';

const RULES = ruleSets.byId('us-or-cedar-county@2026.11')!;
const finding = (code: string, severity: Finding['severity'], field: string | null = null, message = `${code} message for the applicant`): Finding => ({ code, severity, field, message, ruleSetVersion: RULES.id });

function facts(change: Record<string, unknown> = {}, project: Record<string, unknown> = {}) {
  const a = alderCreek();
  return applicationFacts({ ...a, ...change, project: { ...a.project, ...project } });
}

const CASES: Array<{ name: string; findings: Finding[]; facts?: ReturnType<typeof facts>; track?: string; warnings?: string[]; reasons?: string[] }> = [
  { name: 'no findings: the default track', findings: [], track: 'standard', warnings: [] },
  { name: 'a small trade permit without warnings: express', findings: [], facts: facts({ permitType: 'Electrical' }, { estimatedCost: 24300 }), track: 'express' },
  { name: 'an INFO finding is no warning for the express track, but travels as one', findings: [finding('FEE_OVERPAID', 'INFO')], facts: facts({ permitType: 'Electrical' }, { estimatedCost: 24300 }), track: 'express', warnings: ['FEE_OVERPAID'] },
  { name: 'a trade permit with a warning: not express', findings: [finding('ZONING_DISTRICT_UNKNOWN', 'WARNING')], facts: facts({ permitType: 'Electrical' }, { estimatedCost: 24300 }), track: 'standard' },
  { name: 'a trade permit above the express valuation', findings: [], facts: facts({ permitType: 'Electrical' }, { estimatedCost: 50001 }), track: 'standard' },
  { name: 'a historic district review: major', findings: [finding('HISTORIC_DISTRICT_REVIEW', 'WARNING')], track: 'major', warnings: ['HISTORIC_DISTRICT_REVIEW'] },
  { name: 'a lookup a reviewer must check: major', findings: [finding('LOOKUP_UNAVAILABLE', 'WARNING')], track: 'major' },
  { name: 'a valuation of a million or more: major', findings: [], facts: facts({}, { estimatedCost: 1_000_000 }), track: 'major' },
  { name: 'new commercial construction: major', findings: [], facts: facts({ permitClass: 'Non-Residential', workClass: 'New' }), track: 'major' },
  { name: 'any ERROR rejects', findings: [finding('HISTORIC_DISTRICT_REVIEW', 'WARNING'), finding('FEE_UNDERPAID', 'ERROR', '/payment/amountPaid')], reasons: ['FEE_UNDERPAID'] },
  {
    name: 'reasons keep finding order and list a repeated finding once',
    findings: [finding('ATTACHMENT_REQUIRED', 'ERROR', '/attachments', 'Attach a site plan'), finding('FEE_UNDERPAID', 'ERROR'), finding('ATTACHMENT_REQUIRED', 'ERROR', '/attachments', 'Attach a site plan'), finding('ATTACHMENT_REQUIRED', 'ERROR', '/attachments', 'Attach drawings')],
    reasons: ['ATTACHMENT_REQUIRED', 'FEE_UNDERPAID', 'ATTACHMENT_REQUIRED'],
  },
];

for (const c of CASES) {
  test(`decision: ${c.name}`, () => {
    const decision = decide(c.findings, c.facts ?? facts(), RULES);
    if (c.reasons) {
      assert.equal(decision.outcome, 'rejected');
      if (decision.outcome !== 'rejected') return;
      assert.deepEqual(decision.reasons.map((r) => r.code), c.reasons);
      for (const r of decision.reasons) assert.ok(c.findings.some((f) => f.code === r.code && f.message === r.message && f.field === r.field));
      return;
    }
    assert.equal(decision.outcome, 'accepted');
    if (decision.outcome !== 'accepted') return;
    assert.equal(decision.reviewTrack, c.track);
    if (c.warnings) assert.deepEqual(decision.warnings, c.warnings);
  });
}

test('the 2025.07 rules had no express track', () => {
  const decision = decide([], facts({ permitType: 'Electrical' }, { estimatedCost: 24300 }), ruleSets.byId('us-or-cedar-county@2025.07'));
  assert.deepEqual(decision, { outcome: 'accepted', reviewTrack: 'standard', warnings: [] });
});
