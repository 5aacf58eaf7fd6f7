import { useRef } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import { catalogApiRef } from '@backstage/plugin-catalog-react';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import {
  Rollout,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { describeError } from '../lib/errors';
import { CanaryPollIntervals, effectiveIntervals } from './pollIntervals';
import { usePolling } from './usePolling';
import { useAnyRolloutSignals } from './useRolloutSignals';

/** Rollouts across the organisation with the owner of each component. */
export interface OrganizationRollouts {
  rollouts: Rollout[];
  /** Owner entity ref by component entity ref, from the catalog. */
  owners: Record<string, string>;
  /** Why owners could not be looked up; the list still shows. */
  ownersError?: string;
}

/** How many rollouts the page asks for. */
const PAGE_LIMIT = 500;

/**
 * Active and recent rollouts of every component, with owners from the
 * catalog so platform teams can filter by team. A signal that some rollout
 * changed refetches the list at once; polling stays as the fallback (slower
 * while signals arrive).
 */
export function useOrganizationRollouts(
  overrides: Partial<CanaryPollIntervals> | undefined,
) {
  const canaryApi = useApi(canaryApiRef);
  const catalogApi = useApi(catalogApiRef);
  const onSignal = useRef<() => void>();
  const signals = useAnyRolloutSignals(() => onSignal.current?.());
  const intervals = effectiveIntervals(overrides, signals.pushed);
  const polling = usePolling<OrganizationRollouts>(
    async () => {
      const rollouts = await canaryApi.listRollouts({ limit: PAGE_LIMIT });
      const entityRefs = [...new Set(rollouts.map(r => r.entityRef))];
      const owners: Record<string, string> = {};
      let ownersError: string | undefined;
      if (entityRefs.length) {
        try {
          const { items } = await catalogApi.getEntitiesByRefs({
            entityRefs,
            fields: [
              'kind',
              'metadata.namespace',
              'metadata.name',
              'spec.owner',
            ],
          });
          items.forEach((entity, index) => {
            const owner = entity?.spec?.owner;
            if (typeof owner === 'string' && owner) {
              owners[entityRefs[index]] = stringifyEntityRef(
                parseEntityRef(owner, {
                  defaultKind: 'group',
                  defaultNamespace: entity?.metadata.namespace ?? 'default',
                }),
              );
            }
          });
        } catch (e) {
          ownersError = describeError(e);
        }
      }
      return { rollouts, owners, ownersError };
    },
    value =>
      value?.rollouts.some(rollout => !isTerminalPhase(rollout.phase))
        ? intervals.activeMs
        : intervals.idleMs,
    'organization',
  );
  onSignal.current = polling.refreshSoon;
  return { ...polling, pushed: signals.pushed, intervals };
}
