import { render, screen } from '@testing-library/react';
import { ChartBoundary } from './ChartBoundary';

function Chart(props: { values: number[] }) {
  if (props.values.length === 0) {
    throw new Error('no values to scale');
  }
  return <div data-testid="chart">{props.values.join(',')}</div>;
}

describe('ChartBoundary', () => {
  it('shows why a chart failed, leaves what is around it usable, and tries again on new data', () => {
    // React reports the caught error on the console as well.
    const consoleError = jest
      .spyOn(console, 'error')
      .mockImplementation(() => {});
    const page = (values: number[]) => (
      <div>
        <button type="button">Abort</button>
        <ChartBoundary what="the error-rate chart" resetKey={values}>
          <Chart values={values} />
        </ChartBoundary>
      </div>
    );
    const { rerender } = render(page([]));
    expect(screen.getByTestId('canary-chart-error')).toHaveTextContent(
      'Could not draw the error-rate chart: no values to scale',
    );
    expect(screen.getByRole('button', { name: 'Abort' })).toBeEnabled();

    rerender(page([1, 2]));
    expect(screen.queryByTestId('canary-chart-error')).toBeNull();
    expect(screen.getByTestId('chart')).toHaveTextContent('1,2');
    consoleError.mockRestore();
  });
});
