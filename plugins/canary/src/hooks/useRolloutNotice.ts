import { useEffect, useState } from 'react';
import {
  Rollout,
  RolloutPhase,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';

/**
 * The end an action's answer announces: a promotion under way ends
 * Succeeded, an abort under way ends Aborted. Other answers (a start, a
 * pause) announce none, so any end makes them untrue.
 */
function announcedEnd(phase: RolloutPhase): RolloutPhase | undefined {
  if (phase === 'Promoting') return 'Succeeded';
  if (phase === 'RollingBack') return 'Aborted';
  return undefined;
}

interface Notice {
  message: string;
  /** The rollout the action was about. */
  rolloutId: string;
  /** Whether that rollout had already ended when the action answered. */
  endedThen: boolean;
  /** The end the answer announced, which keeps the notice true. */
  endsAs?: RolloutPhase;
  /** Whether the tab has shown that rollout as its current one since. */
  seen: boolean;
}

/**
 * The outcome of the last control pressed in the tab, kept only while it
 * still describes what the tab shows: it goes once that rollout has ended
 * otherwise than the answer announced (a "Rollout started … 5 % of the
 * traffic goes to the canary" banner is wrong after a rollback; "Promoting"
 * stays true once Succeeded) or once another rollout has taken its place.
 */
export function useRolloutNotice(current: Rollout | undefined) {
  const [notice, setNotice] = useState<Notice>();

  useEffect(() => {
    if (!notice || !current) return;
    if (current.id === notice.rolloutId) {
      if (
        isTerminalPhase(current.phase) &&
        !notice.endedThen &&
        current.phase !== notice.endsAs
      ) {
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
        endsAs: announcedEnd(about.phase),
        seen: false,
      }),
    dismiss: () => setNotice(undefined),
  };
}
