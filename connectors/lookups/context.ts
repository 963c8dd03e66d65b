import type { Config } from '../../lib/config.ts';
import type { ResilientClient } from './http/client.ts';
import type { LookupApi } from '../../domain/lookups.ts';

/** What every lookup needs: a client per API and the endpoints it queries. */
export interface LookupContext {
  clients: Record<LookupApi, ResilientClient>;
  endpoints: Config['lookups']['endpoints'];
  jurisdiction: string;
}
