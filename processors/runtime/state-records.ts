/**
 * State topics are keyed by the submission hash their header names. A record keyed otherwise
 * is invalid (a dead letter). The message names neither value: keys written outside permitflow
 * may be anything, and the error reaches logs.
 */
import { PermitflowError } from '../../lib/errors.ts';
import type { StateHeader } from '../../schemas/types.ts';
import type { InputRecord } from './types.ts';

/** The submission a state record is about, once its key agrees with its header. */
export function submissionOf(record: InputRecord<{ header: StateHeader }>): string {
  const hash = record.value.header.submissionHash;
  if (record.key !== hash) throw PermitflowError.permanent('PF_INVALID_RECORD', 'record key differs from header.submissionHash');
  return hash;
}
