/**
 * SSRF guard of the webhook sender. A subscriber's URL is chosen by whoever registered it, so
 * the notifier must never be turned into a client of the internal network: only public
 * unicast addresses are reached, unless the allow-list (WEBHOOKS_ALLOW_PRIVATE_TARGETS, CIDR
 * ranges) names the private, loopback or link-local range on purpose.
 *
 * The check runs on the address the socket actually connects to: undici's `connect.lookup`
 * resolves the host here and hands back only checked addresses, so a DNS answer that changes
 * between a check and the connection (rebinding) cannot slip through. IP literals skip DNS in
 * Node's `net.connect`, so `checkUrl` checks them before any request.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { PermitflowError } from '../../lib/errors.ts';

export const TARGET_REFUSED = 'PF_WEBHOOK_TARGET_REFUSED';

export interface TargetPolicy {
  /** CIDR ranges reachable even though not public unicast (e.g. `127.0.0.0/8` in tests). */
  allowPrivateTargets: readonly string[];
  /** Plain-HTTP URLs allowed (tests, a receiver behind a local TLS proxy); otherwise https only. */
  allowHttp: boolean;
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** Why `address` may not be reached under `policy`, or undefined when it may. */
export function refusalOf(address: string, policy: TargetPolicy): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  // process(): an IPv4-mapped IPv6 address (::ffff:127.0.0.1) is checked as the IPv4 it is.
  const parsed: Address = ipaddr.process(address);
  for (const cidr of policy.allowPrivateTargets) {
    const range = ipaddr.parseCIDR(cidr);
    if (range[0].kind() === parsed.kind() && parsed.match(range)) return undefined;
  }
  const kind = parsed.range();
  return kind === 'unicast' ? undefined : `${parsed.toString()} is a ${kind} address (not in WEBHOOKS_ALLOW_PRIVATE_TARGETS)`;
}

const refused = (message: string): PermitflowError => PermitflowError.permanent(TARGET_REFUSED, `webhook target refused: ${message}`);

/** Checks a subscriber URL before a request: scheme, no credentials, and an IP-literal host. */
export function checkUrl(raw: string, policy: TargetPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused('not a URL');
  }
  if (url.protocol !== 'https:' && !(policy.allowHttp && url.protocol === 'http:')) throw refused(`${url.protocol} URLs are not allowed (https only unless WEBHOOKS_ALLOW_HTTP)`);
  if (url.username || url.password) throw refused('credentials in the URL');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (ipaddr.isValid(host)) {
    const why = refusalOf(host, policy);
    if (why) throw refused(why);
  }
  return url;
}

/**
 * A `lookup` for undici's connector: resolves like Node does, then refuses the connection
 * when any address the name resolves to is not allowed (a mixed answer is a rebinding attempt
 * as likely as not).
 */
export function guardedLookup(policy: TargetPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const bad = addresses.map((a) => refusalOf(a.address, policy)).find((why) => why !== undefined);
      if (bad !== undefined || addresses.length === 0) return callback(refused(`${hostname} resolves to ${bad ?? 'nothing'}`), '', 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}
