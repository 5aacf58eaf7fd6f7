import {
  CANARY_OVERRIDES_ANNOTATION,
  CanaryConfigProblem,
} from '@coalmine/backstage-plugin-canary-common';
import { CanaryPolicy, checkSteps, stepsFromStepWeight } from './policy';
import { formatDurationMs, parseDurationMs } from '../domain/duration';
import {
  DEFAULT_OVERRIDE_RULES,
  OVERRIDE_KEYS,
  OverrideKey,
  OverrideRules,
} from './overrideRules';
import type { RolloutStep } from '@coalmine/backstage-plugin-canary-common';

/** An HTTP header name (RFC 9110 token), as the policy's stickyHeader requires. */
const HEADER_NAME = /^[A-Za-z0-9-]+$/;
/** A header value without control characters or surrounding space. */
const HEADER_VALUE = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/;

/** Why a schedule from an override is refused, or undefined when it is within bounds. */
function scheduleProblem(
  steps: RolloutStep[],
  base: CanaryPolicy,
  rules: OverrideRules,
): string | undefined {
  const bad = checkSteps(steps);
  if (bad.length > 0) return bad[0][1];
  if (base.steps.some(s => s.approval)) {
    return `policy ${base.name} has approval gates, so its schedule cannot be overridden`;
  }
  if (!steps.some(s => s.weight < 100)) {
    return 'keep at least one step below 100 %, so the canary is analysed before it takes all traffic';
  }
  if (steps[0].weight > rules.steps.maxFirstWeight) {
    return `the first step may send at most ${rules.steps.maxFirstWeight} % (canary.overrides.bounds.steps.maxFirstWeight)`;
  }
  return undefined;
}

function problem(message: string): CanaryConfigProblem {
  return { key: CANARY_OVERRIDES_ANNOTATION, message };
}

function parseWeight(text: string): number | undefined {
  const n = Number(text.trim());
  return Number.isInteger(n) && n >= 0 && n <= 100 ? n : undefined;
}

/**
 * Applies `coalmine.io/overrides` (`key=value; key=value`) to a policy.
 * Returns the changed policy and a problem for every pair it could not use.
 */
