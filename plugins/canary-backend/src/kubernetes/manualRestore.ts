/**
 * Commands a person can run when Coalmine could not finish a rollback: each
 * is exact for the objects as they were read when the rollout ended (a merge
 * patch of the whole routing spec, so list indexes cannot go stale).
 */

/** Quotes a word for a POSIX shell. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(text)
    ? text
    : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `kubectl patch` with a merge patch, for one object. */
export function kubectlMergePatch(options: {
  cluster: string;
  namespace: string;
  resource: string;
  name: string;
  patch: unknown;
}): string {
  return [
    'kubectl',
    '--context',
    shellQuote(options.cluster),
    '-n',
    shellQuote(options.namespace),
    'patch',
    shellQuote(options.resource),
    shellQuote(options.name),
    '--type=merge',
    '-p',
    shellQuote(JSON.stringify(options.patch)),
  ].join(' ');
}
