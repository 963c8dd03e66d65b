/**
 * Fair shedding (issue 14: with lag above the threshold one client's surge shed every client).
 * Between INTAKE_LAG_THRESHOLD and INTAKE_LAG_HARD_LIMIT only clients that sent at least their
 * fair share of the recent submissions get 503; above the hard limit everyone does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFairShare, shedDecision } from '../../connectors/intake/backpressure.ts';
import { testIntake } from '../support/intake.ts';
import { sampleApplications } from '../support/samples.ts';

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
let sequence = 0;
const fresh = () => ({ ...sampleApplications()[0]!, sourceReference: `FAIR-${sequence++}` });

test('two clients under pressure: the one surging is shed, the other still gets 202 until the hard limit', async (t) => {
  const intake = await testIntake({ INTAKE_LAG_THRESHOLD: '50000', INTAKE_LAG_HARD_LIMIT: '200000' });
  t.after(() => intake.app.close());
  const post = (key: string) => intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: bearer(key), payload: fresh() });

  // Before the pressure: the portal surges (9 submissions), the other portal sends one.
  for (let i = 0; i < 9; i++) assert.equal((await post(intake.keys.portal)).statusCode, 202);
  assert.equal((await post(intake.keys.otherPortal)).statusCode, 202);

  intake.pressure.current = { shed: true, retryAfterS: 7, group: 'permitflow.windower', lag: 60_000 };
  const surging = await post(intake.keys.portal);
  assert.equal(surging.statusCode, 503, surging.body);
  assert.equal(surging.headers['retry-after'], '7');
  assert.match(surging.json<{ detail: string }>().detail, /fair share/);
  for (let i = 0; i < 3; i++) assert.equal((await post(intake.keys.otherPortal)).statusCode, 202, 'the light client passes');
  assert.equal((await post(intake.keys.submitter)).statusCode, 202, 'a client with no recent submissions passes');

  intake.pressure.current = { shed: true, retryAfterS: 30, group: 'permitflow.windower', lag: 250_000 };
  assert.equal((await post(intake.keys.otherPortal)).statusCode, 503, 'above the hard limit every client is shed');
  assert.equal((await post(intake.keys.submitter)).statusCode, 503);

  intake.pressure.current = { shed: false };
  assert.equal((await post(intake.keys.portal)).statusCode, 202, 'no pressure, no shedding');
});

test('shares are counted over a sliding window and a lone client is at its fair share', () => {
  let now = 0;
  const share = createFairShare({ windowMs: 10_000, clock: () => now });
  for (let i = 0; i < 3; i++) share.accepted('a');
  share.accepted('b');
  assert.deepEqual(share.shareOf('a'), { share: 0.75, activeClients: 2 });
  assert.deepEqual(share.shareOf('c'), { share: 0, activeClients: 2 });
  now = 10_500;
  share.accepted('b');
  assert.deepEqual(share.shareOf('b'), { share: 1, activeClients: 1 }, 'a left the window');
  const pressure = { shed: true, retryAfterS: 5, group: 'g', lag: 100 } as const;
  assert.equal(shedDecision(pressure, share.shareOf('b'), 1000).shed, true, 'alone, the client is the surge');
  assert.equal(shedDecision(pressure, { share: 0.5, activeClients: 2 }, 1000).shed, true, 'two equal clients are both at their share');
  assert.equal(shedDecision(pressure, { share: 0.2, activeClients: 2 }, 1000).shed, false);
  assert.equal(shedDecision({ ...pressure, lag: 1001 }, { share: 0, activeClients: 0 }, 1000).shed, true);
  assert.equal(shedDecision({ shed: false }, { share: 1, activeClients: 1 }, 1000).shed, false);
});
