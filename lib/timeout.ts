/**
 * A promise bounded in time: it settles as `promise` does, or rejects once `ms` passed. The
 * late answer is dropped and the timer never outlives the race.
 *
 * `timeoutError` names what timed out (`<what>: no answer within <ms> ms`), or builds the error.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, timeoutError?: string | (() => Error)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const prefix = typeof timeoutError === 'string' ? `${timeoutError}: ` : '';
      reject(typeof timeoutError === 'function' ? timeoutError() : new Error(`${prefix}no answer within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
