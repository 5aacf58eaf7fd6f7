import http from 'http';
import { AddressInfo } from 'net';

/** What the receiver does with one call: a status, a status after a delay, or no answer at all. */
export type HookAnswer = number | { status: number; afterMs: number } | 'hang';

export interface HookCall {
  path: string;
  body: any;
  headers: http.IncomingHttpHeaders;
}

/**
 * A webhook receiver on a free port that records every call; `answer` decides per call
 * (n counts from 1). 302 redirects to a port nobody listens on; error bodies carry an
 * internal-looking detail so tests can check it is never passed on.
 */
export async function startHookReceiver(
  answer: (n: number, path: string) => HookAnswer,
) {
  const calls: HookCall[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', d => (text += d));
    req.on('end', () => {
      calls.push({
        path: req.url!,
        body: JSON.parse(text),
        headers: req.headers,
      });
      const what = answer(calls.length, req.url!);
      if (what === 'hang') return;
      const { status, afterMs } =
        typeof what === 'number' ? { status: what, afterMs: 0 } : what;
      const reply = () => {
        if (status === 302) {
          res.writeHead(302, { location: `http://127.0.0.1:1/stolen` }).end();
        } else {
          res
            .writeHead(status)
            .end(
              status < 300
                ? 'ok'
                : `internal detail for status ${status}: 10.1.2.3`,
            );
        }
      };
      if (afterMs > 0) setTimeout(reply, afterMs);
      else reply();
    });
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    calls,
    base,
    close: () =>
      new Promise(r => {
        server.closeAllConnections();
        server.close(r);
      }),
  };
}
