import { useEffect, useRef } from 'react';
import {
  Rollout,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';

/**
 * Calls `reload` once when a rollout that was being followed finishes (or a
 * finished one changes), so its last events and samples show without
 * dropping what is on screen meanwhile.
 */
export function useReloadWhenFinished(
  rollout: Rollout | undefined,
  reload: () => void,
) {
  const finishedVersion =
    rollout && isTerminalPhase(rollout.phase)
      ? `${rollout.id}:${rollout.updatedAt}`
      : undefined;
  const seen = useRef(finishedVersion);
  useEffect(() => {
    if (finishedVersion && finishedVersion !== seen.current) {
      reload();
    }
    seen.current = finishedVersion;
  }, [finishedVersion, reload]);
}
