import { ReactNode } from 'react';
import { Grid, Typography, makeStyles } from '@material-ui/core';

const useStyles = makeStyles(theme => ({
  label: {
    color: theme.palette.text.secondary,
    textTransform: 'uppercase',
    fontSize: '0.7rem',
    fontWeight: 'bold',
    letterSpacing: 0.5,
  },
  value: { wordBreak: 'break-all' },
}));

/** One labelled fact about a rollout, four to a row on wide screens. */
export function RolloutFact(props: {
  label: string;
  testId?: string;
  children: ReactNode;
}) {
  const classes = useStyles();
  return (
    <Grid item xs={12} sm={6} md={3}>
      <Typography component="div" className={classes.label}>
        {props.label}
      </Typography>
      <Typography
        component="div"
        variant="body2"
        className={classes.value}
        data-testid={props.testId}
      >
        {props.children}
      </Typography>
    </Grid>
  );
}
