import { useEffect, useState } from 'react';
import {
  Rollout,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';

interface Notice {
  message: string;
  /** The rollout the action was about. */
  rolloutId: string;
  /** Whether that rollout had already ended when the action answered. */
  endedThen: boolean;
  /** Whether the tab has shown that rollout as its current one since. */
  seen: boolean;
}

/**
 * The outcome of the last control pressed in the tab, kept only while it
 * still describes what the tab shows: it goes once that rollout has ended
 * (a "Rollout started … 5 % of the traffic goes to the canary" banner is
 * wrong after a rollback) or once another rollout has taken its place.
 */
export function useRolloutNotice(current: Rollout | undefined) {
  const [notice, setNotice] = useState<Notice>();

  useEffect(() => {
    if (!notice || !current) return;
    if (current.id === notice.rolloutId) {
      if (isTerminalPhase(current.phase) && !notice.endedThen) {
        setNotice(undefined);
      } else if (!notice.seen) {
        setNotice({ ...notice, seen: true });
      }
    } else if (notice.seen) {
      // The tab showed the rollout the notice was about, and now another one.
      setNotice(undefined);
    }
  }, [current, notice]);

  return {
    message: notice?.message,
    show: (message: string, about: Rollout) =>
      setNotice({
        message,
        rolloutId: about.id,
        endedThen: isTerminalPhase(about.phase),
        seen: false,
      }),
    dismiss: () => setNotice(undefined),
  };
}
