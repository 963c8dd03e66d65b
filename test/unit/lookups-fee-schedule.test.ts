import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadFeeSchedule, quoteFee, type FeeAnswer } from '../../domain/fee-schedule.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { PermitflowError } from '../../lib/errors.ts';

const schedule = await loadFeeSchedule(join(REPO_ROOT, 'test/fixtures/lookups/fee-schedule.yaml'));
const cents = (answer: FeeAnswer): number => {
  assert.ok('quote' in answer, JSON.stringify(answer));
  return answer.quote.feeCents;
};

test('the fixture schedule prices the sample applications as their applicants paid', () => {
  assert.equal(cents(quoteFee(schedule, 'Building', 86500, '2026-11-02')), 118425);
  assert.equal(cents(quoteFee(schedule, 'Electrical', 24300, '2026-11-29')), 31200);
});

test('a tier adds its rate for every step or fraction above the previous tier', () => {
  assert.equal(cents(quoteFee(schedule, 'Building', 500, '2026-11-02')), 5000);
  assert.equal(cents(quoteFee(schedule, 'Building', 500.01, '2026-11-02')), 5340);
  assert.equal(cents(quoteFee(schedule, 'Building', 2000, '2026-11-02')), 10100);
  assert.equal(cents(quoteFee(schedule, 'Building', 0, '2026-11-02')), 5000);
  const top = quoteFee(schedule, 'Building', 2_500_000, '2026-11-02');
  assert.ok('quote' in top);
  assert.deepEqual(top.quote.tier, { from: 1_000_000, to: null });
  assert.equal(top.quote.feeCents, 730450 + 1500 * 450);
});

test('the version in force on the application date applies', () => {
  const older = quoteFee(schedule, 'Building', 86500, '2026-01-15');
  assert.ok('quote' in older);
  assert.equal(older.quote.scheduleVersion, '2025.07');
  assert.equal(older.quote.feeCents, 79300 + 37 * 870);
  assert.deepEqual(quoteFee(schedule, 'Building', 86500, '2025-06-30'), { missing: 'no-version-in-force', scheduleVersion: null });
});

test('a permit type the schedule does not price is reported, not guessed', () => {
  assert.deepEqual(quoteFee(schedule, 'Pool', 30000, '2026-01-15'), { missing: 'permit-type-not-in-schedule', scheduleVersion: '2025.07' });
});

test('an invalid schedule is refused at load, naming the file and the problem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'permitflow-fees-'));
  const path = join(dir, 'fees.yaml');
  writeFileSync(path, 'jurisdiction: x\ncurrency: USD\nversions:\n  - version: "1"\n    effectiveFrom: "2026-01-01"\n    permitTypes:\n      Building:\n        - { upTo: 1000, base: 10 }\n        - { upTo: 500, base: 20 }\n');
  await assert.rejects(loadFeeSchedule(path), (err: unknown) => {
    assert.ok(err instanceof PermitflowError);
    assert.equal(err.code, 'PF_FEE_SCHEDULE_INVALID');
    assert.match(err.message, /fees\.yaml is invalid: versions\.0\.permitTypes\.Building: tiers must rise/);
    return true;
  });
  await assert.rejects(loadFeeSchedule(join(dir, 'missing.yaml')), /PF_FEE_SCHEDULE_UNREADABLE|cannot be read/);
});
