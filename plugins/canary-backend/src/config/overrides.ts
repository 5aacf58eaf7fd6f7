import {
  CANARY_OVERRIDES_ANNOTATION,
  CanaryConfigProblem,
} from '@coalmine/backstage-plugin-canary-common';
import { CanaryPolicy, checkSteps, stepsFromStepWeight } from './policy';
import { formatDurationMs, parseDurationMs } from '../domain/duration';

const KNOWN_KEYS = [
  'steps',
  'stepWeight',
  'maxWeight',
  'interval',
  'progressDeadline',
  'autoStart',
  'stickyHeader',
  'maxCanaryRestarts',
  'retireStable',
  'onManualWeightChange',
];

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
        const bad = checkSteps(steps);
        if (bad.length > 0) {
          problems.push(problem(`steps=${value}: ${bad[0][1]}`));
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
          out.stickyHeader = {
            name: value.slice(0, i).trim(),
            value: value.slice(i + 1).trim(),
          };
        }
        break;
      }
      case 'maxCanaryRestarts': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) {
          problems.push(
            problem(`maxCanaryRestarts=${value}: give a whole number ≥ 0`),
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
          problem(`unknown key "${key}"; known keys: ${KNOWN_KEYS.join(', ')}`),
        );
    }
  }
  if (stepWeight !== undefined || maxWeight !== undefined) {
    if (stepWeight === undefined) {
      problems.push(problem('maxWeight needs stepWeight'));
    } else {
      out.steps = stepsFromStepWeight(stepWeight, maxWeight ?? 100);
    }
  }
  return { policy: out, problems };
}
