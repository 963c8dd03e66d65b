/**
 * Fair shedding on the real stack: the windower's lag (no windower runs in this namespace) is
 * above INTAKE_LAG_THRESHOLD; the client that sent most of the recent submissions gets 503, the
 * other one still gets 202s, until the lag reaches INTAKE_LAG_HARD_LIMIT.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createApiKey } from '../../connectors/intake/api-keys.ts';
import { eventually, intakeOnStack } from '../support/intake-stack.ts';
import { sampleApplications } from '../support/samples.ts';

const unique = () => JSON.stringify({ ...sampleApplications()[0]!, sourceReference: `FAIR-${randomBytes(6).toString('hex')}` });

test("one client's surge sheds that client, not the other, until the hard limit", async (t) => {
  const s = await intakeOnStack(t, { INTAKE_LAG_THRESHOLD: '5', INTAKE_LAG_HARD_LIMIT: '14', INTAKE_LAG_POLL_MS: '200' });
  const other = createApiKey(s.config.intake.apiKeysFile, { client: 'county-kiosk', scopes: ['submit'] }).key;
  const post = (key: string) => fetch(`${s.intake.url}/v1/submissions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: unique() });
  // The key file is watched: the new client is known within a poll.
  await eventually('the second client to be known', async () => ((await post(other)).status === 202 ? true : undefined));
  let surge = 0;
  for (let i = 0; i < 6; i++) surge += (await post(s.keys.portal)).status === 202 ? 1 : 0;
  assert.equal(surge, 6);

  // Lag is now 7 > 5: once the intake has read it, the surging portal is shed...
  const shed = await eventually('the portal to be shed', async () => {
    const res = await post(s.keys.portal);
    return res.status === 503 ? res : undefined;
  });
  assert.match(((await shed.json()) as { detail: string }).detail, /fair share/);
  // ...and the kiosk still gets in (each 202 raises the lag, up to the hard limit).
  const kiosk = await post(other);
  assert.equal(kiosk.status, 202, await kiosk.text());
  assert.equal((await post(s.keys.portal)).status, 503);

  // The kiosk's 202s raise the lag: by the hard limit (14) at the latest it is shed too (the unit
  // test tells the hard limit from the kiosk's own growing share).
  await eventually('the kiosk to be shed', async () => ((await post(other)).status === 503 ? true : undefined));
  assert.ok((await s.rawCount()) <= 16, `${await s.rawCount()} records: shedding stopped them`);
});
