/**
 * Builds the LookupResult of one lookup from the answers it used: its provenance says where the
 * answer came from, when the origin last confirmed it, whether the cache served all of it, and
 * how many attempts the most stubborn request took.
 */
import type { LookupResult } from '../../schemas/types.ts';
import type { LookupName, Outcome } from '../../domain/lookups.ts';

export interface AnswerProvenance {
  endpoint: string;
  fetchedAt: number;
  cacheHit: boolean;
  attempts: number;
}

/**
 * `attempt` is the most HTTP attempts any of the lookup's requests needed (1: first try, also
 * for answers from the cache); `cacheHit` means every request was answered from the cache.
 */
export function lookupResult(lookup: LookupName, outcome: Outcome, answers: readonly AnswerProvenance[], data: unknown, fallbackSource: string): LookupResult {
  const sources = [...new Set(answers.map((a) => a.endpoint))];
  return {
    lookup,
    outcome,
    source: sources.length > 0 ? sources.join(' ') : fallbackSource,
    fetchedAt: answers.length > 0 ? Math.min(...answers.map((a) => a.fetchedAt)) : Date.now(),
    cacheHit: answers.length > 0 && answers.every((a) => a.cacheHit),
    attempt: Math.max(1, ...answers.map((a) => a.attempts)),
    data: data === null || data === undefined ? null : JSON.stringify(data),
  };
}
