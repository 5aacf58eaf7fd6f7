import { Component, ReactNode } from 'react';
import { Alert } from '@material-ui/lab';

interface ChartBoundaryState {
  error?: Error;
  resetKey?: unknown;
}

/**
 * Keeps a chart that fails — its code chunk did not load, or it threw while
 * drawing — to its own place: the status, the gates and the controls
 * around it stay usable, since stopping a bad canary must not depend on
 * a picture of it. The next data (`resetKey`) tries again.
 */
export class ChartBoundary extends Component<
  { what: string; resetKey?: unknown; children: ReactNode },
  ChartBoundaryState
> {
  static getDerivedStateFromError(error: unknown): Partial<ChartBoundaryState> {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  static getDerivedStateFromProps(
    props: { resetKey?: unknown },
    state: ChartBoundaryState,
  ): Partial<ChartBoundaryState> | null {
    return props.resetKey !== state.resetKey
      ? { resetKey: props.resetKey, error: undefined }
      : null;
  }

  state: ChartBoundaryState = { resetKey: this.props.resetKey };

  render() {
    const { error } = this.state;
    if (error) {
      return (
        <Alert severity="warning" data-testid="canary-chart-error">
          Could not draw {this.props.what}: {error.message}
        </Alert>
      );
    }
    return this.props.children;
  }
}
