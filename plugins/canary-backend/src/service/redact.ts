/**
 * Removes internal endpoints from text shown to readers (API answers, the
 * tab, chat): URLs, IP addresses, and the host names of the configured
 * clusters, Prometheus servers and webhooks. The full text stays in the
 * database and the backend log.
 */
export type Redactor = (text: string) => string;

const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s'"<>()]*[^\s'"<>().,;:!?]/gi;
const IPV4_PATTERN = /\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b/g;
const IPV6_PATTERN = /\[[0-9a-f:.]*:[0-9a-f:.]*\](?::\d{1,5})?/gi;
// Node's resolver errors name the host: "getaddrinfo ENOTFOUND k8s.internal".
const RESOLVER_PATTERN = /\b(ENOTFOUND|EAI_AGAIN)\s+[^\s,;)]+/g;

function escapeRegExp(text: string) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A redactor that also hides the host names of the given URLs. */
export function createRedactor(endpoints: string[] = []): Redactor {
  const hosts = [
    ...new Set(
      endpoints.flatMap(u => {
        try {
          const host = new URL(u).hostname.replace(/^\[|\]$/g, '');
          return host ? [host] : [];
        } catch {
          return [];
        }
      }),
    ),
  ].sort((a, b) => b.length - a.length);
  const hostPattern = hosts.length
    ? new RegExp(
        `(?<![A-Za-z0-9.-])(?:${hosts
          .map(escapeRegExp)
          .join('|')})(?::\\d{1,5})?(?![A-Za-z0-9-])`,
        'g',
      )
    : undefined;
  return (text: string) => {
    let out = text
      .replace(URL_PATTERN, '<internal URL>')
      .replace(RESOLVER_PATTERN, '$1 <internal host>')
      .replace(IPV6_PATTERN, '<internal address>')
      .replace(IPV4_PATTERN, '<internal address>');
    if (hostPattern) out = out.replace(hostPattern, '<internal host>');
    return out;
  };
}

/** The generic redactor (no configured host names). */
export const redactEndpoints: Redactor = createRedactor();
