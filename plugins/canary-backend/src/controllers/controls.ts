import {
  ExternalControlState,
  ExternalRolloutControl,
} from '@coalmine/backstage-plugin-canary-common';

/** The reason of the first condition that holds: why a control is disabled, if it is. */
export function firstReason(
  ...checks: Array<[boolean, string]>
): string | undefined {
  return checks.find(([holds]) => holds)?.[1];
}

/** One control as the tab shows it: enabled unless there is a reason it is not. */
export function controlState(
  control: ExternalRolloutControl,
  label: string,
  description: string,
  reason: string | undefined,
): ExternalControlState {
  return {
    control,
    label,
    description,
    enabled: !reason,
    ...(reason ? { reason } : {}),
  };
}
