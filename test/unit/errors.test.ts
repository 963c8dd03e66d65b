import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify, errorChain, PermitflowError } from '../../lib/errors.ts';

test('classify: retriable, permanent, and programmer errors', () => {
  assert.equal(classify(PermitflowError.retriable('PF_X', 'timeout')), 'retry');
  assert.equal(classify(PermitflowError.permanent('PF_X', 'bad bytes')), 'dead-letter');
  assert.equal(classify(new TypeError('undefined is not a function')), 'fatal');
  assert.equal(classify(Object.assign(new Error('kafka said no'), { retriable: false })), 'dead-letter');
  assert.equal(classify(new Error('socket hang up')), 'retry');
});

test('errorChain lists the error and its causes, outermost first', () => {
  const root = new Error('ECONNRESET');
  const err = PermitflowError.retriable('PF_LOOKUP', 'parcel lookup failed', { cause: root });
  assert.deepEqual(errorChain(err), ['PF_LOOKUP: parcel lookup failed', 'Error: ECONNRESET']);
});
