import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  PrometheusNotInstalledError,
  PrometheusProcess,
  findPrometheusBinary,
} from './prometheus';

describe('finding and starting Prometheus', () => {
  it('says how to install Prometheus when there is no binary', () => {
    expect(() => findPrometheusBinary(['/nonexistent/prometheus'])).toThrow(
      PrometheusNotInstalledError,
    );
    expect(() => findPrometheusBinary(['/nonexistent/prometheus'])).toThrow(
      /apt-get install .*prometheus/,
    );
  });

  it('reports a Prometheus that cannot start instead of waiting forever', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-test-'));
    // Something else already listens on the port Prometheus is told to use.
    const blocker = net.createServer();
    await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const p = new PrometheusProcess({
        metricsTarget: '127.0.0.1:1',
        dir,
        port,
        startTimeoutMs: 30_000,
      });
      await expect(p.start()).rejects.toThrow(/prometheus exited/);
      await p.stop();
    } finally {
      blocker.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
