import type {
  Rollout,
  RolloutEvent,
} from '@coalmine/backstage-plugin-canary-common';

/**
 * Who ended a finished rollout: the person whose control event came last
 * (promote or abort), else the engine that promoted or rolled it back.
 */
export function describeDecider(
  rollout: Rollout,
  events: RolloutEvent[],
): string | undefined {
  if (
    rollout.phase !== 'Succeeded' &&
    rollout.phase !== 'Aborted' &&
    rollout.phase !== 'RolledBack' &&
    rollout.phase !== 'Failed'
  ) {
    return undefined;
  }
  const controls = events
    .filter(event => event.type === 'control')
    .sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || b.id - a.id);
  const deciding = controls.find(event => {
    const control = String(event.data?.control ?? event.message);
    return /promote|abort/i.test(control);
  });
  if (deciding) {
    const control = String(deciding.data?.control ?? '').toLowerCase();
    const verb =
      control === 'abort' || /abort/i.test(deciding.message)
        ? 'Aborted'
        : 'Promoted';
    return `${verb} by ${deciding.actor}`;
  }
  switch (rollout.phase) {
    case 'Succeeded':
      return 'Promoted by Coalmine after every step passed';
    case 'RolledBack':
      return 'Rolled back by Coalmine';
    case 'Aborted':
      return 'Aborted';
    default:
      return 'Failed';
  }
}
