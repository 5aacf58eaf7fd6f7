import { Chip } from '@material-ui/core';
import CheckIcon from '@material-ui/icons/Check';
import CloseIcon from '@material-ui/icons/Close';
import HelpOutlineIcon from '@material-ui/icons/HelpOutline';
import type { CheckVerdict } from '@coalmine/backstage-plugin-canary-common';

const LOOK = {
  pass: {
    label: 'Pass',
    icon: <CheckIcon style={{ color: '#fff' }} />,
    color: '#2e7d32',
  },
  fail: {
    label: 'Fail',
    icon: <CloseIcon style={{ color: '#fff' }} />,
    color: '#c62828',
  },
  inconclusive: {
    label: 'Inconclusive',
    icon: <HelpOutlineIcon style={{ color: '#fff' }} />,
    color: '#757575',
  },
};

/** The verdict of a check, coloured so a failing gate stands out. */
export function VerdictChip(props: { verdict: CheckVerdict }) {
  const look = LOOK[props.verdict] ?? LOOK.inconclusive;
  return (
    <Chip
      size="small"
      icon={look.icon}
      label={look.label}
      data-verdict={props.verdict}
      style={{ color: '#fff', backgroundColor: look.color }}
    />
  );
}
