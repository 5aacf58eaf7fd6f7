import http from 'http';
import { AddressInfo } from 'net';
import { FaultProxy } from './FaultProxy';

/** GET / through the proxy: the body, or the error code, or 'no answer'. */
function get(url: string, waitMs = 500): Promise<string> {
  return new Promise(resolve => {
    const req = http.get(url, res => {
      let body = '';
      res.on('data', d => {
        body += d;
      });
      res.on('end', () => resolve(body));
    });
    req.setTimeout(waitMs, () => {
      req.destroy();
      resolve('no answer');
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('FaultProxy', () => {
  let server: http.Server;
  let proxy: FaultProxy;

  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    proxy = await FaultProxy.start({
      target: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    });
  });

  afterAll(async () => {
    await proxy.close();
    await new Promise(r => server.close(r));
  });

  it('passes, refuses and hangs as told, on the same port', async () => {
    expect(await get(proxy.url)).toBe('ok');
    await proxy.mode('refuse');
    expect(await get(proxy.url)).toBe('ECONNREFUSED');
    await proxy.mode('hang');
    expect(await get(proxy.url)).toBe('no answer');
    await proxy.mode('pass');
    expect(await get(proxy.url)).toBe('ok');
    expect(proxy.history.map(h => h.mode)).toEqual([
      'pass',
      'refuse',
      'hang',
      'pass',
    ]);
  });
});
