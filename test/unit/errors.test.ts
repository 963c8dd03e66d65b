import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CODES, isErrorCode } from '../../lib/error-codes.ts';
import { classify, errorChain, isDataError, isInfrastructureError, PermitflowError, retryBudgeted } from '../../lib/errors.ts';

test('classify: retriable, permanent, and programmer errors', () => {
  assert.equal(classify(PermitflowError.retriable('PF_LOOKUP_TIMEOUT', 'timeout')), 'retry');
  assert.equal(classify(PermitflowError.permanent('PF_DECODE_FAILED', 'bad bytes')), 'dead-letter');
  assert.equal(classify(new TypeError('undefined is not a function')), 'fatal');
  assert.equal(classify(new Error('socket hang up')), 'retry');
});

/** Shaped like pg's DatabaseError: a SQLSTATE code and a severity. */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'ERROR' });
/** Shaped like kafkajs: its retrier wraps the broker's answer in a KafkaJSNonRetriableError. */
const kafkaError = (name: string, type?: string, cause?: Error) => Object.assign(new Error(type ?? name, { cause }), { name, retriable: false, ...(type && { type }) });

test('classify: data errors are dead-lettered, infrastructure errors retried without a budget, unknown ones within it', () => {
  for (const code of ['54000', '22001', '22P02', '23502']) {
    assert.equal(classify(pgError(code, 'refused')), 'dead-letter', code);
    assert.ok(isDataError(pgError(code, 'refused')), code);
  }
  const tooLarge = kafkaError('KafkaJSNonRetriableError', undefined, kafkaError('KafkaJSProtocolError', 'MESSAGE_TOO_LARGE'));
  assert.equal(classify(tooLarge), 'dead-letter', 'a record over message.max.bytes, found through the retrier wrapper');

  for (const err of [
    pgError('40001', 'could not serialize access'),
    pgError('40P01', 'deadlock detected'),
    pgError('57P01', 'terminating connection due to administrator command'),
    pgError('08006', 'connection failure'),
    pgError('55P03', 'lock not available'),
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:15432'), { code: 'ECONNREFUSED' }),
    // Non-retriable to kafkajs, yet nothing is wrong with the record: never a dead letter.
    kafkaError('KafkaJSNumberOfRetriesExceeded', undefined, kafkaError('KafkaJSConnectionError')),
    kafkaError('KafkaJSProtocolError', 'INVALID_PRODUCER_EPOCH'),
    PermitflowError.retriable('PF_REGISTRY_UNAVAILABLE', 'registry down'),
  ]) {
    assert.equal(classify(err), 'retry', err.message);
    assert.ok(isInfrastructureError(err), err.message);
    assert.equal(retryBudgeted(err), false, err.message);
  }

  assert.equal(retryBudgeted(new Error('something nobody classified')), true);
  assert.equal(retryBudgeted(pgError('XX000', 'internal error')), true, 'an unknown SQLSTATE is retried within the budget');
  assert.equal(retryBudgeted(new TypeError('x is undefined')), false, 'programmer errors are fatal, not budgeted');
  assert.equal(retryBudgeted(pgError('54000', 'index row size exceeds btree maximum')), false, 'data errors are dead-lettered at once');
});

test('errorChain lists the error and its causes, outermost first', () => {
  const root = new Error('ECONNRESET');
  const err = PermitflowError.retriable('PF_LOOKUP_FAILED', 'parcel lookup failed', { cause: root });
  assert.deepEqual(errorChain(err), ['PF_LOOKUP_FAILED: parcel lookup failed', 'Error: ECONNRESET']);
});

test('classify: a broken deployment (schema or topic missing, authorisation refused) is fatal, not dead-lettered nor retried', () => {
  const schemaMissing = PermitflowError.permanent('PF_SCHEMA_NOT_REGISTERED', 'schema SubmissionAccepted is not registered under t.state.accepted-value');
  assert.equal(classify(schemaMissing), 'fatal');
  assert.equal(classify(new Error('encode failed', { cause: schemaMissing })), 'fatal');
  assert.equal(classify(PermitflowError.permanent('PF_TOPIC_MISSING', 'topic t.state.accepted missing')), 'fatal');
  const denied = Object.assign(new Error('Not authorized to access topics'), { name: 'KafkaJSProtocolError', type: 'TOPIC_AUTHORIZATION_FAILED' });
  assert.equal(classify(denied), 'fatal');
  assert.equal(isInfrastructureError(denied), false, 'never retried as an outage');
  assert.equal(retryBudgeted(denied), false);
  assert.equal(classify(Object.assign(new Error('SASL PLAIN authentication failed'), { name: 'KafkaJSSASLAuthenticationError' })), 'fatal');
  // A passing outage is still retried, and a bad record still dead-lettered.
  assert.equal(classify(Object.assign(new Error('leader not available'), { name: 'KafkaJSProtocolError', type: 'LEADER_NOT_AVAILABLE' })), 'retry');
  assert.equal(classify(PermitflowError.permanent('PF_DECODE_FAILED', 'not Avro')), 'dead-letter');
});

test('the error codes are one typed catalogue: PF_ names, each once', () => {
  assert.ok(ERROR_CODES.every((code) => /^PF_[A-Z0-9_]+$/.test(code)));
  assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
  assert.ok(isErrorCode('PF_DECODE_FAILED'));
  assert.ok(!isErrorCode('PF_NO_SUCH_CODE'));
});