export function applyOverrides(
  policy: CanaryPolicy,
  text: string | undefined,
  rules: OverrideRules = DEFAULT_OVERRIDE_RULES,
): { policy: CanaryPolicy; problems: CanaryConfigProblem[] } {
  const problems: CanaryConfigProblem[] = [];
  if (!text || !text.trim()) {
    return { policy, problems };
  }
  const out: CanaryPolicy = {
    ...policy,
    analysis: { ...policy.analysis, config: { ...policy.analysis.config } },
    promotion: { ...policy.promotion },
  };
  let stepWeight: number | undefined;
  let maxWeight: number | undefined;
  for (const pair of text
    .split(';')
    .map(p => p.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq < 0) {
      problems.push(problem(`"${pair}" is not key=value`));
      continue;
    }
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (
      (OVERRIDE_KEYS as readonly string[]).includes(key) &&
      !rules.allowedKeys.includes(key as OverrideKey)
    ) {
      problems.push(
        problem(
          `${key} may not be overridden here; the platform allows: ${
            rules.allowedKeys.join(', ') || '(no keys)'
          } (canary.overrides.allowedKeys)`,
        ),
      );
      continue;
    }
    switch (key) {
      case 'steps': {
        const weights = value.split(',').map(parseWeight);
        if (weights.some(w => w === undefined)) {
          problems.push(
            problem(
              `steps=${value}: give whole percentages 0–100 separated by commas, e.g. steps=10,50,100`,
            ),
          );
          break;
        }
        const steps = weights.map(w => ({ weight: w! }));
        const bad = scheduleProblem(steps, policy, rules);
        if (bad) {
          problems.push(problem(`steps=${value}: ${bad}`));
          break;
        }
        out.steps = steps;
        break;
      }
      case 'stepWeight':
      case 'maxWeight': {
        const w = parseWeight(value);
        if (w === undefined || w === 0) {
          problems.push(
            problem(`${key}=${value}: give a whole percentage 1–100`),
          );
          break;
        }
        if (key === 'stepWeight') stepWeight = w;
        else maxWeight = w;
        break;
      }
      case 'interval':
      case 'progressDeadline': {
        const ms = parseDurationMs(value);
        if (ms === undefined || ms <= 0) {
          problems.push(
            problem(`${key}=${value}: give a duration such as 30s or 5m`),
          );
          break;
        }
        if (
          key === 'interval' &&
          (ms < rules.interval.minMs || ms > rules.interval.maxMs)
        ) {
          problems.push(
            problem(
              `interval=${value}: give a duration from ${formatDurationMs(
                rules.interval.minMs,
              )} to ${formatDurationMs(
                rules.interval.maxMs,
              )} (canary.overrides.bounds.interval)`,
            ),
          );
          break;
        }
        const deadlineMax =
          rules.progressDeadline.maxMs ?? policy.progressDeadlineMs;
        if (key === 'progressDeadline' && ms > deadlineMax) {
          problems.push(
            problem(
              `progressDeadline=${value}: at most ${formatDurationMs(
                deadlineMax,
              )} (${
                rules.progressDeadline.maxMs !== undefined
                  ? 'canary.overrides.bounds.progressDeadline.max'
                  : `policy ${policy.name}`
              })`,
            ),
          );
          break;
        }
        if (key === 'interval') {
          out.analysis.intervalMs = ms;
          out.analysis.config.interval = formatDurationMs(ms);
        } else {
          out.progressDeadlineMs = ms;
        }
        break;
      }
      case 'autoStart': {
        if (value !== 'true' && value !== 'false') {
          problems.push(problem(`autoStart=${value}: give true or false`));
          break;
        }
        out.autoStart = value === 'true';
        break;
      }
      case 'stickyHeader': {
        const i = value.indexOf(':');
        if (value === 'none' || value === 'off') {
          out.stickyHeader = undefined;
        } else if (i <= 0) {
          problems.push(
            problem(
              `stickyHeader=${value}: give name:value, e.g. stickyHeader=x-canary-user:true`,
            ),
          );
        } else {
          const name = value.slice(0, i).trim();
          const headerValue = value.slice(i + 1).trim();
          if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(headerValue)) {
            problems.push(
              problem(
                `stickyHeader=${value}: the header name may hold only letters, digits and "-", the value printable characters, e.g. stickyHeader=x-canary-user:true`,
              ),
            );
            break;
          }
          out.stickyHeader = { name, value: headerValue };
        }
        break;
      }
      case 'maxCanaryRestarts': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < 0) {
          problems.push(
            problem(`maxCanaryRestarts=${value}: give a whole number ≥ 0`),
          );
          break;
        }
        const restartsMax =
          rules.maxCanaryRestarts.max ?? policy.maxCanaryRestarts;
        if (n > restartsMax) {
          problems.push(
            problem(
              `maxCanaryRestarts=${value}: at most ${restartsMax} (${
                rules.maxCanaryRestarts.max !== undefined
                  ? 'canary.overrides.bounds.maxCanaryRestarts.max'
                  : `policy ${policy.name}`
              })`,
            ),
          );
          break;
        }
        out.maxCanaryRestarts = n;
        break;
      }
      case 'retireStable': {
        if (value !== 'scale-to-zero' && value !== 'keep') {
          problems.push(
            problem(`retireStable=${value}: give scale-to-zero or keep`),
          );
          break;
        }
        out.promotion.retireStable = value;
        break;
      }
      case 'onManualWeightChange': {
        if (!['restore', 'adopt', 'pause', 'rollback'].includes(value)) {
          problems.push(
            problem(
              `onManualWeightChange=${value}: give restore, adopt, pause or rollback`,
            ),
          );
          break;
        }
        out.onManualWeightChange =
          value as CanaryPolicy['onManualWeightChange'];
        break;
      }
      default:
        problems.push(
          problem(
            `unknown key "${key}"; known keys: ${OVERRIDE_KEYS.join(', ')}`,
          ),
        );
    }
  }
  if (stepWeight !== undefined || maxWeight !== undefined) {
    if (stepWeight === undefined) {
      problems.push(problem('maxWeight needs stepWeight'));
    } else {
      const steps = stepsFromStepWeight(stepWeight, maxWeight ?? 100);
      const bad = scheduleProblem(steps, policy, rules);
      if (bad) {
        problems.push(
          problem(
            `stepWeight=${stepWeight}${
              maxWeight !== undefined ? `, maxWeight=${maxWeight}` : ''
            }: ${bad}`,
          ),
        );
      } else {
        out.steps = steps;
      }
    }
  }
  return { policy: out, problems };
}
