import { Config, readDurationFromConfig } from '@backstage/config';
import { HumanDuration, durationToMilliseconds } from '@backstage/types';

/** `canary.retention` after validation. */
export interface RetentionConfig {
  /** Finished rollouts older than this are deleted with everything they recorded. */
  maxAge: HumanDuration;
  maxAgeMs: number;
  /** How often the clean-up runs. */
  frequency: HumanDuration;
}

/** 90 days, as the issue and the README say. */
export const DEFAULT_RETENTION_MAX_AGE: HumanDuration = { days: 90 };
export const DEFAULT_RETENTION_FREQUENCY: HumanDuration = { hours: 1 };

const EXAMPLES = `give a duration such as '90d', '12 weeks', 'P90D' or { days: 90 }`;

/** Backstage's message, without its "at 'maxAge'" (the key without its path; ours names it in full). */
function reason(e: unknown): string {
  const text = (e as Error)?.message ?? String(e);
  return text
    .replace(/( in config)? at '[^']*'/, '')
    .replace(/, (Type)?Error: /, ': ');
}

function readDuration(
  block: Config | undefined,
  key: 'maxAge' | 'frequency',
  fallback: HumanDuration,
  problems: string[],
): { duration: HumanDuration; ms: number } {
  const path = `canary.retention.${key}`;
  if (!block?.has(key)) {
    return { duration: fallback, ms: durationToMilliseconds(fallback) };
  }
  let duration: HumanDuration;
  try {
    duration = readDurationFromConfig(block, { key });
  } catch (e) {
    problems.push(`${path}: ${reason(e)}; ${EXAMPLES}`);
    return { duration: fallback, ms: durationToMilliseconds(fallback) };
  }
  const ms = durationToMilliseconds(duration);
  if (!Number.isFinite(ms) || ms <= 0) {
    problems.push(`${path}: must be longer than zero; ${EXAMPLES}`);
  }
  return { duration, ms };
}

/**
 * Reads `canary.retention` (`maxAge`, `frequency`: Backstage durations —
 * strings like '90d' or 'P90D', or objects like { days: 90 }). Problems are
 * pushed with the key to fix; the defaults stand in for a wrong value.
 */
export function readRetentionConfig(
  config: Config,
  problems: string[],
): RetentionConfig {
  const block = config.getOptionalConfig('canary.retention');
  const unknownKeys = (block?.keys() ?? []).filter(
    k => k !== 'maxAge' && k !== 'frequency',
  );
  for (const k of unknownKeys) {
    problems.push(
      `canary.retention.${k}: unknown key (known: maxAge, frequency)`,
    );
  }
  const maxAge = readDuration(
    block,
    'maxAge',
    DEFAULT_RETENTION_MAX_AGE,
    problems,
  );
  const frequency = readDuration(
    block,
    'frequency',
    DEFAULT_RETENTION_FREQUENCY,
    problems,
  );
  return {
    maxAge: maxAge.duration,
    maxAgeMs: maxAge.ms,
    frequency: frequency.duration,
  };
}
